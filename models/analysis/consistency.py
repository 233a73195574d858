"""Do two runs find the same features? Two comparisons of decoder columns (their cosine similarity, signed: the codes
are non-negative, so a feature and its negative differ):

- consistency across seeds: the units of two models of one size paired one to one (the Hungarian algorithm,
  maximising the summed cosine: recovery.matched), the mean matched cosine (a pairwise MCC; 1 is the same dictionary
  up to order) and the share of units whose partner's cosine is above SAME. Higher is better for both;
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
        cos = cosines(np.asarray(large, np.float64), np.asarray(small, np.float64))  # (large, small)
        levels.append(Level(len(large), cos.argmax(1), cos.max(1)))
    return SplitTree([len(d) for d in decoders], levels)
