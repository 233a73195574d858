"""The rectified Gaussian (Salimans, 2016, "A Structured Variational Auto-encoder for Learning Deep Hierarchies of
Sparse Features"): z = max(0, y), y ~ N(μ, σ²).

It has a point mass Φ(−μ/σ) at exactly 0 and the Gaussian density above 0: spike-and-slab sparsity that stays
reparameterisable (z = relu(μ + σ ε)). Densities are with respect to (a unit mass at 0) + (Lebesgue measure on
z > 0), the measure both the prior and the posterior of a unit share, so log p − log q of a sample is a proper
log-ratio whether the sample is 0 or not.
"""
from __future__ import annotations

import math

import torch

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def sample(mu: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A reparameterised sample: relu(μ + σ ε), ε ~ N(0, 1); exactly 0 with probability Φ(−μ/σ)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return torch.relu(mu + sigma * eps)


def log_prob(z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """log p(z) per element: log Φ(−μ/σ) where z is exactly 0 (stable far in the tails: log_ndtr), the Gaussian's
    log density where z > 0."""
    gauss = -0.5 * ((z - mu) / sigma) ** 2 - torch.log(sigma) - HALF_LOG_2PI
    spike = torch.special.log_ndtr(-mu / sigma)
    return torch.where(z > 0, gauss, spike)


def p_zero(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The probability that the unit is exactly 0: Φ(−μ/σ)."""
    return torch.special.ndtr(-mu / sigma)


def mean(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E[z] = μ Φ(μ/σ) + σ φ(μ/σ)."""
    a = mu / sigma
    return mu * torch.special.ndtr(a) + sigma * torch.exp(-0.5 * a * a - HALF_LOG_2PI)
