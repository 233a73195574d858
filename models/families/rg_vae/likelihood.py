"""What a generative hierarchy of sparse units achieves on test digits: its bound on log p(x) (the ELBO, one sample
per digit), an importance-weighted estimate of log p(x) (Burda et al., 2015), and per layer the KL, how often units
are exactly zero, how many units are active, and how well a linear probe reads the class from the layer's code.

Every number is on the digits binarised once with the model's own seed (`evaluation_inputs`), in nats.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.probe import linear_probe
from models.data import Split
import models.families.rg_vae.rectified_gaussian as rg

ACTIVE_COVARIANCE = 0.01  # a unit is active when its posterior mean varies over digits by more (Burda et al.)
SEED = 0  # the samples' seed: the same model and digits give the same numbers


@dataclass
class Totals:
    """Sums over digits of one posterior sample each (bottom layer first)."""
    digits: int
    recon: float  # of −log p(x | z_1)
    kl: list[float]  # of each layer's log q − log p
    on: list[float]  # of each layer's units not exactly 0
    p_zero: list[np.ndarray]  # of each unit's posterior probability of being exactly 0


@torch.no_grad()
def sampled_totals(model, x: torch.Tensor, generator: torch.Generator, batch: int = 2000) -> Totals:
    """The one sampled pass behind a training row's validation numbers and the test-set evaluation: `x` as
    evaluated (binarised), batches moved to the model's device, `generator` on that device."""
    device = next(model.parameters()).device
    L = len(model.cfg.sizes)
    recon, kl, on, p_zero = 0.0, [0.0] * L, [0.0] * L, [0.0] * L
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(device)
        ps = model.run(xb, sample=True, generator=generator)
        recon += F.binary_cross_entropy_with_logits(ps.logits, xb, reduction="sum").item()
        for l in range(L):  # noqa: E741
            kl[l] += ps.kl[l].sum().item()
            on[l] += float((ps.z[l] > 0).sum())
            p_zero[l] = p_zero[l] + rg.p_zero(*ps.q[l]).sum(0).double().cpu().numpy()
    return Totals(len(x), recon, kl, on, p_zero)



@torch.no_grad()
def importance_weighted(model, x: torch.Tensor, k: int, rows: int = 10_000, seed: int = SEED) -> torch.Tensor:
    """Per digit, log (1/k) Σ_i p(x, z_i) / q(z_i | x) with z_i ~ q(z | x): a lower bound on log p(x) that tightens
    as k grows (k = 1 is the ELBO). `rows`: digit × sample rows per forward pass."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    per = max(1, rows // k)  # digits per pass
    out = []
    for i in range(0, len(x), per):
        xs = x[i:i + per]
        chunks = []
        for j in range(0, k, max(1, rows // len(xs))):  # samples per pass, for k larger than `rows`
            kk = min(k - j, max(1, rows // len(xs)))
            rep = xs.repeat_interleave(kk, 0)
            ll, kl = model.log_weights(rep, generator=g)
            chunks.append((ll - torch.stack(kl).sum(0)).view(len(xs), kk))
        w = torch.cat(chunks, 1).double()
        out.append(torch.logsumexp(w, 1) - math.log(k))
    return torch.cat(out)


@dataclass
class Layer:
    units: int
    kl: float  # mean over digits of log q(z_l) − log p(z_l | z_{l+1}), one sample (nats)
    zero_fraction: float  # share of the layer's sampled values that are exactly 0
    active: int  # units whose posterior mean varies over digits by more than ACTIVE_COVARIANCE
    probe_error: float | None  # a linear probe's test error (%) on the layer's posterior means
    p_zero: np.ndarray  # (units,) each unit's mean probability under q of being exactly 0
    activity: np.ndarray  # (units,) variance over digits of each unit's posterior mean


@dataclass
class Likelihood:
    digits: int
    elbo: float  # mean over digits (nats)
    recon: float  # −E_q log p(x | z_1)
    layers: list[Layer]  # bottom first
    iwae: float | None  # the importance-weighted bound on `iwae_digits` digits with `iwae_k` samples each
    iwae_k: int
    iwae_digits: int
    elbo_on_iwae_digits: float | None  # the ELBO on those same digits, to set beside it
    seconds: float

    @property
    def kl(self) -> float:
        return sum(layer.kl for layer in self.layers)

    @property
    def zero_fraction(self) -> float:
        return sum(la.zero_fraction * la.units for la in self.layers) / sum(la.units for la in self.layers)


@torch.no_grad()
def posterior_means(model, x: torch.Tensor, batch: int = 2000) -> list[np.ndarray]:
    """Each layer's posterior mean per digit (the deterministic code), bottom first: (digits, units) each."""
    model.eval()
    parts = [model.run(x[i:i + batch], sample=False).z for i in range(0, len(x), batch)]
    return [torch.cat([p[l] for p in parts]).numpy() for l in range(len(parts[0]))]  # noqa: E741


@torch.no_grad()
def likelihood(model, split: Split, iwae_k: int = 1000, iwae_digits: int = 1000, probe: bool = True,
               batch: int = 2000, seed: int = SEED) -> Likelihood:
    """All of the above on `split` (its inputs as the model's family reads them: intensities). iwae_k 0: no
    importance-weighted estimate."""
    t0 = time.time()
    model.eval()
    x = model.evaluation_inputs(split.x)
    g = torch.Generator().manual_seed(seed)
    t = sampled_totals(model, x, g, batch)
    kl = np.array(t.kl)
    n = max(len(x), 1)
    means = posterior_means(model, x, batch)
    y = None if split.y is None else split.y.numpy()
    half = n // 2
    layers = []
    for l, size in enumerate(model.cfg.sizes):  # noqa: E741
        activity = means[l].var(0)
        err = (linear_probe(means[l][:half], y[:half], means[l][half:], y[half:]) if probe and y is not None
               and half >= 10 else None)
        active = int((activity > ACTIVE_COVARIANCE).sum())
        layers.append(Layer(size, float(kl[l] / n), float(1 - t.on[l] / (n * size)), active, err,
                            np.asarray(t.p_zero[l]) / n, activity))
    iw = elbo_iw = None
    m = min(iwae_digits, n)
    if iwae_k > 0 and m > 0:
        iw = importance_weighted(model, x[:m], iwae_k, seed=seed).mean().item()
        ll, kls = model.log_weights(x[:m], generator=torch.Generator().manual_seed(seed))
        elbo_iw = (ll - torch.stack(kls).sum(0)).mean().item()
    return Likelihood(n, float(-(t.recon / n + kl.sum() / n)), t.recon / n, layers, iw, iwae_k, m if iw is not None else 0,
                      elbo_iw, time.time() - t0)
