"""Interventions on the units: hold one unit, a set or a whole kind at 0 (ablate) or at a value (clamp) at every
step from a chosen step on, and see what the samples' codes, reconstructions and classes do.

Over a set of samples: the error and reconstruction with each kind ablated, and with each single unit ablated (a
ranked table: which units the classifier depends on most). Ablating a unit changes nothing on a sample where it is
silent at every step, so each unit's ablation is run only on the samples where it fires: the same numbers as
running all of them, at a fraction of the cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from models.kinds import KINDS
from models.analysis.steps import Trace
from models.data import Split
from models.families import capabilities
from models.families.base import Hold

ROWS = 4096  # samples × units per batch of single-unit ablations


@dataclass(frozen=True)
class Intervention:
    """What the user asked: these units, held at `value` (0 = ablated) from step `from_step` on."""
    units: tuple[int, ...]
    value: float = 0.0
    from_step: int = 1

    def hold(self, hidden: int) -> Hold:
        mask = torch.zeros(hidden, dtype=torch.bool)
        mask[list(self.units)] = True
        return Hold(mask, float(self.value), int(self.from_step))


@torch.no_grad()
def intervened_trace(model, x: torch.Tensor, steps: int, iv: Intervention) -> Trace:
    """One sample through `steps` steps with the intervention (compare steps.trace, the same without)."""
    model.eval()
    caps = capabilities(model)
    zs = model.encode(x.reshape(1, -1), steps, iv.hold(model.cfg.hidden))[:, 0]
    return Trace(x.reshape(-1).numpy(), zs.numpy(), model.decode(zs).numpy() if caps.decoder else None,
                 torch.softmax(model.classify(zs), -1).numpy() if caps.classifier else None)


def _outcome(model, x: torch.Tensor, z: torch.Tensor, caps) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per sample: the predicted class and ½‖x − x̂‖² from its final code z."""
    pred = model.classify(z).argmax(-1).numpy() if caps.classifier else None
    recon = (0.5 * (x - model.decode(z)).pow(2).sum(-1)).numpy() if caps.decoder else None
    return pred, recon


@dataclass
class SetAblations:
    """Over a set of samples at `steps` steps: nothing ablated, then each named set of units ablated from step 1."""
    steps: int
    n_digits: int
    error: float | None  # % with nothing ablated (None: no classifier)
    recon: float | None  # mean ½‖x − x̂‖² with nothing ablated (None: no decoder)
    set_error: dict[str, float | None]
    set_recon: dict[str, float | None]
    set_units: dict[str, int]


def kind_sets(kind: np.ndarray) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Each kind's units, as `set_ablations` takes them (hashable: a cache key)."""
    return tuple((k, tuple(int(u) for u in np.flatnonzero(kind == k))) for k in KINDS)


@torch.no_grad()
def set_ablations(model, samples: Split, steps: int, sets: tuple[tuple[str, tuple[int, ...]], ...],
                  batch: int = 1000) -> SetAblations:
    """`sets`: (name, units) pairs, each ablated on its own."""
    model.eval()
    caps = capabilities(model)
    H = model.cfg.hidden
    y = None if samples.y is None else samples.y.numpy()
    holds = {None: None, **{name: Intervention(units).hold(H) for name, units in sets}}
    preds, recons = {k: [] for k in holds}, {k: [] for k in holds}
    for i in range(0, len(samples), batch):
        x = samples.x[i:i + batch]
        for k, hold in holds.items():
            p, r = _outcome(model, x, model.code(x, steps, hold), caps)
            preds[k].append(p), recons[k].append(r)
    err = {k: None if v[0] is None else float(100 * (np.concatenate(v) != y).mean()) for k, v in preds.items()}
    rec = {k: None if v[0] is None else float(np.concatenate(v).mean()) for k, v in recons.items()}
    return SetAblations(steps, len(samples), err.pop(None), rec.pop(None), err, rec,
                        {name: len(units) for name, units in sets})


@dataclass
class UnitAblations:
    """Over a set of samples at `steps` steps, each unit alone ablated from step 1."""
    steps: int
    n_digits: int
    error: np.ndarray | None  # (hidden,) % error with the unit ablated (None: no classifier)
    flips: np.ndarray | None  # (hidden,) samples whose prediction changes
    recon: np.ndarray | None  # (hidden,) mean ½‖x − x̂‖² with it ablated (None: no decoder)
    active: np.ndarray  # (hidden,) samples on which the unit fires at some step (the only ones it can change)
    runs: int  # sample × unit runs it took

    def ranked(self) -> np.ndarray:
        """Units, those whose ablation costs the classifier most first (else the reconstruction)."""
        if self.error is not None:
            return np.lexsort((-self.flips, -self.error))
        return np.argsort(-self.recon)


def _each_unit_ablated(model, x: torch.Tensor, fires: torch.Tensor, steps: int):
    """For every (sample d, unit u) with u firing on d (`fires`: (samples, hidden)), z_T of sample d with u alone held at
    0; yielded in chunks of ROWS as (d, u, z_T)."""
    d_idx, u_idx = (t.numpy() for t in torch.nonzero(fires, as_tuple=True))
    for s in range(0, len(d_idx), ROWS):
        d, u = d_idx[s:s + ROWS], u_idx[s:s + ROWS]
        mask = torch.zeros(len(d), fires.shape[1], dtype=torch.bool)
        mask[torch.arange(len(d)), torch.from_numpy(u)] = True
        yield d, u, model.code(x[d], steps, Hold(mask))


def unit_runs(model, samples: Split, steps: int, batch: int = 1000) -> int:
    """How many sample × unit runs unit_ablations takes: the samples on which each unit fires, summed."""
    with torch.no_grad():
        return int(sum((model.encode(samples.x[i:i + batch], steps) > 0).any(0).sum() for i in range(0, len(samples), batch)))


@torch.no_grad()
def unit_ablations(model, samples: Split, steps: int, batch: int = 1000,
                   progress: Callable[[float], None] = lambda done: None) -> UnitAblations:
    """Each unit alone held at 0 on every sample where it fires; `progress` hears the share of those runs done."""
    model.eval()
    caps = capabilities(model)
    H, n = model.cfg.hidden, len(samples)
    x_all, y = samples.x, None if samples.y is None else samples.y.numpy()
    base_pred, base_recon, fires = [], [], []
    for i in range(0, n, batch):
        x = x_all[i:i + batch]
        zs = model.encode(x, steps)
        fires.append((zs > 0).any(0))
        p, r = _outcome(model, x, zs[-1], caps)
        base_pred.append(p), base_recon.append(r)
    base_pred = None if base_pred[0] is None else np.concatenate(base_pred)
    base_recon = None if base_recon[0] is None else np.concatenate(base_recon)
    fires = torch.cat(fires)  # (n, H)
    wrong_delta, flips, recon_delta = np.zeros(H), np.zeros(H, dtype=np.int64), np.zeros(H)
    runs, done = int(fires.sum()), 0
    for d, u, z in _each_unit_ablated(model, x_all, fires, steps):
        done += len(d)
        progress(done / max(runs, 1))
        p, r = _outcome(model, x_all[d], z, caps)
        if p is not None:
            np.add.at(flips, u, p != base_pred[d])
            np.add.at(wrong_delta, u, (p != y[d]).astype(float) - (base_pred[d] != y[d]))
        if r is not None:
            np.add.at(recon_delta, u, r - base_recon[d])
    base_err = None if base_pred is None else 100 * float((base_pred != y).mean())
    return UnitAblations(steps, n, None if base_pred is None else base_err + 100 * wrong_delta / n,
                         None if base_pred is None else flips,
                         None if base_recon is None else float(base_recon.mean()) + recon_delta / n,
                         fires.sum(0).numpy(), int(fires.sum()))


@dataclass
class CellUnits:
    """For a set of samples (a confusion cell): what ablating each unit does to their predictions."""
    samples: np.ndarray  # their indices
    flips: np.ndarray  # (hidden,) of those samples, how many change prediction with the unit ablated
    to_true: np.ndarray  # (hidden,) how many of those changes are to their true class

    def ranked(self) -> np.ndarray:
        return np.lexsort((-self.flips, -self.to_true))


@torch.no_grad()
def cell_units(model, samples: Split, idx: np.ndarray, steps: int) -> CellUnits:
    """Ablate each unit that fires on any of the samples `idx`, alone, and count the changed predictions."""
    model.eval()
    H = model.cfg.hidden
    x, y = samples.x[idx], samples.y.numpy()[idx]
    zs = model.encode(x, steps)
    base = model.classify(zs[-1]).argmax(-1).numpy()
    flips, to_true = np.zeros(H, dtype=np.int64), np.zeros(H, dtype=np.int64)
    for d, u, z in _each_unit_ablated(model, x, (zs > 0).any(0), steps):
        p = model.classify(z).argmax(-1).numpy()
        np.add.at(flips, u, p != base[d])
        np.add.at(to_true, u, (p != base[d]) & (p == y[d]))
    return CellUnits(np.asarray(idx), flips, to_true)
