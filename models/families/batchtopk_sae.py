"""The BatchTopK sparse autoencoder (Bussmann et al., 2024): in training, the k·B largest activations of a batch of B
samples are kept, wherever they fall (a sample may get more than k, another fewer); for inference, a threshold θ,
the running mean of the smallest activation each training batch kept, replaces the batch:

    training: z = BatchTopK_{k·B}(ReLU(W_e (x − b_d) + b_e)),   inference: z = pre · 1[pre > θ]

Unit decoder columns; ½‖x − x̂‖² plus aux-k, as TopK.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from models.families.registry import register
from models.families.sae import BY_K, BY_K_OBJECTIVE, family
from models.families.topk_sae import TopKConfig, TopKSAE

THRESHOLD_RATE = 0.01  # after the first 100 batches, θ follows an exponential average of this rate


@dataclass(frozen=True)
class BatchTopKConfig(TopKConfig):
    pass


def batch_top_k(pre: torch.Tensor, k: int) -> torch.Tensor:
    """The k · batch largest rectified values of the whole batch kept, the rest 0."""
    flat = pre.relu().flatten()
    top = flat.topk(min(k * len(pre), flat.numel()))
    return torch.zeros_like(flat).scatter(0, top.indices, top.values).view_as(pre)


class BatchTopKSAE(TopKSAE):
    def __init__(self, cfg, seed: int = 0, mean: torch.Tensor | None = None):
        super().__init__(cfg, seed, mean)
        self.register_buffer("threshold", torch.zeros(()))
        self.register_buffer("threshold_batches", torch.zeros((), dtype=torch.long))

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return pre * (pre > self.threshold)
        z = batch_top_k(pre, self.cfg.k)
        with torch.no_grad():
            kept = z[z > 0]
            if len(kept):
                rate = max(THRESHOLD_RATE, 1.0 / float(self.threshold_batches + 1))  # a plain mean at first
                self.threshold.lerp_(kept.min(), rate)
                self.threshold_batches.add_(1)
        return z


FAMILY = register(family(
    name="batchtopk-sae",
    short="BatchTopK SAE",
    title="BatchTopK sparse autoencoder",
    summary="A sparse autoencoder that keeps the k·B largest activations of a training batch of B samples, wherever "
            "they fall, and at inference every activation above a threshold learned in training (Bussmann et al., "
            "2024): k is the mean L0, samples may use more or fewer.",
    objective=BY_K_OBJECTIVE,
    config=BatchTopKConfig,
    create=BatchTopKSAE,
    **BY_K,
))
