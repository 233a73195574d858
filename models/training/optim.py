"""The optimiser: parameter groups with the family's lr multipliers, and the lr schedule."""
from __future__ import annotations

import math

import torch

from models.families import of_model
from models.training.config import TrainConfig


def param_groups(model, tc: TrainConfig) -> list[dict]:
    """One group per weight matrix, each with its family's lr multiplier (1 where it names none)."""
    family = of_model(model)
    scales = family.lr_scales(model, tc) if family.lr_scales else {}
    return [{"params": [p], "name": n, "lr_scale": scales.get(n, 1.0)} for n, p in model.named_parameters()]


def make_optimizer(model, tc: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, tc)
    if tc.optimizer == "adam":
        return torch.optim.Adam(groups, lr=tc.lr)
    if tc.optimizer == "adamax":
        return torch.optim.Adamax(groups, lr=tc.lr)
    return torch.optim.SGD(groups, lr=tc.lr, momentum=tc.momentum)


def lr_at(tc: TrainConfig, epoch: int, frac: float) -> float:
    """Cosine decay inside each phase, restarting at the supervised phase (a steady lr at min_lr_ratio 1)."""
    if epoch < tc.pretrain_epochs:
        pos, length = epoch + frac, tc.pretrain_epochs
    else:
        pos, length = epoch - tc.pretrain_epochs + frac, tc.epochs
    cos = 0.5 * (1 + math.cos(math.pi * min(pos / max(length, 1e-9), 1.0)))
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * cos)
