"""Unit kinds (the DrSAE paper's section 4): the encoder–decoder angle, its thresholds and the kinds' names.

A unit whose encoder row E_i points where its decoder column D_i does (ISTA ties E to Dᵀ: angle 0) is a *part*
unit; one whose encoder drifted far from its decoder is *categorical*; in between, *intermediate*. Training records
every unit's angle and the kind counts each epoch, and the analyses read the same definitions: they live here, below
both.
"""
from __future__ import annotations

import numpy as np

PART_MAX, CATEGORICAL_MIN = 0.5, 0.7  # radians, between encoder row E_i and decoder column D_i
KINDS = ("categorical", "intermediate", "part")


def angles(encoder: np.ndarray, decoder: np.ndarray) -> np.ndarray:
    """(units, n_input) each -> the angle between E_i and D_i per unit (radians)."""
    E, D = np.asarray(encoder, dtype=np.float64), np.asarray(decoder, dtype=np.float64)
    dot = lambda a, b: np.einsum("ij,ij->i", a, b)  # noqa: E731  (row by row: no units × inputs temporary)
    cos = dot(E, D) / np.maximum(np.sqrt(dot(E, E) * dot(D, D)), 1e-12)
    return np.arccos(np.clip(cos, -1, 1))


def kinds(theta: np.ndarray) -> np.ndarray:
    return np.where(theta > CATEGORICAL_MIN, "categorical", np.where(theta < PART_MAX, "part", "intermediate"))


def kind_counts(kind: np.ndarray) -> dict[str, int]:
    return {k: int((kind == k).sum()) for k in KINDS}


def unit_order(kind: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Categorical units first, then intermediate, then part; by falling angle inside each group."""
    rank = {k: i for i, k in enumerate(KINDS)}
    return np.array(sorted(range(len(kind)), key=lambda i: (rank[kind[i]], -angle[i])), dtype=int)
