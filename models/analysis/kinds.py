"""Unit kinds (the paper's section 4): their names, the angle thresholds that tell them apart, their colours.

A unit whose encoder row E_i points where its decoder column D_i does (ISTA ties E to Dᵀ: angle 0) is a *part*
unit; one whose encoder drifted far from its decoder is *categorical*; in between, *intermediate*.
"""
from __future__ import annotations

import numpy as np

PART_MAX, CATEGORICAL_MIN = 0.5, 0.7  # radians, between encoder row E_i and decoder column D_i
KINDS = ("categorical", "intermediate", "part")
COLORS = {"categorical": "#d62728", "intermediate": "#7f7f7f", "part": "#1f77b4"}


def kinds(theta: np.ndarray) -> np.ndarray:
    return np.where(theta > CATEGORICAL_MIN, "categorical", np.where(theta < PART_MAX, "part", "intermediate"))


def kind_counts(kind: np.ndarray) -> dict[str, int]:
    return {k: int((kind == k).sum()) for k in KINDS}


def unit_order(kind: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Categorical units first, then intermediate, then part; by falling angle inside each group."""
    rank = {k: i for i, k in enumerate(KINDS)}
    return np.array(sorted(range(len(kind)), key=lambda i: (rank[kind[i]], -angle[i])), dtype=int)
