"""An index of every unit over a set of samples (the Unit browser): how often it fires, which class it prefers and
how selectively, and the samples that drive it most."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.analysis.representation import class_means, selectivity

TOP = 24  # samples shown per unit


@dataclass(frozen=True)
class UnitIndex:
    density: np.ndarray  # (hidden,) P(z_T > 0) over the samples
    mean: np.ndarray  # (hidden,) mean z_T where it fires (0: never)
    top: np.ndarray  # (hidden, TOP) the samples with the largest z_T, largest first; -1 past those it fires on
    class_means: np.ndarray | None  # (classes, hidden) mean z_T per class (None: no labels)
    selectivity: np.ndarray | None  # (hidden,) representation.selectivity
    preferred: np.ndarray | None  # (hidden,) the class with the largest mean z_T

    def activations(self, z: np.ndarray, unit: int) -> np.ndarray:
        """The unit's z_T on the samples where it fires (what its histogram shows)."""
        col = z[:, unit]
        return col[col > 0]


def unit_index(z: np.ndarray, y: np.ndarray | None, top: int = TOP) -> UnitIndex:
    """`z`: (samples, hidden) codes at T; `y`: their labels, or None."""
    on = z > 0
    fires = on.sum(0)
    mean = np.where(fires > 0, z.sum(0) / np.maximum(fires, 1), 0.0)
    k = min(top, len(z))
    best = np.argsort(-z, axis=0, kind="stable")[:k].T  # (hidden, k)
    best = np.where(np.take_along_axis(z.T, best, axis=1) > 0, best, -1)
    if k < top:
        best = np.pad(best, ((0, 0), (0, top - k)), constant_values=-1)
    if y is None:
        return UnitIndex(on.mean(0), mean, best, None, None, None)
    means = class_means(z, y)
    return UnitIndex(on.mean(0), mean, best, means, selectivity(z, y), means.argmax(0))
