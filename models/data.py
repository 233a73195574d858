"""Data as the models read it: splits of samples (n, d), the input transforms a family applies to a domain's raw
samples, and the fingerprint that names a test set by its content. Where samples come from (idx files, photographs,
a generator, a user's file) is a domain's job: models/domains/.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ENV_VAR = "SPARSELAB_DATA"
CACHE_DIR = Path(os.environ.get("SPARSELAB_CACHE", Path.home() / ".cache" / "sparselab"))


class DataError(RuntimeError):
    """A missing, unreadable or unusable dataset; the message (one line) says what to do."""


@dataclass
class Split:
    x: torch.Tensor  # (n, d) float32 as the model family reads them (by default each row of unit L2 norm)
    y: torch.Tensor | None = None  # (n,) int64 labels; None where the domain has none
    codes: torch.Tensor | None = None  # (n, K) each sample's true code, where the domain knows it

    def __len__(self) -> int:
        return len(self.x)

    def head(self, n: int | None) -> "Split":
        if n is None:
            return self
        cut = lambda t: None if t is None else t[:n]  # noqa: E731
        return Split(self.x[:n], cut(self.y), cut(self.codes))


def _rows(raw: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw samples (n, ...) of any numeric dtype -> float32 rows (n, d)."""
    return torch.from_numpy(np.array(raw, copy=True)).reshape(len(raw), -1).float()


def normalize(raw: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw samples (uint8 images, or float vectors) -> float rows of unit L2 norm, as in the DrSAE paper."""
    x = _rows(raw)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


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
        join = lambda a, b: None if a is None or b is None else torch.cat([a, b])  # noqa: E731
        t, v = self.train, self.val
        return Dataset(Split(torch.cat([t.x, v.x]), join(t.y, v.y), join(t.codes, v.codes)), v, self.test,
                       self.source, self.fingerprint)
