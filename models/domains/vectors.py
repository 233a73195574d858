"""Your own vectors: network activations, embeddings, any (n, d) array, from a file or a folder.

- a `.npy` file: the samples (n, d), no labels;
- a `.npz` or `.safetensors` file: the samples as `x` (or its only array), optional integer `labels` (n,);
- a folder: `train` and `test` files of those kinds (`train.npy`, `test.safetensors`, ...), an optional `val`, and
  labels inside them or beside them (`train_labels.npy`).
A single file is split 80 / 10 / 10 % into training, validation and test samples (seeded); a folder without `val`
keeps a tenth of its training samples for validation. `image_shape` ("28,28") shows each sample as an image. Files
are read without running code (`allow_pickle=False`); a file that is not 2-D, holds non-finite values, more than
MAX_DIMENSION values a sample, fewer than MIN_ROWS samples or labels of the wrong length is refused in one line.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.data import DataError, fingerprint
from models.domains.registry import Arrays, Domain, Layout, Raw, check_shape, register
from models.settings import Config, setting

MAX_DIMENSION = 4096
MIN_ROWS = 100
MAX_CLASSES = 1000
SUFFIXES = (".npy", ".npz", ".safetensors")


@dataclass(frozen=True)
class VectorsConfig(Config):
    vectors: str | None = setting(None, "File or folder", "a .npy, .npz or .safetensors file of (n, d) samples, or a "
                                  "folder of train / test files", kind=str, optional=True)
    image_shape: str | None = setting(None, "Image shape", "'height,width' to show each sample as an image (empty: "
                                      "a vector)", kind=str, optional=True)
    data_seed: int = setting(0, "Data seed", "how a single file is split into training, validation and test samples",
                             min=0, max=2**31 - 1, advanced=True)


def _array(path: Path, name: str, arr) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise DataError(f"{path}: {name} holds {a.dtype} values, not numbers")
    return a


def read_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(samples, labels or None) from one file, read without running code."""
    try:
        if path.suffix == ".npy":
            return _array(path, "the array", np.load(path, allow_pickle=False)), None
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        elif path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            arrays = load_file(str(path))
        else:
            raise DataError(f"{path}: a vectors file is {', '.join(SUFFIXES)}, not {path.suffix or 'no suffix'}")
    except DataError:
        raise
    except ValueError as e:  # a pickle inside a .npy (allow_pickle=False), a bad header...
        why = "it holds pickled objects, which are never loaded" if "pickle" in str(e) else str(e).splitlines()[0][:160]
        raise DataError(f"{path} cannot be read: {why}") from None
    except Exception as e:  # truncated files, garbage bytes, the safetensors parser's own errors
        raise DataError(f"{path} cannot be read: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}") from None
    x = arrays.get("x", next(iter(arrays.values())) if len(arrays) == 1 else None)
    if x is None:
        raise DataError(f"{path} holds {', '.join(arrays) or 'no arrays'}: name the samples 'x' (and labels 'labels')")
    y = arrays.get("labels")
    return _array(path, "x", x), None if y is None else _array(path, "labels", y)


def _checked(path: Path, x: np.ndarray, y: np.ndarray | None, rows: int = MIN_ROWS) -> tuple[np.ndarray, np.ndarray | None]:
    if x.ndim != 2:
        raise DataError(f"{path} holds an array of shape {x.shape}: samples are a 2-D (n, d) array")
    if x.shape[1] > MAX_DIMENSION:
        raise DataError(f"{path} has {x.shape[1]} values a sample; at most {MAX_DIMENSION}")
    if len(x) < rows:
        raise DataError(f"{path} has {len(x)} samples; at least {rows} are needed")
    x = x.astype(np.float32)
    check_shape(x, str(path))
    if y is not None:
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{path}: {len(y) if y.ndim == 1 else y.shape} labels for {len(x)} samples: one integer "
                            "label a sample")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= MAX_CLASSES:
            raise DataError(f"{path}: labels must be integers from 0 to {MAX_CLASSES - 1}")
    return x, y


def _in_folder(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray | None] | None:
    found = [folder / f"{part}{s}" for s in SUFFIXES if (folder / f"{part}{s}").is_file()]
    if not found:
        return None
    x, y = read_file(found[0])
    beside = folder / f"{part}_labels.npy"
    if y is None and beside.is_file():
        y = read_file(beside)[0]
    return _checked(found[0], x, y, rows=1 if part != "train" else MIN_ROWS)


def _split(x: np.ndarray, y: np.ndarray | None, fractions: tuple[float, ...], seed: int):
    order = np.random.default_rng(seed).permutation(len(x))
    cuts = np.cumsum([int(round(f * len(x))) for f in fractions])[:-1]
    return [(x[i], None if y is None else y[i]) for i in np.split(order, cuts)]


@functools.lru_cache(maxsize=8)
def _read(path: str, stamp: tuple, seed: int) -> Raw:
    """Cached by the path, its size and modification time, and the split's seed."""
    p = Path(path)
    if p.is_dir():
        train, test = _in_folder(p, "train"), _in_folder(p, "test")
        if train is None or test is None:
            raise DataError(f"{p} needs train and test files ({', '.join(SUFFIXES)}), e.g. train.npy and test.npy")
        val = _in_folder(p, "val")
        if val is None:
            train, val = _split(*train, (0.9, 0.1), seed)
        parts = [train, val, test]
    else:
        parts = _split(*_checked(p, *read_file(p)), (0.8, 0.1, 0.1), seed)
    dims = {x.shape[1] for x, _ in parts}
    if len(dims) > 1:
        raise DataError(f"{p}: its train, validation and test samples differ in size ({sorted(dims)} values)")
    labelled = {y is not None for _, y in parts}
    if len(labelled) > 1:
        raise DataError(f"{p}: some of its files have labels and some not: give labels for all or none")
    arrays = [Arrays(x, y) for x, y in parts]
    return Raw(*arrays, str(p), fingerprint(arrays[2].x, arrays[2].y))


def _path(cfg: VectorsConfig) -> Path:
    if not cfg.vectors:
        raise DataError(f"--vectors: name a {', '.join(SUFFIXES)} file of (n, d) samples, or a folder of train and "
                        "test files")
    p = Path(cfg.vectors).expanduser()
    if not p.exists():
        raise DataError(f"--vectors {cfg.vectors}: no such file or folder")
    return p.resolve()


def load(cfg: VectorsConfig, data_dir=None, download: bool = True) -> Raw:
    p = _path(cfg)
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime) for f in files if f.is_file())
    return _read(str(p), stamp, cfg.data_seed)


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
    raw = load(cfg)
    d = raw.train.x.shape[1]
    ys = [a.y for a in (raw.train, raw.val, raw.test) if a.y is not None]
    classes = None if not ys else tuple(str(k) for k in range(int(max(y.max() for y in ys)) + 1))
    values = np.concatenate([raw.train.x.ravel()[:1_000_000], raw.test.x.ravel()[:1_000_000]])
    return Layout(d, image_shape(cfg, d), classes, unit_interval=bool(values.min() >= 0 and values.max() <= 1))


DOMAIN = register(Domain(
    name="vectors",
    title="Your own vectors (a .npy, .npz or .safetensors file)",
    noun="vector",
    nouns="vectors",
    summary="Samples you bring: an (n, d) array in a file (network activations, embeddings), with optional integer "
            "labels and an optional image shape.",
    config=VectorsConfig,
    layout=layout,
    load=load,
))
