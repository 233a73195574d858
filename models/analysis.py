"""The paper's analysis of categorical and part units, from the units' activity on a set of digits."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.data import Split
from models.drsae import DrSAE
from models.units import KINDS, kind_counts, unit_table


@dataclass
class UnitAnalysis:
    table: dict  # per unit, weights and activity (see analyse)
    first_step_hist: np.ndarray  # (hidden, T) over digits where the unit ends active: the step it switched on
    class_means: np.ndarray  # (10, hidden) mean z_T per class
    step_decoders: np.ndarray  # (T, 784, hidden) least-squares decoder of z_t, for every step t
    step_decoder_error: np.ndarray  # (T,) mean 1/2||x - D^t z_t||^2 with those decoders
    s_blocks: dict  # mean S_ij by (to-group, from-group), i != j
    n_digits: int


@torch.no_grad()
def analyse(model: DrSAE, digits: Split, ridge: float = 1e-6) -> UnitAnalysis:
    """Weights and activity of every unit over `digits` at the trained T."""
    model.eval()
    T, H = model.cfg.unroll, model.cfg.hidden
    x = digits.x.double()
    zs = model.double().encode(x).cpu()  # (T, n, H)
    model.float()
    y = digits.y.numpy()
    on = (zs > 0).numpy()
    t = unit_table(model)

    # first step each unit is on, among digits where it is on at the end (off-then-on counts its last switch-on)
    first = np.full(on.shape[1:], -1)
    for step in range(T - 1, -1, -1):
        first = np.where(on[step:].all(0), step, first)
    hist = np.stack([np.bincount(first[:, i][first[:, i] >= 0], minlength=T)[:T] for i in range(H)])
    ended_on = on[-1].sum(0)
    mean_first = np.where(ended_on > 0, (hist * np.arange(1, T + 1)).sum(1) / np.maximum(ended_on, 1), np.nan)
    late = (~on[0] & on[1]).mean(0) if T >= 2 else np.zeros(H)

    zT = zs[-1].numpy()
    dnorm = model.D.detach().double().norm(dim=0).numpy()
    contrib = zT * dnorm  # |D_i z_i|: each unit's part of the reconstruction
    share = contrib.sum(0) / max(contrib.sum(), 1e-12)
    class_means = np.stack([zT[y == c].mean(0) if (y == c).any() else np.zeros(H) for c in range(10)])
    top = class_means.max(0)
    rest = (class_means.sum(0) - top) / 9
    selectivity = np.where(top + rest > 0, (top - rest) / np.maximum(top + rest, 1e-12), 0.0)

    decoders, errors = [], []
    for step in range(T):
        Z = zs[step]
        G = Z.T @ Z + ridge * torch.eye(H, dtype=Z.dtype)
        Dt = torch.linalg.solve(G, Z.T @ x).T  # (784, H)
        decoders.append(Dt.float().numpy())
        errors.append((0.5 * (x - Z @ Dt.T).pow(2).sum(1)).mean().item())

    S = model.S.detach().double().numpy()
    kind = t["kind"]
    blocks = {}
    for to in ("categorical", "part"):
        for frm in ("categorical", "part"):
            rows, cols = np.flatnonzero(kind == to), np.flatnonzero(kind == frm)
            block = S[np.ix_(rows, cols)]
            mask = rows[:, None] != cols[None, :]
            blocks[(to, frm)] = float(block[mask].mean()) if mask.any() else float("nan")

    t.update({
        "first_step_mean": mean_first, "p_late_start": late, "active_fraction": on[-1].mean(0),
        "recon_share": share, "selectivity": selectivity, "preferred_class": class_means.argmax(0),
    })
    return UnitAnalysis(t, hist, class_means, np.stack(decoders), np.array(errors), blocks, len(y))


def summary(a: UnitAnalysis) -> dict:
    """Group means of every per-unit number, and the counts: what the report and the CLI print."""
    t = a.table
    out = {"counts": kind_counts(t["kind"]), "n_digits": a.n_digits, "groups": {}}
    for k in KINDS:
        m = t["kind"] == k
        if m.any():
            out["groups"][k] = {name: float(np.nanmean(np.asarray(v, dtype=float)[m])) for name, v in t.items()
                                if name not in ("unit", "kind", "c_class", "preferred_class")}
    out["s_blocks"] = {f"{to}<-{frm}": v for (to, frm), v in a.s_blocks.items()}
    out["step_decoder_error"] = a.step_decoder_error.tolist()
    return out
