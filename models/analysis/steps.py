"""What the pages show per recurrent step, computed once per (model, samples, max steps).

Sliders then index into these arrays instead of running the model again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.analysis.codes import LinearDecoder, SparseCodes, sparse
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
    """`steps` is the most steps any view needs; a model without recurrent steps has one (see `codes`, which
    measures that one step while it keeps the codes)."""
    model.eval()
    capabilities = capabilities_of(model)
    steps = steps if capabilities.steps else 1
    n = len(samples)
    active = np.zeros(steps)
    classes = getattr(model.cfg, "n_classes", 0) if capabilities.classifier else 0
    preds = np.zeros((steps, n), dtype=np.int16) if capabilities.classifier else None
    conf = np.zeros((steps, n), dtype=np.float32) if capabilities.classifier else None
    recon = np.zeros(steps) if capabilities.decoder else None
    squared = squared_error(model)
    for i in range(0, n, batch):
        x = samples.x[i:i + batch]
        zs = model.encode(x, steps)  # (steps, b, hidden)
        active += (zs > 0).sum((1, 2)).double().numpy()
        if preds is not None:
            c, k = torch.softmax(model.classify(zs), dim=-1).max(-1)
            preds[:, i:i + batch], conf[:, i:i + batch] = k.numpy(), c.numpy()
        if recon is not None:
            recon += (0.5 * squared(x, zs)).sum(-1).double().numpy()
    labels = None if samples.y is None else samples.y.numpy()
    error = None if preds is None or labels is None else 100.0 * (preds != labels[None]).mean(1)
    k = max(n, 1)
    return StepStats(labels, active / k, preds, conf, error, None if recon is None else recon / k, classes)


def squared_error(model):
    """(x (b, d), zs (steps, b, hidden)) -> ‖x − x̂(z_t)‖² (steps, b). A linear decoder (a model with filters):
    with at most as many units as inputs through the Gram matrix, ‖x − x̂0‖² − 2 z·(Dᵀ(x − x̂0)) + z·(DᵀD z), no
    decode per step; with more (a wide dictionary) through the active units' decoder rows alone (codes.py)."""
    caps = capabilities_of(model)
    if not caps.filters:
        return lambda x, zs: (x - model.decode(zs)).pow(2).sum(-1)
    dec = LinearDecoder.of(model)
    D = dec.rows.T  # (d, hidden)
    if model.cfg.hidden > D.shape[0]:
        def through_entries(x, zs):
            out = []
            for z in zs:
                c = sparse(z)
                out.append((x - dec(c)).pow(2).sum(-1))
            return torch.stack(out)
        return through_entries
    G = D.T @ D

    def through_gram(x, zs):
        r = x - dec.offset  # the identity holds for x − x̂(0)
        return (r.pow(2).sum(-1) - 2 * (zs * (r @ D)).sum(-1) + (zs * (zs @ G)).sum(-1)).clamp_min(0)
    return through_gram


@dataclass
class Converged:
    """A model's dictionary's converged codes on the samples, beside its own codes at T (Capabilities.converged)."""
    recon: float  # mean ½‖x − D z*‖²
    active: float  # mean units of z* active (its L0)
    fvu: float  # Σ‖x − D z*‖² / Σ‖x − x̄‖², on the data as given (rows scaled one by one: scaled back)


@torch.no_grad()
def converged(model, samples, batch: int = 1000) -> Converged:
    """`samples`: a Split, or a StoredSplit read a batch at a time."""
    from models.training.validate import Moments

    model.eval()
    moments, given, on = Moments(), Moments(), 0.0
    for part in samples.batches(batch):
        z = model.converged(part.x)
        x_hat = model.decode(z)
        moments.add(part.x, x_hat)
        if part.row_scale is not None:  # the FVU on the data as given, as evaluate_split's
            given.add(part.x / part.row_scale[:, None], x_hat / part.row_scale[:, None])
        on += float((z > 0).sum())
    n = max(len(samples), 1)
    return Converged(0.5 * moments.err / n, on / n, given.fvu() if given.n else moments.fvu())


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
    """z_t of every sample at one step count (sparse), each unit's mean per class where they have labels, and the
    step's summaries (a model without recurrent steps: all its StepStats, from the same pass)."""
    z: SparseCodes  # (n, hidden)
    per_class: np.ndarray | None  # (classes, hidden)
    stats: StepStats  # at this step count alone


@torch.no_grad()
def codes(model, samples: Split, steps: int, batch: int = 1000) -> Codes:
    """One pass over the samples: each batch's codes kept sparse, its reconstruction from them."""
    model.eval()
    caps = capabilities_of(model)
    steps = steps if caps.steps else 1
    decoder = LinearDecoder.of(model) if caps.filters else None
    parts, recon, preds, conf = [], [], [], []
    for i in range(0, len(samples), batch):
        x = samples.x[i:i + batch]
        z = model.code(x, steps)
        c = sparse(z)
        parts.append(c)
        if caps.decoder:
            x_hat = decoder(c) if decoder is not None else model.decode(z)
            recon.append((0.5 * (x - x_hat).pow(2).sum(-1)).double().numpy())
        if caps.classifier:
            p, k = torch.softmax(model.classify(z), dim=-1).max(-1)
            preds.append(k.numpy().astype(np.int16)), conf.append(p.numpy())
    z = SparseCodes.joined(parts, model.cfg.hidden)
    y = None if samples.y is None else samples.y.numpy()
    n = max(len(samples), 1)
    pred = np.concatenate(preds)[None] if preds else None
    stats = StepStats(y, np.array([z.active().sum() / n]), pred, np.concatenate(conf)[None] if conf else None,
                      None if pred is None or y is None else 100.0 * (pred != y[None]).mean(1),
                      np.array([np.concatenate(recon).sum() / n]) if recon else None,
                      getattr(model.cfg, "n_classes", 0) if caps.classifier else 0)
    return Codes(z, None if y is None else z.class_means(y), stats)
