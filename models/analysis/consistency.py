"""Do two runs find the same features? Two comparisons of decoder columns (their cosine similarity, signed: the codes
are non-negative, so a feature and its negative differ):

- consistency across seeds: the units of two models of one size paired one to one (the Hungarian algorithm,
  maximising the summed cosine: recovery.matched), the mean matched cosine (a pairwise MCC; 1 is the same dictionary
  up to order) and the share of units whose partner's cosine is above SAME. Higher is better for both. Past
  EXACT_UNITS units (the assignment costs units³) the pairs are taken greedily, the highest cosine first, among each
  unit's CANDIDATES closest partners, and the units left then paired exactly;
- feature splitting across dictionary sizes: each unit of a larger dictionary hangs under the unit of the next
  smaller one closest to it, so a feature of the small dictionary that the larger one splits gets several children.
  Neither more nor fewer children is better: it is what a larger dictionary does with the feature.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.analysis.recovery import cosines, matched

SAME = 0.9  # a partner at this cosine or above draws the same feature
SPLIT_COSINE = 0.5  # children this close to their parent count towards a split
EXACT_UNITS = 4096  # dictionaries up to this size are matched exactly
CANDIDATES = 8  # partners per unit the greedy matching of larger ones considers
CHUNK = 1024  # rows of cosines computed at once (a wide dictionary's whole matrix is never held)


def _unit_rows(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, np.float32)
    return w / np.linalg.norm(w, axis=1, keepdims=True).clip(1e-12)


def closest(a: np.ndarray, b: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `a` (units, d), its k rows of `b` with the largest cosine, largest first: (indices, cosines),
    each (len(a), k), computed CHUNK rows at a time in float32."""
    a, b = _unit_rows(a), _unit_rows(b)
    k = min(k, len(b))
    idx, val = np.zeros((len(a), k), np.int64), np.zeros((len(a), k), np.float32)
    for s in range(0, len(a), CHUNK):
        cos = a[s:s + CHUNK] @ b.T
        part = np.argpartition(-cos, k - 1, axis=1)[:, :k] if k < len(b) else np.tile(np.arange(len(b)), (len(cos), 1))
        pv = np.take_along_axis(cos, part, 1)
        order = np.argsort(-pv, axis=1, kind="stable")
        idx[s:s + CHUNK], val[s:s + CHUNK] = np.take_along_axis(part, order, 1), np.take_along_axis(pv, order, 1)
    return idx, val


def matched_greedily(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """recovery.matched for dictionaries too large for the exact assignment: each unit's CANDIDATES closest
    partners, the pairs taken highest cosine first while both ends are free; the units left paired exactly."""
    idx, val = closest(a, b, CANDIDATES)
    rows = np.repeat(np.arange(len(a)), idx.shape[1])
    order = np.argsort(-val.ravel(), kind="stable")
    unit, value = np.full(len(a), -1), np.zeros(len(a))
    free_b = np.ones(len(b), bool)
    for i, j, c in zip(rows[order], idx.ravel()[order], val.ravel()[order]):
        if unit[i] < 0 and free_b[j]:
            unit[i], value[i], free_b[j] = j, c, False
    left_a, left_b = np.flatnonzero(unit < 0), np.flatnonzero(free_b)
    if len(left_a) and len(left_b):  # the units whose candidates were all taken: the same again among themselves
        sub_a, sub_b = np.asarray(a)[left_a], np.asarray(b)[left_b]
        u, v = (matched_greedily(sub_a, sub_b) if max(len(left_a), len(left_b)) > EXACT_UNITS else
                matched(cosines(np.asarray(sub_a, np.float64), np.asarray(sub_b, np.float64))))
        unit[left_a] = np.where(u >= 0, left_b[np.maximum(u, 0)], -1)
        value[left_a] = v
    return unit, value


@dataclass
class SeedMatch:
    pairs: np.ndarray  # (units, 2): a unit of A, its partner in B (−1: none)
    cosine: np.ndarray  # (units,)

    @property
    def mcc(self) -> float:
        return float(self.cosine.mean()) if len(self.cosine) else float("nan")

    @property
    def shared(self) -> float:
        return float((self.cosine >= SAME).mean()) if len(self.cosine) else float("nan")


def seed_match(decoder_a: np.ndarray, decoder_b: np.ndarray) -> SeedMatch:
    """`decoder_a`, `decoder_b`: (units, d) the two models' decoder columns."""
    if max(len(decoder_a), len(decoder_b)) > EXACT_UNITS:
        unit, value = matched_greedily(decoder_a, decoder_b)
    else:
        unit, value = matched(cosines(np.asarray(decoder_a, np.float64), np.asarray(decoder_b, np.float64)))
    return SeedMatch(np.stack([np.arange(len(unit)), unit], 1), value)


@dataclass
class Level:
    """How the units of one dictionary hang under the next smaller one's."""
    size: int  # units of this (the larger) dictionary
    parent: np.ndarray  # (size,) each unit's closest unit of the smaller dictionary
    cosine: np.ndarray  # (size,) its cosine with that parent

    def children(self, unit: int) -> np.ndarray:
        """The units of this dictionary under `unit` of the smaller one, closest first."""
        kids = np.flatnonzero(self.parent == unit)
        return kids[np.argsort(-self.cosine[kids], kind="stable")]

    def split_share(self, parents: int, min_cosine: float = 0.0) -> float:
        """The share of the smaller dictionary's `parents` units with two or more children at `min_cosine` or
        above."""
        counts = np.bincount(self.parent[self.cosine >= min_cosine], minlength=parents)
        return float((counts >= 2).mean())


@dataclass
class SplitTree:
    sizes: list[int]  # the dictionaries' sizes, smallest first
    levels: list[Level]  # levels[i]: sizes[i + 1]'s units under sizes[i]'s


def split_tree(decoders: list[np.ndarray]) -> SplitTree:
    """`decoders`: (units, d) arrays, one per dictionary, smallest first."""
    levels = []
    for small, large in zip(decoders, decoders[1:]):
        if len(large) * len(small) > EXACT_UNITS ** 2:  # chunked, float32: never the whole (large, small) matrix
            idx, val = closest(large, small)
            levels.append(Level(len(large), idx[:, 0], val[:, 0].astype(np.float64)))
            continue
        cos = cosines(np.asarray(large, np.float64), np.asarray(small, np.float64))  # (large, small)
        levels.append(Level(len(large), cos.argmax(1), cos.max(1)))
    return SplitTree([len(d) for d in decoders], levels)
