"""Feature absorption (Chanin et al., 2024), measured where the truth is known: the hierarchical synthetic data, in
which a parent atom p never occurs without exactly one of its children c. A model absorbs p into c when, on a
sample that contains p and c, the unit that draws c fires and the unit that draws p stays silent: c's unit has taken
p's direction in with its own, so p's unit no longer says that p is there.

Precisely: every true atom a is matched one to one to a unit u(a) (the Hungarian pairing of recovery.py, on the
cosine of the atom and the unit's decoder column). Over the test samples that contain a parent p (with its child c),
absorption = the share in which z[u(c)] > 0 and z[u(p)] = 0, pooled over the parents. Lower is better (0: the
parent's unit fires whenever its child's does). Parent recall, the share in which z[u(p)] > 0, is reported beside it
(higher is better), and the parents' matched cosines, since a parent the model never learned cannot fire.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.analysis.recovery import cosines, matched


@dataclass
class Absorption:
    rate: float  # pooled share of parent samples absorbed (lower is better)
    recall: float  # pooled share in which the parent's unit fires (higher is better)
    per_parent: dict[int, float]  # parent atom -> its absorption
    parent_cosine: float  # mean matched cosine of the parents' units (higher: the parents were learned)
    samples: int  # test samples that contain a parent


def absorption(codes: np.ndarray, true_codes: np.ndarray, parents: dict[int, tuple[int, ...]],
               unit_of: np.ndarray, cosine_of: np.ndarray | None = None) -> Absorption:
    """`codes` (n, units): the model's; `true_codes` (n, K): the data's; `unit_of` (K,): the unit matched to each
    atom (−1: none); `cosine_of` (K,): their cosines."""
    fires = np.asarray(codes) > 0
    present = np.asarray(true_codes) > 0
    absorbed = recalled = total = 0
    per = {}
    for p, children in parents.items():
        rows = np.flatnonzero(present[:, p])
        if len(rows) == 0:
            continue
        up = unit_of[p]
        parent_on = fires[rows, up] if up >= 0 else np.zeros(len(rows), bool)
        child_on = np.zeros(len(rows), bool)
        for c in children:
            uc = unit_of[c]
            if uc >= 0:
                child_on |= present[rows, c] & fires[rows, uc]
        a = int((child_on & ~parent_on).sum())
        per[int(p)] = a / len(rows)
        absorbed, recalled, total = absorbed + a, recalled + int(parent_on.sum()), total + len(rows)
    cos = float(np.mean([cosine_of[p] for p in parents])) if cosine_of is not None and parents else float("nan")
    return Absorption(absorbed / total if total else float("nan"), recalled / total if total else float("nan"),
                      per, cos, total)


def model_absorption(codes, decoder: np.ndarray, dictionary: np.ndarray, true_codes: np.ndarray,
                     parents: dict[int, tuple[int, ...]]) -> Absorption:
    """`codes` (n, units): dense, or sparse (codes.SparseCodes: only the matched units' columns are made dense);
    `decoder` (units, d); `dictionary` (d, K) the true atoms as columns."""
    unit, value = matched(cosines(np.asarray(dictionary, np.float64).T, np.asarray(decoder, np.float64)))
    if hasattr(codes, "columns"):  # the atoms' matched units, numbered among themselves
        used = np.unique(unit[unit >= 0])
        codes = codes.columns(used)
        unit = np.where(unit >= 0, np.searchsorted(used, np.maximum(unit, 0)), -1)
    return absorption(codes, true_codes, parents, unit, value)
