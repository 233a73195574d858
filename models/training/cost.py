"""What a run will cost, before it starts: the floating-point operations of its updates, from its settings, and a
duration at this machine's rate. The Training form shows it and bounds what one click can start."""
from __future__ import annotations

from dataclasses import fields

import torch

# Operations a second a trainer gets on this 2-core CPU, rounded down: the DrSAE default's update (50 digits,
# 0.74 GFLOP with its backward pass) takes 6.3 ms on two threads (bench/family_speed.py), 1.2e11 a second; with its
# validation, checkpoints and a busier machine, half of that.
RATE = 6e10
FALLBACK_SAMPLES = 60_000  # a domain that cannot say how many training samples it has before loading them


def flops_per_sample(family, cfg) -> float:
    """One sample's forward and backward pass (3 × the forward's 2 × multiply-adds). A recurrence applies E and D
    once and S T − 1 times (and dictionary learning runs its sparse codes `fit_iterations` times); a feed-forward model
    touches each weight once: its parameters, counted on a model without memory."""
    names = {f.name for f in fields(cfg)}
    if "unroll" in names:
        h, d, t = cfg.hidden, cfg.n_input, cfg.unroll
        targets = 2.0 * getattr(cfg, "fit_iterations", 0) * h * h  # sparse codes to convergence: forward only
        return 6.0 * h * (2 * d + (t - 1) * h) + targets
    with torch.device("meta"):
        params = sum(p.numel() for p in family.create(cfg).parameters())
    return 6.0 * params


def estimate(family, cfg, tc, n_train: int | None) -> tuple[float, float]:
    """(operations, seconds at RATE) of the whole run: every epoch over `n_train` samples (the data's training set,
    or FALLBACK_SAMPLES), plus a validation pass of a fifth of that."""
    n = tc.limit or n_train or FALLBACK_SAMPLES
    n = min(n, tc.limit) if tc.limit else n
    if tc.train_on == "all":
        n = int(n * 1.2)
    ops = flops_per_sample(family, cfg) * n * tc.total_epochs * 1.2
    return ops, ops / RATE
