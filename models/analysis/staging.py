"""Staged learning: when each unit took its final kind, from the encoder–decoder angles a run records every epoch
(the metrics rows' `unit_angles`). Compositional sparsity says SGD finds the constituents first and what is built
from them later: do part units settle before categorical ones?

A unit *crossed into* its final kind by the first epoch after which its kind never changed again; it *settled* by
the first epoch after which its angle stayed within SETTLE of its final angle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.kinds import KINDS, kinds
from models.training import run_folder

SETTLE = 0.05  # radians


def last_change(states: np.ndarray) -> np.ndarray:
    """(epochs, units) booleans 'the unit is in its final state' -> per unit, the first row from which every row
    is True (len(states) where even the last is False)."""
    ok = states[::-1].cumprod(0)[::-1].astype(bool)  # True where this row and all later ones are True
    return np.where(ok.any(0), ok.argmax(0), len(states))


@dataclass
class Staging:
    epochs: np.ndarray  # (rows,) after how many epochs each row of angles was taken (1 = after the first)
    angles: np.ndarray  # (rows, units)
    kind: np.ndarray  # (units,) the kind after the last epoch
    crossed: np.ndarray  # (units,) the epoch from whose end on its kind was its final kind
    settled: np.ndarray  # (units,) the epoch from whose end on its angle stayed within SETTLE of its final angle
    pretrain_epochs: int

    def share_crossed(self) -> dict[str, np.ndarray]:
        """Per kind: the share of its units that had crossed into it by the end of each epoch (as `epochs`)."""
        return {k: (self.crossed[self.kind == k][None, :] <= self.epochs[:, None]).mean(1) for k in KINDS
                if (self.kind == k).any()}

    def medians(self, which: str = "crossed") -> dict[str, float]:
        values = getattr(self, which)
        return {k: float(np.median(values[self.kind == k])) for k in KINDS if (self.kind == k).any()}

    def answer(self) -> str:
        """Do part units settle before categorical ones? In words, with the epochs."""
        c, s = self.medians("crossed"), self.medians("settled")
        if "part" not in s or "categorical" not in s:
            return "The run ends without both part and categorical units: nothing to compare."
        moved = (self.kind == "part") & (self.crossed > self.epochs[0])
        first = "before" if s["part"] < s["categorical"] else ("with" if s["part"] == s["categorical"] else "after")
        return (f"Part units settle {first} categorical ones: half the part units' angles are within {SETTLE} rad of "
                f"their final value by epoch {s['part']:.0f}, the categorical units' by epoch {s['categorical']:.0f}. "
                f"Categorical units cross into their kind at a median epoch of {c['categorical']:.0f} "
                f"(the first {self.pretrain_epochs} epochs are unsupervised); {int(moved.sum())} of "
                f"{int((self.kind == 'part').sum())} part units changed kind after epoch {self.epochs[0]} and came back.")


def staging(rows: list[dict], pretrain_epochs: int = 0, theta: np.ndarray | None = None) -> Staging | None:
    """From a run's metrics rows and its angles after each epoch (`theta`, (epochs, units); runs written before
    unit_angles.f32 kept them in the rows); None when there are none (runs trained before they were kept)."""
    if theta is not None and len(theta):
        rows = rows[:len(theta)]
        theta = theta[:len(rows)].astype(np.float64)
        whole = np.isfinite(theta).all(1)  # an epoch whose angles a crash lost (a row of NaN) is left out
        rows, theta = [r for r, w in zip(rows, whole) if w], theta[whole]
    else:
        rows = [r for r in rows if isinstance(r.get("unit_angles"), list)]
        if not rows or len({len(r["unit_angles"]) for r in rows}) != 1:
            return None
    try:  # a hand-edited or damaged metrics file: no staging, rather than a failed page
        if theta is None or not len(theta):
            theta = np.array([r["unit_angles"] for r in rows], dtype=np.float64)
        epochs = np.array([int(r["epoch"]) + 1 for r in rows])
    except (TypeError, ValueError, KeyError):
        return None
    if not len(rows):
        return None
    if not np.isfinite(theta).all():
        return None
    kind_rows = kinds(theta)
    final = kind_rows[-1]
    crossed = epochs[last_change(kind_rows == final[None, :])]  # the last row is always final: an index < rows
    settled = epochs[last_change(np.abs(theta - theta[-1][None, :]) <= SETTLE)]
    return Staging(epochs, theta, final, crossed, settled, pretrain_epochs)


def run_staging(source) -> Staging | None:
    """The staging of the run a model source (run folder or model file) belongs to."""
    folder = run_folder.folder_of(source)
    try:
        cfg = run_folder.read_config(folder) or {}
    except run_folder.DamagedRun:
        cfg = {}
    return staging(run_folder.read_metrics(folder), int(cfg.get("train", {}).get("pretrain_epochs", 0)),
                   run_folder.read_unit_angles(folder))
