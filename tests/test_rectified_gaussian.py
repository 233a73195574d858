"""The rectified Gaussian's density against numerical integration, its point mass at 0, its mean and its
gradients (#21's units)."""
import math

import numpy as np
import pytest
import torch

import models.families.rg_vae.rectified_gaussian as rg

CASES = [(0.0, 1.0), (1.5, 0.5), (-2.0, 0.7), (0.3, 3.0), (-6.0, 1.0)]


def integral(f, lo: float, hi: float, n: int = 200_001) -> float:
    """∫ f over [lo, hi] by the trapezoid rule in float64."""
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    return float(torch.trapezoid(f(x), x))


@pytest.mark.parametrize("mu,sigma", CASES)
def test_the_spike_and_the_slab_add_up_to_one(mu, sigma):
    m, s = torch.tensor(mu, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)
    spike = float(torch.exp(rg.log_prob(torch.tensor(0.0, dtype=torch.float64), m, s)))
    assert spike == pytest.approx(0.5 * math.erfc(mu / sigma / math.sqrt(2)), rel=1e-9)  # Φ(−μ/σ)
    assert spike == pytest.approx(float(rg.p_zero(m, s)), rel=1e-9)
    hi = max(mu, 0.0) + 12 * sigma
    slab = integral(lambda z: torch.exp(rg.log_prob(z.clamp_min(1e-300), m, s)), 0.0, hi)
    assert spike + slab == pytest.approx(1.0, abs=1e-6)
    first = integral(lambda z: z * torch.exp(rg.log_prob(z.clamp_min(1e-300), m, s)), 0.0, hi)
    assert float(rg.mean(m, s)) == pytest.approx(first, abs=1e-6)  # E[z]: the slab's first moment


def test_samples_are_exactly_zero_as_often_as_the_spike_says():
    g = torch.Generator().manual_seed(0)
    mu = torch.full((200_000,), 0.4)
    sigma = torch.full((200_000,), 0.8)
    z = rg.sample(mu, sigma, g)
    assert (z >= 0).all()
    share = (z == 0).double().mean().item()
    assert share == pytest.approx(float(rg.p_zero(mu[0], sigma[0])), abs=0.004)  # Φ(−0.5) = 0.3085
    assert z.double().mean().item() == pytest.approx(float(rg.mean(mu[0], sigma[0])), abs=0.004)
    assert torch.isfinite(rg.log_prob(z, mu, sigma)).all()


def test_far_tails_stay_finite():
    z = torch.zeros(2)
    mu = torch.tensor([-40.0, 40.0])
    lp = rg.log_prob(z, mu, torch.ones(2))
    assert lp[0].item() == pytest.approx(0.0, abs=1e-12)  # certainly 0
    assert lp[1].item() == pytest.approx(-804.6084420137538, rel=1e-6)  # log Φ(−40), not −inf
    assert np.isfinite(lp.numpy()).all()


def test_gradients_through_the_spike_and_the_sample():
    mu = torch.tensor([0.3, -1.0], dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor([0.7, 1.3], dtype=torch.float64, requires_grad=True)
    z = torch.tensor([0.0, 0.8], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda m, s: rg.log_prob(z, m, s), (mu, sigma))
    # d/dμ log Φ(−μ/σ) = −φ(μ/σ) / (σ Φ(−μ/σ)) at z = 0
    (g,) = torch.autograd.grad(rg.log_prob(z, mu, sigma)[0], mu)
    a = 0.3 / 0.7
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    assert g[0].item() == pytest.approx(-phi / (0.7 * 0.5 * math.erfc(a / math.sqrt(2))), rel=1e-9)
    # a sample is differentiable in μ and σ where it is positive, and flat where it is 0
    eps = torch.tensor([1.0, -5.0], dtype=torch.float64)
    s = torch.relu(mu + sigma * eps)
    s.sum().backward()
    assert mu.grad.tolist() == [1.0, 0.0] and sigma.grad.tolist() == [1.0, 0.0]
