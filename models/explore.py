"""Everything the pages show, per recurrent step, computed once per (model, digits, max steps).

Sliders then index into these arrays instead of running the model again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.data import Split
from models.drsae import DrSAE


@dataclass
class StepStats:
    """Per-step summaries over a set of digits; step t (1-based) is index t - 1."""
    labels: np.ndarray  # (n,)
    preds: np.ndarray  # (steps, n) int8: predicted class after each step
    confidence: np.ndarray  # (steps, n) float32: probability of the predicted class
    recon: np.ndarray  # (steps,) mean 1/2||x - D z_t||^2
    error: np.ndarray  # (steps,) classification error (%)
    active: np.ndarray  # (steps,) mean number of active units

    @property
    def steps(self) -> int:
        return len(self.recon)

    def confusion(self, step: int) -> np.ndarray:
        """10x10 counts, rows the true class, columns the prediction after `step` steps."""
        m = np.zeros((10, 10), dtype=np.int64)
        np.add.at(m, (self.labels, self.preds[step - 1]), 1)
        return m


@torch.no_grad()
def step_stats(model: DrSAE, digits: Split, steps: int, batch: int = 1000) -> StepStats:
    model.eval()
    n = len(digits)
    preds = np.zeros((steps, n), dtype=np.int8)
    conf = np.zeros((steps, n), dtype=np.float32)
    recon = np.zeros(steps)
    active = np.zeros(steps)
    G = model.D.T @ model.D  # ||x - Dz||^2 = ||x||^2 - 2 z.(D^T x) + z.(G z): no 784-wide decode per step
    for i in range(0, n, batch):
        x = digits.x[i:i + batch]
        zs = model.encode(x, steps)  # (steps, b, hidden)
        p = torch.softmax(model.classify(zs), dim=-1)
        c, k = p.max(-1)
        preds[:, i:i + batch], conf[:, i:i + batch] = k.numpy(), c.numpy()
        dtx = x @ model.D  # (b, hidden)
        sq = x.pow(2).sum(-1) - 2 * (zs * dtx).sum(-1) + (zs * (zs @ G)).sum(-1)  # (steps, b)
        recon += (0.5 * sq.clamp_min(0)).sum(-1).double().numpy()
        active += (zs > 0).sum((1, 2)).double().numpy()
    labels = digits.y.numpy()
    error = 100.0 * (preds != labels[None]).mean(1)
    return StepStats(labels, preds, conf, recon / max(n, 1), error, active / max(n, 1))


@dataclass
class Trace:
    """One digit through `steps` steps."""
    z: np.ndarray  # (steps, hidden)
    recon: np.ndarray  # (steps, 784): D z_t
    probs: np.ndarray  # (steps, 10)
    x: np.ndarray  # (784,) the normalised input


@torch.no_grad()
def trace(model: DrSAE, x: torch.Tensor, steps: int) -> Trace:
    model.eval()
    zs = model.encode(x.reshape(1, -1), steps)[:, 0]
    return Trace(zs.numpy(), model.decode(zs).numpy(), torch.softmax(model.classify(zs), -1).numpy(),
                 x.reshape(-1).numpy())


def group_activity(z: np.ndarray, kind: np.ndarray) -> dict[str, np.ndarray]:
    """Total activity per step of each group of units; z is (steps, hidden) or (steps, n, hidden)."""
    return {k: z[..., kind == k].sum(-1) for k in ("categorical", "intermediate", "part")}


def unit_order(kind: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Categorical units first, then intermediate, then part; by falling angle inside each group."""
    rank = {"categorical": 0, "intermediate": 1, "part": 2}
    return np.array(sorted(range(len(kind)), key=lambda i: (rank[kind[i]], -angle[i])))


@torch.no_grad()
def unit_activity(model: DrSAE, digits: Split, steps: int, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """z_T of every digit (n, hidden) and each unit's mean activity per class (10, hidden)."""
    model.eval()
    z = torch.cat([model.code(digits.x[i:i + batch], steps) for i in range(0, len(digits), batch)]).numpy()
    y = digits.y.numpy()
    per_class = np.stack([z[y == c].mean(0) if (y == c).any() else np.zeros(z.shape[1]) for c in range(10)])
    return z, per_class
