"""The Matryoshka sparse autoencoder (Bussmann et al. and Nabeshima, 2025): nested dictionaries. The first m latents
must reconstruct on their own, for a few prefix sizes m (H/2^(n−1), …, H/2, H), so general features settle in the
first latents and specific ones after them, which is meant to stop a specific latent from absorbing a general one.
Its code is BatchTopK's; its loss the sum of the prefixes' reconstruction losses, plus aux-k:

    Σ_m ½‖x − (W_d[:, :m] z[:m] + b_d)‖²
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.families.batchtopk_sae import BatchTopKConfig, BatchTopKSAE
from models.families.registry import Claim, register
from models.families.sae import BY_K, BY_K_OBJECTIVE, family
from models.settings import setting


@dataclass(frozen=True)
class MatryoshkaConfig(BatchTopKConfig):
    prefixes: int = setting(4, "Nested dictionaries", "n prefixes trained to reconstruct alone: the first H/2^(n−1), "
                            "…, H/2 and all H latents", min=1, max=12)


def prefix_sizes(hidden: int, n: int) -> list[int]:
    """[H/2^(n−1), …, H/2, H], each at least 1, without repeats."""
    return sorted({max(1, hidden >> i) for i in range(n)})


class MatryoshkaSAE(BatchTopKSAE):
    def prefix_losses(self, x: torch.Tensor, z: torch.Tensor) -> list[torch.Tensor]:
        """Per sample, each prefix's ½‖x − x̂_m‖², smallest prefix first."""
        return [0.5 * (x - F.linear(z[:, :m], self.W_dec[:, :m], self.b_dec)).pow(2).sum(1)
                for m in prefix_sizes(self.cfg.hidden, self.cfg.prefixes)]

    def reconstruction_loss(self, x: torch.Tensor, out: dict) -> torch.Tensor:
        return torch.stack(self.prefix_losses(x, out["z"])).sum(0)


FAMILY = register(family(
    name="matryoshka-sae",
    short="Matryoshka SAE",
    title="Matryoshka sparse autoencoder",
    summary="A BatchTopK sparse autoencoder whose first m latents must reconstruct alone, for a few nested sizes m "
            "(Bussmann et al., 2025): general features in the first latents, specific ones later.",
    objective=BY_K_OBJECTIVE,
    config=MatryoshkaConfig,
    create=MatryoshkaSAE,
    **BY_K,
    claims=(Claim("Matryoshka lowers absorption (against BatchTopK, the same code unnested)",
                  "Bussmann et al., 2025", "batchtopk-sae", metric="absorption"),),
))
