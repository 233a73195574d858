"""The ReLU sparse autoencoder with an L1 penalty weighted by the decoder's norms (Anthropic's April 2024 update of
"Towards Monosemanticity"): z = ReLU(W_e (x − b_d) + b_e), x̂ = W_d z + b_d, trained on

    ½‖x − x̂‖² + λ Σ_i z_i ‖W_d[:, i]‖

The decoder's columns are free (the penalty, not a projection, keeps the code from shrinking into them).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.families.registry import register
from models.families.sae import SAEConfig, SparseAutoencoder, family
from models.settings import setting


@dataclass(frozen=True)
class ReluSAEConfig(SAEConfig):
    sparsity: float = setting(0.04, "Sparsity λ", "weight of Σ z_i ‖W_d[:, i]‖ against ½‖x − x̂‖²", min=0.0,
                              max=10.0)


class ReluSAE(SparseAutoencoder):
    unit_decoder = False
    decoder_start_norm = 0.1  # Anthropic's start: small columns, which the penalty's weights then follow

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return F.relu(pre)

    def code_cost(self, z: torch.Tensor) -> torch.Tensor:
        """Σ_i z_i ‖W_d[:, i]‖: the L1 a latent pays by how much it writes."""
        return (z * self.W_dec.norm(dim=0).to(z.dtype)).sum(-1)


FAMILY = register(family(
    name="relu-sae",
    short="ReLU SAE",
    title="ReLU sparse autoencoder (L1)",
    summary="A sparse autoencoder: `z = ReLU(W_e (x − b_d) + b_e)`, `x̂ = W_d z + b_d`, trained on ½‖x − x̂‖² + "
            "λ Σ z_i ‖W_d[:, i]‖ (the L1 penalty weighted by each latent's decoder norm, Anthropic 2024).",
    objective="½‖x − x̂‖² + λ Σ_i ‖d_i‖ z_i (each latent weighted by its decoder's norm)",
    config=ReluSAEConfig,
    create=ReluSAE,
    sparsity_examples="0.02, 0.04, 0.08",
))
