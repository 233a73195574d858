"""The data-domain registry: what a domain declares, and finding it again from a saved run.

A domain is one module that builds a `Domain` and registers it: a name (the `domain.name` of saved configs), a config
class of settings (models/settings.py: they become CLI flags and Training-form widgets), how its samples are laid out
(their size, whether each is an image, class names, a known ground truth), and how to load its train, validation and
test samples. Everything else asks the layout, never a domain by name.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from models.data import DataError, Dataset, Split, StoredSplit, normalize
from models.registry import Registry
from models.settings import Config

DEFAULT = "digits"  # saved runs without a `domain` entry were all written before domains: digits
SHOWN_SAMPLES = 10_000  # the most test samples the app and the analysis commands measure on (read from the front)


@dataclass(frozen=True)
class Layout:
    """What a model and a page need to know of a domain's samples before loading them."""
    dimension: int  # values per sample (a family's n_input)
    image: tuple[int, int] | None  # (height, width) when each sample is an image; None: a plain vector
    classes: tuple[str, ...] | None = None  # class names (label k is classes[k]); None: no labels
    ground_truth: bool = False  # the samples were generated from a known dictionary and known codes
    unit_interval: bool = False  # every value lies in [0, 1] (a Bernoulli likelihood can model them)

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)


@dataclass
class Arrays:
    """One split's raw samples, as the domain holds them (a family's input transform makes them its inputs)."""
    x: np.ndarray  # (n, ...) uint8 images or float32 vectors
    y: np.ndarray | None = None  # (n,) integer labels
    codes: np.ndarray | None = None  # (n, K) true codes (ground truth)

    def __len__(self) -> int:
        return len(self.x)

    def head(self, n: int | None) -> "Arrays":
        cut = lambda a: None if a is None or n is None else a[:n]  # noqa: E731
        return self if n is None else Arrays(self.x[:n], cut(self.y), cut(self.codes))

    def split(self, inputs: Callable = normalize) -> Split:
        from models.data import row_scale

        as_tensor = lambda a, t: None if a is None else torch.as_tensor(np.asarray(a).astype(t))  # noqa: E731
        return Split(inputs(self.x), as_tensor(self.y, np.int64), as_tensor(self.codes, np.float32),
                     row_scale(self.x, inputs))

    def load(self, n: int | None = None) -> "Arrays":
        return self.head(n)


@dataclass
class Stored:
    """One split's raw samples on disk (models/store.Rows), never read whole: `split` reads them a batch at a
    time, `load` reads the first n into memory."""
    rows: object  # models.store.Rows

    def __len__(self) -> int:
        return len(self.rows)

    def head(self, n: int | None) -> "Stored":
        return Stored(self.rows.head(n))

    def split(self, inputs: Callable = normalize) -> StoredSplit:
        return StoredSplit(self.rows, inputs)

    def load(self, n: int | None = None) -> Arrays:
        from models.store import as_float32

        n = len(self) if n is None else min(n, len(self))
        raw, y, _ = self.rows.read(0, n)
        return Arrays(as_float32(raw, self.rows.dtype), None if y is None else y.astype(np.int64))


@dataclass
class Truth:
    """What generated the samples: the dictionary, and which atoms are parents of which (a hierarchy)."""
    dictionary: np.ndarray  # (d, K) unit-norm atoms
    parents: dict[int, tuple[int, ...]]  # parent atom -> its children (empty: a flat dictionary)


@dataclass
class Raw:
    train: Arrays | Stored
    val: Arrays | Stored
    test: Arrays | Stored
    source: str  # where the samples came from, in words
    fingerprint: str  # of the whole test split (models/data.fingerprint)
    truth: Truth | None = None


@dataclass
class Shown:
    """The test samples the app shows for a domain: its test split, or (digits without a data folder) a sample."""
    arrays: Arrays
    name: str  # what captions call them: "1,000 embedded test digits"
    fingerprint: str  # of the test set they are, or were drawn from
    warning: str = ""  # why the configured data could not be used
    truth: Truth | None = None


@dataclass(frozen=True)
class Domain:
    name: str
    title: str  # on screen
    noun: str  # one sample, in captions: "digit", "patch"
    nouns: str  # several: "digits", "patches"
    summary: str  # a sentence of markdown: what the samples are
    config: type  # a models.settings.Config dataclass of this domain's settings
    layout: Callable  # (config) -> Layout, without loading the samples (a file's header at most)
    load: Callable  # (config, data_dir, download) -> Raw; DataError (one line) when it cannot
    shown: Callable | None = None  # (config) -> Shown: what the app shows (default: the test split of `load`)
    own_input: Callable | None = None  # (grey levels (h, w) of any size) -> one raw sample framed as the domain's
    # (a drawn or uploaded digit); None: the domain takes no samples of the user's own
    load_test: Callable | None = None  # (config, data_dir, download) -> Shown: the test split alone, where that
    # costs less than `load`
    sample: Callable | None = None  # (config) -> Shown: test samples shipped in assets/ (no data needed)
    train_size: Callable | None = None  # (config) -> training samples, where the settings say without loading
    inputs: Callable | None = None  # (config) -> the transform of raw samples a family without its own reads (by
    # default each row scaled to unit norm: models.data.normalize)
    note: Callable | None = None  # (config) -> a line on how the samples were read where a user may have meant
    # otherwise (a file's labels under another name), or ""
    ready: Callable | None = None  # (config, data_dir) -> None, DataError in one line when a trainer could not get
    # the samples (no folder and no internet): checked before a run starts, so the form says it, not a log
    host: Callable | None = None  # (config) -> dict or None: the host model and layer the samples were harvested
    # from (models/hosts/harvest.py's manifest entry: host, weights, layer, data), where they were

    def test_samples(self, cfg) -> Shown:
        if self.shown is not None:
            return self.shown(cfg)
        raw = self.load(cfg, None, True)
        return Shown(raw.test, f"{len(raw.test):,} test {self.nouns} ({raw.source})", raw.fingerprint, "", raw.truth)


class UnknownDomain(ValueError):
    pass


_DOMAINS: Registry[Domain] = Registry("data domain", UnknownDomain)
register, get, all_domains = _DOMAINS.register, _DOMAINS.get, _DOMAINS.all


@dataclass(frozen=True)
class DataSpec:
    """Which data a run trains on: a domain and its settings (a run's config.json holds it as `domain`)."""
    domain: Domain
    cfg: Config

    def to_dict(self) -> dict:
        return {"name": self.domain.name, "settings": self.cfg.to_dict()}

    @cached_property
    def key(self) -> str:
        """Stable and hashable: a cache key (made once: the spec and its settings are frozen)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def layout(self) -> Layout:
        return self.domain.layout(self.cfg)

    def inputs(self, family=None) -> Callable:
        """What `family` reads of these raw samples: its own transform where it has one (a likelihood over [0, 1]),
        else the data's normalisation."""
        own = getattr(family, "inputs", None)
        if own is not None:
            return own
        return self.domain.inputs(self.cfg) if self.domain.inputs is not None else normalize

    def note(self) -> str:
        """How the samples were read, where it may not be what the user meant ("" when nothing to say)."""
        return self.domain.note(self.cfg) if self.domain.note is not None else ""

    def host(self) -> dict | None:
        """The host model and layer these samples are activations of ({"host", "weights", "layer", "data", ...}),
        or None."""
        return self.domain.host(self.cfg) if self.domain.host is not None else None

    def normalization(self, family=None) -> str:
        """What `family` reads of these samples, in words: 'unit-norm: each sample scaled to norm 1'."""
        return getattr(self.inputs(family), "label", "")

    def describe(self) -> str:
        """'patches 12×12, whitening 1/f': the domain and the settings that differ from its defaults."""
        defaults = self.domain.config()
        changed = [f"{k.replace('_', ' ')} {v}" for k, v in self.cfg.to_dict().items() if getattr(defaults, k) != v]
        return ", ".join([self.domain.name, *changed])


def spec(name: str = DEFAULT, **settings) -> DataSpec:
    domain = get(name)
    return DataSpec(domain, domain.config(**settings))


def spec_of(saved: dict | None) -> DataSpec:
    """The data a saved run config (or its `domain` entry) names; one without one trained on digits."""
    entry = saved.get("domain", saved) if isinstance(saved, dict) and "domain" in saved else None
    if entry is None:
        return spec()
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ValueError(f"a run's domain is an object with a name, not {entry!r}")
    domain = get(entry["name"])
    return DataSpec(domain, domain.config.from_dict(entry.get("settings") or {}))


def test_set(data: DataSpec, data_dir=None, download: bool = True) -> Shown:
    """The data's whole test split (what evaluation measures on)."""
    if data.domain.load_test is not None:
        return data.domain.load_test(data.cfg, data_dir, download)
    raw = data.domain.load(data.cfg, data_dir, download)
    return Shown(raw.test, f"{len(raw.test):,} test {data.domain.nouns} ({raw.source})", raw.fingerprint, "", raw.truth)


def dataset(data: DataSpec, data_dir=None, limit: int | None = None, inputs: Callable | None = None,
            download: bool = True) -> tuple[Dataset, Truth | None]:
    """Train/validation/test splits as `inputs` (the family's transform; default: the data's normalisation) makes
    them, the first `limit` of each (quick runs), and the domain's ground truth where it has one. A domain on disk
    gives StoredSplits: nothing is read until a batch is asked for."""
    inputs = inputs or data.inputs()
    raw = data.domain.load(data.cfg, data_dir, download)
    ds = Dataset(*(a.head(limit).split(inputs) for a in (raw.train, raw.val, raw.test)), raw.source, raw.fingerprint)
    return ds, raw.truth


def check_shape(x: np.ndarray, what: str) -> None:
    """A domain's loaded samples must be finite (n, d) (or (n, h, w) images): DataError otherwise."""
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{what} holds an array of shape {x.shape}; samples are an (n, d) array")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{what} holds values that are not finite (NaN or infinity)")


CACHE_VERSION = 1  # part of every cache file's name: a change to a generator makes its old files unused


def cached(name: str, cfg: Config, build: Callable[[], Raw]) -> Raw:
    """A generated domain's samples, kept on disk by its settings (CACHE_DIR/domains): built once, then read back
    (allow_pickle=False). A damaged cache file is built again."""
    import hashlib
    import io

    from models.checkpoint import atomic_write
    from models.data import CACHE_DIR

    digest = hashlib.sha1(json.dumps([CACHE_VERSION, cfg.to_dict()], sort_keys=True).encode()).hexdigest()[:12]
    path = CACHE_DIR / "domains" / f"{name}-{digest}.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("meta")))
        parts = {s: Arrays(arrays[f"{s}.x"], arrays.get(f"{s}.y"), arrays.get(f"{s}.codes"))
                 for s in ("train", "val", "test")}
        truth = (Truth(arrays["truth.dictionary"], {int(k): tuple(v) for k, v in meta["parents"].items()})
                 if "truth.dictionary" in arrays else None)
        return Raw(parts["train"], parts["val"], parts["test"], meta["source"], meta["fingerprint"], truth)
    except (OSError, ValueError, KeyError, EOFError):
        pass  # not there yet, or unreadable: build it
    raw = build()
    out = {"meta": np.array(json.dumps({"source": raw.source, "fingerprint": raw.fingerprint,
                                        "parents": {} if raw.truth is None else raw.truth.parents}))}
    for s in ("train", "val", "test"):
        a = getattr(raw, s)
        out[f"{s}.x"] = a.x
        for k in ("y", "codes"):
            if getattr(a, k) is not None:
                out[f"{s}.{k}"] = getattr(a, k)
    if raw.truth is not None:
        out["truth.dictionary"] = raw.truth.dictionary
    buf = io.BytesIO()
    np.savez(buf, **out)
    try:
        atomic_write(path, buf.getvalue())
    except OSError:  # a read-only or full disk: the samples are still good, only not kept
        pass
    return raw
