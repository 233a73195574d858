"""Data as the models read it: splits of samples (n, d), in memory (`Split`) or read from disk a batch at a time
(`StoredSplit`, over models/store.py), the input transforms a family applies to a domain's raw samples, and the
fingerprint that names a test set by its content. Where samples come from (idx files, photographs, a generator, a
user's file) is a domain's job: models/domains/.
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.store import DataError, as_float32  # noqa: F401  (DataError: every loader's one-line refusal)

ENV_VAR = "SPARSELAB_DATA"
CACHE_DIR = Path(os.environ.get("SPARSELAB_CACHE", Path.home() / ".cache" / "sparselab"))


@dataclass
class Split:
    x: torch.Tensor  # (n, d) float32 as the model family reads them (by default each row of unit L2 norm)
    y: torch.Tensor | None = None  # (n,) int64 labels; None where the domain has none
    codes: torch.Tensor | None = None  # (n, K) each sample's true code, where the domain knows it
    # (n,) what each row was multiplied by to become the model's input, where rows were scaled one by one (unit
    # norm): the data as given is x / row_scale. None: one factor for every row (FVU is the same either way)
    row_scale: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def labelled(self) -> bool:
        return self.y is not None

    def head(self, n: int | None) -> "Split":
        if n is None:
            return self
        return self.take(slice(0, n))

    def take(self, idx) -> "Split":
        """The rows at `idx` (a slice or positions)."""
        cut = lambda t: None if t is None else t[idx]  # noqa: E731
        return Split(self.x[idx], cut(self.y), cut(self.codes), cut(self.row_scale))

    def batches(self, size: int):
        """Consecutive batches of at most `size` rows, as Splits."""
        for i in range(0, len(self), size):
            yield self.take(slice(i, i + size))

    def load(self, n: int | None = None) -> "Split":
        """The first n rows in memory (they are)."""
        return self.head(n)


def _rows(raw: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw samples (n, ...) of any numeric dtype -> float32 rows (n, d)."""
    return torch.from_numpy(np.array(raw, copy=True)).reshape(len(raw), -1).float()


def normalize(raw: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw samples (uint8 images, or float vectors) -> float rows of unit L2 norm, as in the DrSAE paper."""
    x = _rows(raw)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


normalize.per_row = True  # each row scaled by its own factor: FVU on the data as given differs from FVU on these
normalize.label = "unit-norm: each sample scaled to norm 1"


def as_given(raw: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw samples -> float32 rows, values unchanged (no normalisation)."""
    return _rows(raw)


as_given.label = "none: the values as given"


@functools.lru_cache(maxsize=64)
def scaled(factor: float):
    """Raw samples -> float32 rows × `factor` (one dataset-wide scale)."""
    def inputs(raw):
        return _rows(raw) * factor
    inputs.factor = factor
    inputs.label = f"scale: every sample × {factor:.4g} (the mean squared norm is then the dimension)"
    return inputs


def row_scale(raw: np.ndarray | torch.Tensor, inputs) -> torch.Tensor | None:
    """What `inputs` multiplied each row by, where it scales rows one by one (else None)."""
    if not getattr(inputs, "per_row", False):
        return None
    return 1.0 / _rows(raw).norm(dim=1).clamp_min(1e-8)


class StoredSplit:
    """A split on disk (models/store.Rows), read a batch at a time: float32 per batch, checked finite, then the
    family's input transform. Same interface as Split where a whole split is not needed in memory."""

    def __init__(self, rows, inputs):
        self.rows, self.inputs = rows, inputs

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labelled(self) -> bool:
        return self.rows.labelled

    def head(self, n: int | None) -> "StoredSplit":
        return self if n is None else StoredSplit(self.rows.head(n), self.inputs)

    def take(self, positions) -> Split:
        """The rows at these positions (an int array or a slice), in memory."""
        if isinstance(positions, slice):
            positions = np.arange(*positions.indices(len(self)))
        raw, y, _ = self.rows.take(np.asarray(positions, dtype=np.int64))
        x = as_float32(raw, self.rows.dtype)
        bad = np.flatnonzero(~np.isfinite(x).all(1))
        if len(bad):
            file, row = self.rows.locate(int(np.asarray(positions)[bad[0]]))
            raise DataError(f"{file}: row {row:,} holds values that are not finite (NaN or infinity), and "
                            f"{len(bad) - 1} more of the {len(x):,} rows read with it")
        return Split(self.inputs(x), None if y is None else torch.from_numpy(y.astype(np.int64)),
                     None, row_scale(x, self.inputs))

    def batches(self, size: int):
        for i in range(0, len(self), size):
            yield self.take(slice(i, min(i + size, len(self))))

    def load(self, n: int | None = None) -> Split:
        """The first n rows (all: None) in memory."""
        return self.take(slice(0, len(self) if n is None else min(n, len(self))))

    def __add__(self, other: "StoredSplit") -> "StoredSplit":
        return StoredSplit(self.rows + other.rows, self.inputs)


def intensities(raw: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw samples -> values in [0, 1] (what a Bernoulli likelihood reads): uint8 pixels / 255, or floats already in
    [0, 1]; any other range is refused in one line."""
    if np.asarray(raw).dtype == np.uint8:
        return _rows(raw) / 255.0
    x = _rows(raw)
    lo, hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
    if lo < 0 or hi > 1:
        raise DataError(f"a Bernoulli likelihood models values in [0, 1]; these samples range from {lo:.3g} to "
                        f"{hi:.3g} (choose data in [0, 1], e.g. unwhitened patches)")
    return x


intensities.label = "intensities: values in [0, 1]"


def binarized(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Each pixel 1 with probability its intensity, drawn once with `seed`: the same digits give the same bits,
    and the first n digits the same bits whatever follows them (numpy's generator fills row by row)."""
    u = np.random.default_rng(seed).random(tuple(x.shape), dtype=np.float32)
    return (torch.from_numpy(u) < x.detach().cpu().float()).float()


def fingerprint(x: np.ndarray, y: np.ndarray | None = None) -> str:
    """Names a test set by its content: a model trained with one dataset and shown another can be told so. (Labels
    first, then the samples in their own dtype: uint8 digits keep the fingerprints runs recorded before domains.)"""
    label_type = np.uint8 if y is None or len(y) == 0 or int(np.max(y)) < 256 else np.int64
    h = hashlib.sha1(b"" if y is None else np.ascontiguousarray(y, dtype=label_type).tobytes())
    h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()[:12]


@dataclass
class Dataset:
    train: Split
    val: Split
    test: Split
    source: str
    fingerprint: str = ""  # of the whole test set, whatever `head` kept

    def head(self, n: int | None) -> "Dataset":
        if n is None:
            return self
        return Dataset(self.train.head(n), self.val.head(n), self.test.head(n), self.source, self.fingerprint)

    def all_training(self) -> "Dataset":
        """Train on training and validation samples together (the final fit); `val` stays for monitoring."""
        t, v = self.train, self.val
        if isinstance(t, StoredSplit):
            return Dataset(t + v, v, self.test, self.source, self.fingerprint)
        join = lambda a, b: None if a is None or b is None else torch.cat([a, b])  # noqa: E731
        return Dataset(Split(torch.cat([t.x, v.x]), join(t.y, v.y), join(t.codes, v.codes),
                             join(t.row_scale, v.row_scale)), v, self.test, self.source, self.fingerprint)
