"""The paper's analysis of categorical and part units, from the units' activity on a set of samples."""
from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import numpy as np
import torch

from models.kinds import KINDS, kind_counts
from models.analysis.representation import selectivity_of
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
def analyse(model, samples: Split, batch: int = 500) -> UnitAnalysis:
    """Weights and activity of every unit over `samples` at the trained T (for a model with filters), a batch at a
    time: memory of T × batch × units, whatever the number of samples."""
    model = copy.deepcopy(model).double().eval()  # a copy: the caller's model may be shared (a cached one)
    T, H, n = model.trained_unroll, model.cfg.hidden, len(samples)
    t = unit_table(model)
    w = model.unit_weights()
    norms = np.linalg.norm(w.decoder, axis=1)
    y = None if samples.y is None else samples.y.numpy()
    classes = 0 if y is None else int(y.max()) + 1
    hist, late, ended_on = np.zeros((H, T), dtype=np.int64), np.zeros(H), np.zeros(H)
    contrib, class_sums = np.zeros(H), np.zeros((classes, H))
    for i in range(0, n, batch):
        zs = model.encode(samples.x[i:i + batch].double()).cpu()  # (T, b, H)
        on = (zs > 0).numpy()
        # first step each unit is on, among samples where it is on at the end (off-then-on counts its last switch-on)
        first = np.full(on.shape[1:], -1)
        for step in range(T - 1, -1, -1):
            first = np.where(on[step:].all(0), step, first)
        _, unit = np.nonzero(first >= 0)
        hist += np.bincount(unit * T + first[first >= 0], minlength=H * T).reshape(H, T)
        ended_on += on[-1].sum(0)
        if T >= 2:
            late += (~on[0] & on[1]).sum(0)
        zT = zs[-1].numpy()
        contrib += (zT * norms).sum(0)  # |D_i z_i|: each unit's part of the reconstruction
        if y is not None:
            yb = y[i:i + batch]
            for c in np.unique(yb):
                class_sums[c] += zT[yb == c].sum(0)
    mean_first = np.where(ended_on > 0, (hist * np.arange(1, T + 1)).sum(1) / np.maximum(ended_on, 1), np.nan)
    share = contrib / max(contrib.sum(), 1e-12)
    means = None if y is None else class_sums / np.maximum(np.bincount(y, minlength=classes), 1)[:, None]

    blocks = None
    if w.recurrent is not None:
        blocks = {}
        for to in ("categorical", "part"):
            for frm in ("categorical", "part"):
                rows, cols = np.flatnonzero(t.kind == to), np.flatnonzero(t.kind == frm)
                block = w.recurrent[np.ix_(rows, cols)]
                mask = rows[:, None] != cols[None, :]
                blocks[(to, frm)] = float(block[mask].mean()) if mask.any() else float("nan")

    activity = UnitActivity(mean_first, late / max(n, 1), ended_on / max(n, 1), share,
                            None if means is None else selectivity_of(means), None if means is None else means.argmax(0))
    return UnitAnalysis(t, activity, hist, means, blocks, n)


@dataclass
class StepDecoders:
    decoders: np.ndarray  # (T, d, hidden) the least-squares decoder of z_t, for every step t
    error: np.ndarray  # (T,) mean ½‖x − D^t z_t‖² with those decoders


@torch.no_grad()
def step_decoders(model, samples: Split, ridge: float = 1e-6, batch: int = 1000,
                  progress: Callable[[float], None] = lambda done: None) -> StepDecoders:
    """For each step t, the decoder D^t that best reconstructs the samples from z_t (least squares, a tiny ridge);
    apart from `analyse`: T solves of hidden × hidden in float64 (seconds at 400 units), for a model with recurrent
    steps only. Two passes a batch at a time (ZᵀZ and Zᵀx summed, then the error). `progress` hears the share done."""
    model = copy.deepcopy(model).double().eval()
    H, T, n = model.cfg.hidden, model.trained_unroll, len(samples)
    ztz, ztx = None, None
    for i in range(0, n, batch):
        x = samples.x[i:i + batch].double()
        zs = model.encode(x).cpu()  # (T, b, H)
        ztz = zs.transpose(1, 2) @ zs if ztz is None else ztz + zs.transpose(1, 2) @ zs
        ztx = zs.transpose(1, 2) @ x if ztx is None else ztx + zs.transpose(1, 2) @ x
        progress(0.5 * min(i + batch, n) / n)
    decoders = torch.linalg.solve(ztz + ridge * torch.eye(H, dtype=ztz.dtype), ztx).transpose(1, 2)  # (T, d, H)
    sq = torch.zeros(T, dtype=torch.float64)
    for i in range(0, n, batch):
        x = samples.x[i:i + batch].double()
        zs = model.encode(x).cpu()
        sq += (0.5 * (x - zs @ decoders.transpose(1, 2)).pow(2).sum(-1)).sum(-1)
        progress(0.5 + 0.5 * min(i + batch, n) / n)
    return StepDecoders(decoders.float().numpy(), (sq / max(n, 1)).numpy())


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
