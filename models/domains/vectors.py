"""Your own vectors: network activations, embeddings, any (n, d) array, from a file or a folder, of any size.

- a `.npy` file: the samples (n, d), no labels;
- a `.npz` or `.safetensors` file: the samples as `x` (or its only array), optional integer labels (n,) as `labels`
  (or the name `--labels-key` gives);
- a folder: `train` and `test` files of those kinds (`train.npy`, `test.safetensors`, ...), an optional `val`, and
  labels inside them or beside them (`train_labels.npy`);
- a folder of shards with a `manifest.json` (models/store.py): many files for train, others for test (and val),
  with labels and per-row metadata beside them.
Nothing is read whole (models/store.py): training reads batches from disk, the app and the analysis commands the
first SHOWN_SAMPLES test samples. A single file is split 80 / 10 / 10 % into training, validation and test samples
(seeded, by blocks of consecutive rows past 2^20 rows); a folder without `val` keeps a tenth of its training samples
for validation. Each sample is normalised as `--normalization` says (per batch, as it is read). Files are read
without running code; a file that is not a 2-D array of real numbers, holds non-finite values, more than
MAX_DIMENSION values a sample, fewer than MIN_ROWS samples, a header that does not match its size, or labels of the
wrong length is refused in one line before anything is trained or written.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.data import DataError, as_given, fingerprint, normalize, scaled
from models.domains.registry import SHOWN_SAMPLES, Domain, Layout, Raw, Shown, Stored, register
from models.settings import Config, setting
from models.store import (
    MANIFEST, SUFFIXES, Rows, Shard, Source, as_float32, open_file, read_manifest, regular,
)

MAX_DIMENSION = 65_536
MIN_ROWS = 100
MAX_CLASSES = 1000
STAT_SAMPLES = 65_536  # training samples (runs of rows from all over the split) read for statistics: the scale
FULL_SCAN_BYTES = 1 << 30  # data up to this size is checked for NaN and infinity before training, row by row;
SAMPLE_SCAN_BYTES = 32 << 20  # beyond it, this much spread over each split is, and every batch as it is read
FINGERPRINT_BYTES = 64 << 20  # a test split up to this size is named by all its values; a larger one by its first
FINGERPRINT_ROWS = 10_000  # rows and its length
NORMALIZATIONS = {
    "unit-norm": "each sample scaled to unit L2 norm (the DrSAE paper's)",
    "none": "the values as given",
    "scale": "one factor for the whole dataset, so that the mean squared norm is the dimension (SAELens's)",
}


@dataclass(frozen=True)
class VectorsConfig(Config):
    vectors: str | None = setting(None, "File or folder", "a .npy, .npz or .safetensors file of (n, d) samples, a "
                                  "folder of train / test files, or a folder of shards with a manifest.json",
                                  kind=str, optional=True)
    image_shape: str | None = setting(None, "Image shape", "'height,width' to show each sample as an image (empty: "
                                      "a vector)", kind=str, optional=True)
    normalization: str = setting("unit-norm", "Normalisation", "what each sample is before a model reads it: "
                                 "unit-norm (each scaled to norm 1), none (as given) or scale (one dataset-wide "
                                 "factor: mean squared norm = the dimension). FVU is reported on the data as given",
                                 choices=NORMALIZATIONS)
    labels_key: str = setting("labels", "Labels' name", "the array of integer labels in a .npz or .safetensors file",
                              advanced=True)
    data_seed: int = setting(0, "Data seed", "how a single file is split into training, validation and test samples",
                             min=0, max=2**31 - 1, advanced=True)


@dataclass
class Parts:
    """A vectors file or folder opened: its splits on disk, and what was learned from their headers and labels."""
    train: Rows
    val: Rows
    test: Rows
    where: str
    classes: int | None  # labels 0..classes-1 (None: unlabelled)
    fingerprint: str
    unit_interval: bool
    note: str = ""  # how it was read, where a user may have meant otherwise (labels under another name)


def _labelled_source(path: Path, labels_key: str, rows: int = MIN_ROWS, part: str | None = None) -> Source:
    """A file's samples and labels (in a folder, also `PART_labels.npy` beside it)."""
    shard = open_file(path, labels_key)
    beside = path.parent / f"{part}_labels.npy"
    if part is not None and shard.y is None and beside.is_file():
        shard = Shard(shard.x, open_file(beside).x)
    _check_samples(shard, rows)
    source = Source([shard], str(path))
    if shard.y is None and shard.others:  # arrays it does not read: one may be the labels under another name
        source.note = (f"{path.name} has no '{labels_key}' array, so its samples are read without labels; it also "
                       f"holds {', '.join(repr(n) for n in shard.others[:8])}"
                       f"{' …' if len(shard.others) > 8 else ''}: --labels-key NAME reads one of them as the labels")
    return source


def _check_samples(shard: Shard, rows: int) -> None:
    x = shard.x
    if not x._is_2d:
        raise DataError(f"{x.where} holds an array of shape ({x.rows},): samples are a 2-D (n, d) array")
    if x.cols > MAX_DIMENSION:
        raise DataError(f"{x.where} has {x.cols:,} values a sample; at most {MAX_DIMENSION:,}")
    if x.rows < rows:
        raise DataError(f"{x.where} has {x.rows} samples; at least {rows} are needed")


def _in_folder(folder: Path, part: str, labels_key: str) -> Source | None:
    found = [folder / f"{part}{s}" for s in SUFFIXES if (folder / f"{part}{s}").is_file()]
    return None if not found else _labelled_source(found[0], labels_key, MIN_ROWS if part == "train" else 1, part)


def _classes(parts: list[Rows]) -> int | None:
    """Labels checked (integers in 0..MAX_CLASSES-1), read a block at a time; the number of classes."""
    if not parts[0].labelled:
        return None
    top = -1
    sources = {id(p.source): p.source for rows in parts for p in rows.pieces}
    for source in sources.values():
        for shard in source.shards:
            step = 1 << 22
            for a in range(0, shard.y.rows, step):
                y = shard.y.read(a, a + step)
                if len(y) and (y.min() < 0 or y.max() >= MAX_CLASSES):
                    raise DataError(f"{shard.y.where}: labels must be integers from 0 to {MAX_CLASSES - 1}")
                top = max(top, int(y.max()) if len(y) else -1)
    return top + 1


def _test_fingerprint(test: Rows) -> str:
    """All of a small test split's values (what runs recorded before the store), or the first rows and the count."""
    if len(test) * test.dim * 4 <= FINGERPRINT_BYTES:
        x, y, _ = test.read(0, len(test))
        return fingerprint(as_float32(x, test.dtype), y)
    x, y, _ = test.read(0, FINGERPRINT_ROWS)
    return fingerprint(np.concatenate([as_float32(x, test.dtype).ravel(), np.array([len(test)], np.float32)]), y)


def _check_finite(parts: list[Rows]) -> None:
    """Every row of data up to FULL_SCAN_BYTES, else SAMPLE_SCAN_BYTES spread over each split (training checks
    each batch as it reads it): NaN or infinity refused, saying how many rows and the first."""
    total = sum(len(r) * r.dim * 4 for r in parts)
    found = [r.non_finite(None if total <= FULL_SCAN_BYTES else SAMPLE_SCAN_BYTES) for r in parts]
    bad = sum(n for n, _ in found)
    if bad:
        file, row = min(at for n, at in found if n)
        rows = f"{bad:,} row{'s' if bad > 1 else ''}" + ("" if total <= FULL_SCAN_BYTES else " of those checked")
        raise DataError(f"{file} holds values that are not finite (NaN or infinity) in {rows}, the first at row "
                        f"{row:,}")


@functools.lru_cache(maxsize=8)
def _open(path: str, stamp: tuple, seed: int, labels_key: str) -> Parts:
    """Cached by the path, its files' sizes and modification times, the split's seed and the labels' name."""
    p = Path(path)
    harvested = ""
    if p.is_dir() and (p / MANIFEST).is_file():
        sources = read_manifest(p)
        harvested = _harvested(p / MANIFEST)
        for s in sources.values():
            _check_samples(s.shards[0], 1)
        if len(sources["train"]) < MIN_ROWS:
            raise DataError(f"{p} has {len(sources['train'])} training samples; at least {MIN_ROWS} are needed")
        train = Rows.whole(sources["train"])
        test = Rows.whole(sources["test"])
        val = Rows.whole(sources["val"]) if "val" in sources else None
    elif p.is_dir():
        train_src, test_src = _in_folder(p, "train", labels_key), _in_folder(p, "test", labels_key)
        if train_src is None or test_src is None:
            raise DataError(f"{p} needs train and test files ({', '.join(SUFFIXES)}), e.g. train.npy and test.npy, "
                            f"or a {MANIFEST} of shards")
        val_src = _in_folder(p, "val", labels_key)
        train, test = Rows.whole(train_src), Rows.whole(test_src)
        val = None if val_src is None else Rows.whole(val_src)
    else:
        train, val, test = Rows.whole(_labelled_source(p, labels_key)).split((0.8, 0.1, 0.1), seed)
    if val is None:
        train, val = train.split((0.9, 0.1), seed)
    parts = [train, val, test]
    dims = {r.dim for r in parts}
    if len(dims) > 1:
        raise DataError(f"{p}: its train, validation and test samples differ in size ({sorted(dims)} values)")
    if len({r.labelled for r in parts}) > 1:
        raise DataError(f"{p}: some of its files have labels and some not: give labels for all or none")
    facts = _facts(path, stamp, seed, labels_key, lambda: _learn(parts))
    notes = dict.fromkeys([harvested] * bool(harvested) + [piece.source.note for r in parts for piece in r.pieces
                                                            if piece.source.note])
    return Parts(train, val, test, str(p), facts["classes"], facts["fingerprint"], facts["unit_interval"],
                 "; ".join(notes))


def harvested_from(folder: Path) -> dict | None:
    """A harvested store's host entry (its manifest's "host": models/hosts/harvest.py), or None."""
    try:
        host = json.loads((Path(folder) / MANIFEST).read_text()).get("host") if Path(folder).is_dir() else None
    except (OSError, ValueError, AttributeError):  # read (and checked) where the samples are opened
        return None
    return host if isinstance(host, dict) and isinstance(host.get("host"), str) and \
        isinstance(host.get("layer"), str) else None


def _harvested(manifest: Path) -> str:
    """Where a harvested store's vectors came from, in words."""
    host = harvested_from(manifest.parent)
    return "" if host is None else (f"the activations of {host['host']}'s layer {host['layer']} "
                                    f"({host.get('describe', '')}) over {host.get('data_describe', '')}")


def _learn(parts: list[Rows]) -> dict:
    """What a file's checks and statistics find (labels, every value finite, its test split's fingerprint)."""
    classes = _classes(parts)
    _check_finite(parts)
    train, _, test = parts
    head = [as_float32(r.read(0, math.ceil(1_000_000 / r.dim))[0], r.dtype) for r in (train, test)]
    unit = all(len(h) == 0 or (h.min() >= 0 and h.max() <= 1) for h in head)
    return {"classes": classes, "fingerprint": _test_fingerprint(test), "unit_interval": bool(unit)}


FACTS_VERSION = 1


def _facts(path: str, stamp: tuple, seed: int, labels_key: str, learn, more: dict | None = None) -> dict:
    """What `learn()` finds of a file, kept in the cache by its path, sizes and times (CACHE_DIR/vectors): the
    trainer that checked a file spares the app the same reading. `more`: facts to add to those kept."""
    import hashlib
    import json

    from models.checkpoint import atomic_write
    from models.data import CACHE_DIR

    key = hashlib.sha1(json.dumps([FACTS_VERSION, path, stamp, seed, labels_key]).encode()).hexdigest()[:16]
    where = CACHE_DIR / "vectors" / f"{key}.json"
    try:
        facts, new = json.loads(where.read_text()), False
        if not isinstance(facts, dict) or not {"classes", "fingerprint", "unit_interval"} <= set(facts):
            raise ValueError
    except (OSError, ValueError):
        facts, new = learn(), True
    if more:
        facts, new = {**facts, **more}, True
    if new:
        try:
            atomic_write(where, json.dumps(facts).encode())
        except OSError:  # a read-only cache: the facts are still right, only not kept
            pass
    return facts


def _path(cfg: VectorsConfig) -> Path:
    if not cfg.vectors:
        raise DataError(f"--vectors: name a {', '.join(SUFFIXES)} file of (n, d) samples, a folder of train and "
                        f"test files, or a folder of shards with a {MANIFEST}")
    try:
        p = Path(cfg.vectors).expanduser()
    except RuntimeError as e:  # '~nosuchuser/x.npy'
        raise DataError(f"--vectors {cfg.vectors}: {e}") from None
    return regular(p).resolve()


def parts(cfg: VectorsConfig) -> Parts:
    p = _path(cfg)
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime) for f in files if f.is_file())
    return _open(str(p), stamp, cfg.data_seed, cfg.labels_key)


def load(cfg: VectorsConfig, data_dir=None, download: bool = True) -> Raw:
    o = parts(cfg)
    return Raw(Stored(o.train), Stored(o.val), Stored(o.test), o.where, o.fingerprint)


def load_test(cfg: VectorsConfig, data_dir=None, download: bool = True) -> Shown:
    o = parts(cfg)
    return Shown(Stored(o.test), f"{len(o.test):,} test vectors ({o.where})", o.fingerprint)


def shown(cfg: VectorsConfig) -> Shown:
    """The first SHOWN_SAMPLES test samples, in memory: what the app measures on, at any file size."""
    o = parts(cfg)
    n = min(len(o.test), SHOWN_SAMPLES)
    name = (f"{n:,} test vectors ({o.where})" if n == len(o.test) else
            f"first {n:,} of the {len(o.test):,} test vectors ({o.where})")
    return Shown(Stored(o.test).load(n), name, o.fingerprint)


@functools.lru_cache(maxsize=16)
def _scale(path: str, stamp: tuple, seed: int, labels_key: str) -> float:
    o = _open(path, stamp, seed, labels_key)
    learn = lambda: _learn([o.train, o.val, o.test])  # noqa: E731
    facts = _facts(path, stamp, seed, labels_key, learn)
    if "scale" in facts:
        return float(facts["scale"])
    train = o.train
    x = as_float32(train.take(train.spread(STAT_SAMPLES, seed))[0], train.dtype).astype(np.float64)
    mean_sq = float((x * x).sum(1).mean()) if len(x) else 0.0
    factor = math.sqrt(train.dim / mean_sq) if mean_sq > 0 else 1.0
    _facts(path, stamp, seed, labels_key, learn, {"scale": factor})
    return factor


def scale(cfg: VectorsConfig) -> float:
    """The dataset-wide factor of `--normalization scale`: √(d / mean ‖x‖²) over STAT_SAMPLES training samples (a
    bounded sample, the same whoever asks)."""
    o = parts(cfg)
    p = Path(o.where)
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    return _scale(o.where, tuple((f.name, f.stat().st_size, f.stat().st_mtime) for f in files if f.is_file()),
                  cfg.data_seed, cfg.labels_key)


def inputs(cfg: VectorsConfig):
    if cfg.normalization == "none":
        return as_given
    if cfg.normalization == "scale":
        return scaled(scale(cfg))
    return normalize


def image_shape(cfg: VectorsConfig, dimension: int) -> tuple[int, int] | None:
    if not cfg.image_shape:
        return None
    try:
        h, w = (int(v) for v in cfg.image_shape.replace("x", ",").split(","))
    except ValueError:
        raise DataError(f"--image-shape {cfg.image_shape!r}: give height,width, e.g. 28,28") from None
    if h < 1 or w < 1 or h * w != dimension:
        raise DataError(f"--image-shape {cfg.image_shape}: {h} × {w} = {h * w} values, the samples have {dimension}")
    return h, w


def layout(cfg: VectorsConfig) -> Layout:
    o = parts(cfg)
    d = o.train.dim
    classes = None if o.classes is None else tuple(str(k) for k in range(o.classes))
    return Layout(d, image_shape(cfg, d), classes, unit_interval=o.unit_interval)


DOMAIN = register(Domain(
    name="vectors",
    title="Your own vectors (a .npy, .npz or .safetensors file, or a folder of shards)",
    noun="vector",
    nouns="vectors",
    summary="Samples you bring: an (n, d) array in a file or a folder of shards (network activations, embeddings), "
            "of any size (read from disk a batch at a time), with optional integer labels and an optional image "
            "shape.",
    config=VectorsConfig,
    layout=layout,
    load=load,
    shown=shown,
    load_test=load_test,
    train_size=lambda cfg: len(parts(cfg).train),
    inputs=inputs,
    note=lambda cfg: parts(cfg).note,
    host=lambda cfg: harvested_from(_path(cfg)),
))
