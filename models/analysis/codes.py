"""Codes over a set of samples, kept sparse: most of a sparse code is zero, so a (samples × units) array of a wide
dictionary (10,000 × 16,384 floats: 655 MB) is held as its non-zero entries instead (32 a sample: 2.6 MB), and what
the pages measure per unit and per sample (density, sums, class means, the samples that drive a unit most, the
reconstruction) is read from the entries: O(entries), never O(samples × units).

A model with filters decodes linearly, x̂ = x̂(0) + Σ_i z_i D_i, so its reconstruction from sparse codes gathers the
decoder rows of the active units (`decode`) instead of multiplying by the whole dictionary.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F


CODE_BUDGET = 1 << 26  # samples × units the app measures a model on at most: a wide dictionary on fewer samples
# (16,384 units: 4,096 of them), so that its first open encodes no more than a 4,096-unit model's 10,000


def sample_limit(hidden: int, most: int) -> int:
    """How many of `most` test samples a model of `hidden` units is measured on in the app (at least 1,000)."""
    return max(min(1000, most), min(most, CODE_BUDGET // max(hidden, 1)))


@dataclass(frozen=True)
class SparseCodes:
    """(samples, units) codes as their non-zero entries, sample by sample (CSR)."""
    indptr: np.ndarray  # (n + 1,) int64: sample i's entries are [indptr[i], indptr[i + 1])
    units: np.ndarray  # (entries,) int32: each entry's unit
    values: np.ndarray  # (entries,) float32: its value (never 0)
    hidden: int

    @classmethod
    def of(cls, z) -> "SparseCodes":
        """From a dense (samples, units) array or tensor."""
        z = torch.as_tensor(np.asarray(z, dtype=np.float32) if not torch.is_tensor(z) else z).float()
        rows, units = torch.nonzero(z, as_tuple=True)
        counts = torch.bincount(rows, minlength=len(z)).numpy()
        return cls(np.r_[0, np.cumsum(counts)].astype(np.int64), units.numpy().astype(np.int32),
                   z[rows, units].numpy(), z.shape[1])

    @classmethod
    def joined(cls, parts: list["SparseCodes"], hidden: int) -> "SparseCodes":
        if not parts:
            return cls(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), hidden)
        ends = np.cumsum([p.indptr[-1] for p in parts])[:-1]
        indptr = np.concatenate([parts[0].indptr] + [p.indptr[1:] + e for p, e in zip(parts[1:], ends)])
        return cls(indptr, np.concatenate([p.units for p in parts]), np.concatenate([p.values for p in parts]),
                   hidden)

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    def __len__(self) -> int:
        return self.n

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.hidden

    @cached_property
    def rows(self) -> np.ndarray:
        """(entries,) each entry's sample."""
        return np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))

    @cached_property
    def _by_unit(self) -> tuple[np.ndarray, np.ndarray]:
        """Entries ordered by unit, then by value descending: (that order, where each unit's entries start)."""
        order = np.lexsort((-self.values, self.units))
        starts = np.r_[0, np.cumsum(np.bincount(self.units, minlength=self.hidden))]
        return order, starts

    def column(self, unit: int) -> tuple[np.ndarray, np.ndarray]:
        """(samples, values) where `unit` is non-zero, the largest value first."""
        order, starts = self._by_unit
        e = order[starts[unit]:starts[unit + 1]]
        return self.rows[e], self.values[e]

    def top(self, unit: int, k: int) -> np.ndarray:
        """The (at most k) samples with the largest positive values of `unit`, largest first."""
        rows, values = self.column(unit)
        return rows[:k][values[:k] > 0]

    def value(self, sample: int, unit: int) -> float:
        a, b = self.indptr[sample], self.indptr[sample + 1]
        hit = np.flatnonzero(self.units[a:b] == unit)
        return float(self.values[a + hit[0]]) if len(hit) else 0.0

    def fires(self) -> np.ndarray:
        """(units,) samples on which each unit is positive."""
        return np.bincount(self.units[self.values > 0], minlength=self.hidden)

    def sums(self, power: int = 1) -> np.ndarray:
        """(units,) Σ over samples of z^power (float64)."""
        return np.bincount(self.units, weights=self.values.astype(np.float64) ** power, minlength=self.hidden)

    def sample_sums(self, power: int = 1) -> np.ndarray:
        """(samples,) Σ over units of z^power (float64)."""
        return np.bincount(self.rows, weights=self.values.astype(np.float64) ** power, minlength=self.n)

    def active(self) -> np.ndarray:
        """(samples,) units positive on each sample."""
        return np.bincount(self.rows[self.values > 0], minlength=self.n)

    def class_means(self, y: np.ndarray, classes: int | None = None) -> np.ndarray:
        """(classes, units) each unit's mean over the samples of each class (0 for a class with none)."""
        classes = int(y.max()) + 1 if classes is None else classes
        y = np.asarray(y, dtype=np.int64)
        sums = np.bincount(y[self.rows] * self.hidden + self.units, weights=self.values.astype(np.float64),
                           minlength=classes * self.hidden).reshape(classes, self.hidden)
        counts = np.bincount(y, minlength=classes)
        return sums / np.maximum(counts, 1)[:, None]

    def dense(self, samples=None) -> np.ndarray:
        """(len(samples), units) float32 for a few samples (all: None; only for small codes)."""
        idx = np.arange(self.n) if samples is None else np.asarray(samples, dtype=np.int64)
        counts = self.indptr[idx + 1] - self.indptr[idx]
        entries = np.repeat(self.indptr[idx] - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
        out = np.zeros((len(idx), self.hidden), dtype=np.float32)
        out[np.repeat(np.arange(len(idx)), counts), self.units[entries]] = self.values[entries]
        return out

    def to_scipy(self):
        """As a scipy.sparse CSR array (float32): what the probes fit on."""
        from scipy.sparse import csr_array

        return csr_array((self.values, self.units, self.indptr), shape=self.shape)

    def columns(self, units) -> np.ndarray:
        """(samples, len(units)) float32: these units' columns, dense."""
        units = np.asarray(units, dtype=np.int64)
        where = np.full(self.hidden, -1)
        where[units] = np.arange(len(units))
        keep = where[self.units] >= 0
        out = np.zeros((self.n, len(units)), dtype=np.float32)
        out[self.rows[keep], where[self.units[keep]]] = self.values[keep]
        return out

    def between(self, a: int, b: int) -> "SparseCodes":
        """Samples [a, b)."""
        b = min(b, self.n)
        lo, hi = self.indptr[a], self.indptr[b]
        return SparseCodes(self.indptr[a:b + 1] - lo, self.units[lo:hi], self.values[lo:hi], self.hidden)

    def head(self, n: int) -> "SparseCodes":
        return self.between(0, n)

    def without(self, units: np.ndarray) -> "SparseCodes":
        """These codes with `units` (a boolean mask over units) at 0: the code of a one-step model they ablate."""
        keep = ~units[self.units]
        indptr = np.r_[0, np.cumsum(np.bincount(self.rows[keep], minlength=self.n))].astype(np.int64)
        return SparseCodes(indptr, self.units[keep], self.values[keep], self.hidden)


def sparse(z: torch.Tensor) -> SparseCodes:
    return SparseCodes.of(z.detach())


@dataclass
class LinearDecoder:
    """A model with filters decodes x̂ = offset + Σ_i z_i D_i: its decoder rows and offset, float32."""
    rows: torch.Tensor  # (units, d)
    offset: torch.Tensor  # (d,) x̂ of the zero code (a sparse autoencoder's b_d)

    @classmethod
    def of(cls, model) -> "LinearDecoder":
        rows = torch.from_numpy(model.unit_weights().decoder).float().contiguous()  # rows gathered: row-major
        with torch.no_grad():
            offset = model.decode(torch.zeros(1, model.cfg.hidden, dtype=next(model.parameters()).dtype))[0].float()
        return cls(rows, offset)

    def __call__(self, codes: SparseCodes, a: int = 0, b: int | None = None) -> torch.Tensor:
        """x̂ of samples [a, b): the decoder rows of each sample's active units, weighted and summed."""
        b = codes.n if b is None else b
        lo, hi = codes.indptr[a], codes.indptr[b]
        units = torch.from_numpy(codes.units[lo:hi].astype(np.int64))
        if hi == lo:
            return self.offset.expand(b - a, -1).clone()
        offsets = torch.from_numpy(codes.indptr[a:b] - lo)
        summed = F.embedding_bag(units, self.rows, offsets, mode="sum",
                                 per_sample_weights=torch.from_numpy(codes.values[lo:hi]))
        return summed + self.offset
