"""An index of every unit over a set of samples (the Unit browser): how often it fires, which class it prefers and
how selectively, and the samples that drive it most."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.analysis.codes import SparseCodes
from models.analysis.representation import selectivity_of

TOP = 24  # samples shown per unit


@dataclass(frozen=True)
class UnitIndex:
    density: np.ndarray  # (hidden,) P(z_T > 0) over the samples
    mean: np.ndarray  # (hidden,) mean z_T where it fires (0: never)
    top: np.ndarray  # (hidden, TOP) the samples with the largest z_T, largest first; -1 past those it fires on
    class_means: np.ndarray | None  # (classes, hidden) mean z_T per class (None: no labels)
    selectivity: np.ndarray | None  # (hidden,) representation.selectivity
    preferred: np.ndarray | None  # (hidden,) the class with the largest mean z_T

    @staticmethod
    def activations(z: SparseCodes, unit: int) -> np.ndarray:
        """The unit's z_T on the samples where it fires (what its histogram shows)."""
        values = z.column(unit)[1]
        return values[values > 0]


def unit_index(z: SparseCodes, y: np.ndarray | None, top: int = TOP) -> UnitIndex:
    """`z`: the codes at T (samples, hidden), sparse; `y`: their labels, or None. Each unit's top samples by one
    sort of the entries (by unit, then value): O(entries log entries), never samples × units."""
    fires = z.fires()
    mean = np.where(fires > 0, z.sums() / np.maximum(fires, 1), 0.0)
    order, starts = z._by_unit
    units = z.units[order]
    rank = np.arange(len(order)) - starts[units]
    keep = (rank < top) & (z.values[order] > 0)
    best = np.full((z.hidden, top), -1, dtype=np.int64)
    best[units[keep], rank[keep]] = z.rows[order[keep]]
    density = fires / max(z.n, 1)
    if y is None:
        return UnitIndex(density, mean, best, None, None, None)
    means = z.class_means(y)
    return UnitIndex(density, mean, best, means, selectivity_of(means), means.argmax(0))


@dataclass(frozen=True)
class Band:
    """Samples from one band of a unit's activations (SAEDashboard's activation quantiles): lo < z_T ≤ hi."""
    lo: float
    hi: float
    fires: int  # samples in the band
    samples: np.ndarray  # (at most `per`) of them, drawn at random (seeded), largest z_T first
    values: np.ndarray  # their z_T


def quantile_bands(z: SparseCodes, unit: int, bands: int = 4, per: int = 8, seed: int = 0) -> list[Band]:
    """The samples the unit fires on, cut into `bands` of equal count by their z_T (the top band first), `per` drawn
    from each: what the unit does across its range, not only at its peak."""
    rows, values = z.column(unit)
    on = values > 0
    rows, values = rows[on], values[on]  # largest first
    if not len(values):
        return []
    out, rng = [], np.random.default_rng(seed)
    for part in np.array_split(np.arange(len(values)), min(bands, len(values))):
        pick = np.sort(rng.choice(part, size=min(per, len(part)), replace=False))
        out.append(Band(float(values[part[-1]]), float(values[part[0]]), len(part), rows[pick], values[pick]))
    return out


def nearest_units(decoder: np.ndarray, unit: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The k units whose decoder columns are closest in direction to this unit's (cosine, largest first), itself
    left out: O(units × inputs) for one unit, nothing units × units."""
    d = np.asarray(decoder, dtype=np.float32)
    norms = np.linalg.norm(d, axis=1)
    cos = d @ d[unit] / np.maximum(norms * norms[unit], 1e-12)
    cos[unit] = -np.inf
    k = min(k, len(cos) - 1)
    if k <= 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.float32)
    best = np.argpartition(-cos, k - 1)[:k]
    best = best[np.argsort(-cos[best], kind="stable")]
    return best, cos[best]
