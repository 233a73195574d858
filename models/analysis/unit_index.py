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
