"""The paper's analysis of categorical and part units, from the units' activity on a set of samples."""
from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import numpy as np
import torch

from models.kinds import KINDS, kind_counts
from models.analysis.representation import class_means, selectivity
from models.analysis.units import UnitTable, unit_table
from models.data import Split


@dataclass
class UnitActivity:
    """Per unit, over the samples, at the trained T."""
    first_step_mean: np.ndarray  # mean step at which the unit switched on, where it ends active (NaN: never)
    p_late_start: np.ndarray  # P(z_1 = 0, z_2 > 0)
    active_fraction: np.ndarray  # P(z_T > 0)
    recon_share: np.ndarray  # the unit's share of sum_i |D_i z_i|
    selectivity: np.ndarray | None  # (best class mean - mean of the others) / their sum (None: no labels)
    preferred_class: np.ndarray | None  # the class with the largest mean z_T


@dataclass
class UnitAnalysis:
    units: UnitTable  # from the weights
    activity: UnitActivity  # from the samples
    first_step_hist: np.ndarray  # (hidden, T) over samples where the unit ends active: the step it switched on
    class_means: np.ndarray | None  # (classes, hidden) mean z_T per class (None: no labels)
    s_blocks: dict | None  # mean S_ij by (to-kind, from-kind), i != j; None without recurrent weights
    n_digits: int

    def per_unit(self) -> dict[str, np.ndarray]:
        """Every per-unit column present, by name (what the CLI prints and the summary averages)."""
        cols = {}
        for part in (self.units, self.activity):
            cols.update({f.name: getattr(part, f.name) for f in fields(part) if getattr(part, f.name) is not None})
        return cols


@torch.no_grad()
def analyse(model, samples: Split) -> UnitAnalysis:
    """Weights and activity of every unit over `samples` at the trained T (for a model with filters)."""
    model = copy.deepcopy(model).double().eval()  # a copy: the caller's model may be shared (a cached one)
    T, H = model.trained_unroll, model.cfg.hidden
    x = samples.x.double()
    zs = model.encode(x).cpu()  # (T, n, H)
    on = (zs > 0).numpy()
    t = unit_table(model)
    w = model.unit_weights()

    # first step each unit is on, among samples where it is on at the end (off-then-on counts its last switch-on)
    first = np.full(on.shape[1:], -1)
    for step in range(T - 1, -1, -1):
        first = np.where(on[step:].all(0), step, first)
    hist = np.stack([np.bincount(first[:, i][first[:, i] >= 0], minlength=T)[:T] for i in range(H)])
    ended_on = on[-1].sum(0)
    mean_first = np.where(ended_on > 0, (hist * np.arange(1, T + 1)).sum(1) / np.maximum(ended_on, 1), np.nan)
    late = (~on[0] & on[1]).mean(0) if T >= 2 else np.zeros(H)

    zT = zs[-1].numpy()
    contrib = zT * np.linalg.norm(w.decoder, axis=1)  # |D_i z_i|: each unit's part of the reconstruction
    share = contrib.sum(0) / max(contrib.sum(), 1e-12)
    y = None if samples.y is None else samples.y.numpy()
    means = None if y is None else class_means(zT, y)

    blocks = None
    if w.recurrent is not None:
        blocks = {}
        for to in ("categorical", "part"):
            for frm in ("categorical", "part"):
                rows, cols = np.flatnonzero(t.kind == to), np.flatnonzero(t.kind == frm)
                block = w.recurrent[np.ix_(rows, cols)]
                mask = rows[:, None] != cols[None, :]
                blocks[(to, frm)] = float(block[mask].mean()) if mask.any() else float("nan")

    activity = UnitActivity(mean_first, late, on[-1].mean(0), share, None if y is None else selectivity(zT, y),
                            None if means is None else means.argmax(0))
    return UnitAnalysis(t, activity, hist, means, blocks, len(x))


@dataclass
class StepDecoders:
    decoders: np.ndarray  # (T, d, hidden) the least-squares decoder of z_t, for every step t
    error: np.ndarray  # (T,) mean ½‖x − D^t z_t‖² with those decoders


@torch.no_grad()
def step_decoders(model, samples: Split, ridge: float = 1e-6,
                  progress: Callable[[float], None] = lambda done: None) -> StepDecoders:
    """For each step t, the decoder D^t that best reconstructs the samples from z_t (least squares, a tiny ridge);
    apart from `analyse`: eleven 400 × 400 solves over the samples in float64 cost seconds, and only one view and
    the report need them. `progress` hears the share of steps solved."""
    model = copy.deepcopy(model).double().eval()
    x = samples.x.double()
    zs = model.encode(x).cpu()
    H = zs.shape[-1]
    decoders, errors = [], []
    for Z in zs:
        Dt = torch.linalg.solve(Z.T @ Z + ridge * torch.eye(H, dtype=Z.dtype), Z.T @ x).T  # (d, H)
        decoders.append(Dt.float().numpy())
        errors.append((0.5 * (x - Z @ Dt.T).pow(2).sum(1)).mean().item())
        progress(len(errors) / len(zs))
    return StepDecoders(np.stack(decoders), np.array(errors))


def late_share(first_step_hist: np.ndarray, units: np.ndarray) -> float:
    """Of these units' activations (a unit on at T, on a sample), the share that switched on after step 1, pooled:
    how often they are off at step 1. NaN for units never on."""
    h = first_step_hist[units]
    return float(1 - h[:, 0].sum() / h.sum()) if h.sum() else float("nan")


def summary(a: UnitAnalysis) -> dict:
    """Group means of every per-unit number, and the counts: what the report and the CLI print."""
    kind = a.units.kind
    out = {"counts": kind_counts(kind), "n_digits": a.n_digits, "groups": {}}
    numbers = {k: v for k, v in a.per_unit().items() if k not in ("kind", "c_class", "preferred_class")}
    for k in KINDS:
        m = kind == k
        if m.any():
            out["groups"][k] = {name: float(np.nanmean(np.asarray(v, dtype=float)[m])) for name, v in numbers.items()}
    if a.s_blocks is not None:
        out["s_blocks"] = {f"{to}<-{frm}": v for (to, frm), v in a.s_blocks.items()}
    return out
