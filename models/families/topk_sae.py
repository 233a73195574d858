"""The TopK sparse autoencoder (Gao et al., "Scaling and evaluating sparse autoencoders", 2024): only the k largest
pre-activations of each sample are kept,

    z = ReLU(TopK_k(W_e (x − b_d) + b_e)),   x̂ = W_d z + b_d   (unit decoder columns)

trained on ½‖x − x̂‖² plus the auxiliary loss on dead latents (aux-k, weight 1/32): no sparsity penalty, k sets L0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from models.families.registry import Claim, register
from models.families.sae import AUX_K_COEF, BY_K, BY_K_OBJECTIVE, SAEConfig, SparseAutoencoder, family
from models.settings import setting


@dataclass(frozen=True)
class TopKConfig(SAEConfig):
    k: int = setting(16, "Active latents k", "latents kept per sample (the k largest pre-activations)", min=1,
                     max=4096)
    aux_weight: float = setting(AUX_K_COEF, "Aux-k weight", "weight of the auxiliary loss that trains dead "
                                "latents on the residual (0: off)", min=0.0, max=100.0, advanced=True)


def top_k(pre: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest values of each row kept (and rectified), the rest 0."""
    top = pre.topk(min(k, pre.shape[-1]), dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())


class TopKSAE(SparseAutoencoder):
    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return top_k(pre, self.cfg.k)

    def reconstruction_loss(self, x: torch.Tensor, out: dict) -> torch.Tensor:
        """Per sample, what the code is trained to reconstruct by: ½‖x − x̂‖²."""
        return out["recon"]

    def fit_loss(self, x: torch.Tensor, out: dict) -> torch.Tensor:
        loss = self.reconstruction_loss(x, out)
        return loss + self.cfg.aux_weight * self.aux_k_loss(x, out["x_hat"]) if self.cfg.aux_weight else loss


FAMILY = register(family(
    name="topk-sae",
    short="TopK SAE",
    title="TopK sparse autoencoder",
    summary="A sparse autoencoder that keeps the k largest pre-activations of each sample: `z = ReLU(TopK(W_e (x − "
            "b_d) + b_e))`, `x̂ = W_d z + b_d` (Gao et al., 2024). k sets the sparsity; dead latents learn the "
            "residual through an auxiliary loss.",
    objective=BY_K_OBJECTIVE,
    config=TopKConfig,
    create=TopKSAE,
    **BY_K,
    claims=(Claim("TopK's FVU at equal L0 is lower than the ReLU SAE's", "Gao et al., 2024", "relu-sae"),),
))
