"""What the pages show per recurrent step, computed once per (model, samples, max steps).

Sliders then index into these arrays instead of running the model again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.data import Split
from models.families import capabilities as capabilities_of
from models.kinds import KINDS


@dataclass
class StepStats:
    """Per-step summaries over a set of samples; step t (1-based) is index t - 1. A model without a classifier
    has no predictions (None), one without a decoder no reconstruction."""
    labels: np.ndarray | None  # (n,); None for unlabelled samples
    active: np.ndarray  # (steps,) mean number of active units
    preds: np.ndarray | None  # (steps, n) int16: predicted class after each step
    confidence: np.ndarray | None  # (steps, n) float32: probability of the predicted class
    error: np.ndarray | None  # (steps,) classification error (%)
    recon: np.ndarray | None  # (steps,) mean 1/2||x - x_hat(z_t)||^2
    classes: int = 0  # the classifier's classes (0: none)

    @property
    def steps(self) -> int:
        return len(self.active)

    def confusion(self, step: int) -> np.ndarray:
        """classes × classes counts, rows the true class, columns the prediction after `step` steps."""
        m = np.zeros((self.classes, self.classes), dtype=np.int64)
        np.add.at(m, (self.labels, self.preds[step - 1]), 1)
        return m


@torch.no_grad()
def step_stats(model, samples: Split, steps: int, batch: int = 1000) -> StepStats:
    """`steps` is the most steps any view needs; a model without recurrent steps has one."""
    model.eval()
    capabilities = capabilities_of(model)
    steps = steps if capabilities.steps else 1
    n = len(samples)
    active = np.zeros(steps)
    classes = getattr(model.cfg, "n_classes", 0) if capabilities.classifier else 0
    preds = np.zeros((steps, n), dtype=np.int16) if capabilities.classifier else None
    conf = np.zeros((steps, n), dtype=np.float32) if capabilities.classifier else None
    recon = np.zeros(steps) if capabilities.decoder else None
    D = torch.from_numpy(model.unit_weights().decoder.T).float() if capabilities.filters else None
    G = None if D is None else D.T @ D  # ||x - Dz||^2 = ||x||^2 - 2 z.(D^T x) + z.(G z): no decode per step
    # a linear decoder's offset, x_hat(0) (a sparse autoencoder's b_d): the identity holds for x − x_hat(0)
    offset = model.decode(torch.zeros(1, model.cfg.hidden))[0].float() if D is not None else None
    for i in range(0, n, batch):
        x = samples.x[i:i + batch]
        zs = model.encode(x, steps)  # (steps, b, hidden)
        active += (zs > 0).sum((1, 2)).double().numpy()
        if preds is not None:
            c, k = torch.softmax(model.classify(zs), dim=-1).max(-1)
            preds[:, i:i + batch], conf[:, i:i + batch] = k.numpy(), c.numpy()
        if recon is not None:
            if G is not None:
                r = x - offset
                sq = r.pow(2).sum(-1) - 2 * (zs * (r @ D)).sum(-1) + (zs * (zs @ G)).sum(-1)  # (steps, b)
            else:
                sq = (x - model.decode(zs)).pow(2).sum(-1)
            recon += (0.5 * sq.clamp_min(0)).sum(-1).double().numpy()
    labels = None if samples.y is None else samples.y.numpy()
    error = None if preds is None or labels is None else 100.0 * (preds != labels[None]).mean(1)
    k = max(n, 1)
    return StepStats(labels, active / k, preds, conf, error, None if recon is None else recon / k, classes)


@dataclass
class Trace:
    """One sample through `steps` steps."""
    x: np.ndarray  # (d,) the input as the family reads it
    z: np.ndarray  # (steps, hidden)
    recon: np.ndarray | None  # (steps, d): the reconstruction from z_t
    probs: np.ndarray | None  # (steps, classes)


@torch.no_grad()
def trace(model, x: torch.Tensor, steps: int) -> Trace:
    model.eval()
    capabilities = capabilities_of(model)
    zs = model.encode(x.reshape(1, -1), steps if capabilities.steps else 1)[:, 0]
    return Trace(x.reshape(-1).numpy(), zs.numpy(),
                 model.decode(zs).numpy() if capabilities.decoder else None,
                 torch.softmax(model.classify(zs), -1).numpy() if capabilities.classifier else None)


def group_activity(z: np.ndarray, kind: np.ndarray) -> dict[str, np.ndarray]:
    """Total activity per step of each kind of unit; z is (steps, hidden) or (steps, n, hidden)."""
    return {k: z[..., kind == k].sum(-1) for k in KINDS}


@dataclass
class Codes:
    """z_T of every sample and, where they have labels, each unit's mean z_T per class."""
    z: np.ndarray  # (n, hidden)
    per_class: np.ndarray | None  # (classes, hidden)


@torch.no_grad()
def codes(model, samples: Split, steps: int, batch: int = 1000) -> Codes:
    model.eval()
    z = torch.cat([model.code(samples.x[i:i + batch], steps) for i in range(0, len(samples), batch)]).numpy()
    if samples.y is None:
        return Codes(z, None)
    y = samples.y.numpy()
    per_class = np.stack([z[y == c].mean(0) if (y == c).any() else np.zeros(z.shape[1])
                          for c in range(int(y.max()) + 1)])
    return Codes(z, per_class)
