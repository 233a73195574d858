"""The JumpReLU sparse autoencoder (Rajamanoharan et al., "Jumping Ahead", 2024): each latent has a learned
threshold θ_i below which it is 0,

    z = pre · H(pre − θ),   pre = W_e (x − b_d) + b_e,   x̂ = W_d z + b_d   (unit decoder columns)

trained on ½‖x − x̂‖² + λ ‖z‖₀. H has no useful derivative, so θ learns through straight-through estimators with a
rectangle kernel K of bandwidth ε: ∂z/∂θ = −(θ/ε) K((pre − θ)/ε) and ∂H(pre − θ)/∂θ = −(1/ε) K((pre − θ)/ε)
(the L0 term reaches θ only, the reconstruction reaches pre as through a ReLU).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from models.families.registry import Claim, register
from models.families.sae import SAEConfig, SparseAutoencoder, family
from models.settings import setting


def rectangle(u: torch.Tensor) -> torch.Tensor:
    """K(u) = 1 on (−½, ½), else 0."""
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class JumpReLU(torch.autograd.Function):
    """pre · H(pre − θ); backward: the gate to pre, −(θ/ε) K((pre − θ)/ε) to θ."""

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        d_pre = grad * (pre > theta).to(pre.dtype)
        d_theta = (grad * -(theta / eps) * rectangle((pre - theta) / eps)).sum(0)
        return d_pre, d_theta, None


class Step(torch.autograd.Function):
    """H(pre − θ); backward: nothing to pre, −(1/ε) K((pre − θ)/ε) to θ."""

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        return None, (grad * -(1.0 / eps) * rectangle((pre - theta) / eps)).sum(0), None


@dataclass(frozen=True)
class JumpReLUConfig(SAEConfig):
    sparsity: float = setting(0.001, "Sparsity λ", "weight of the L0 ‖z‖₀ against ½‖x − x̂‖²", min=0.0, max=10.0)
    bandwidth: float = setting(0.001, "Bandwidth ε", "width of the straight-through estimators' kernel (in the "
                               "inputs' units)", min=1e-6, max=1.0, advanced=True)
    start_threshold: float = 0.001  # θ at the start (the paper's)


class JumpReLUSAE(SparseAutoencoder):
    def __init__(self, cfg: JumpReLUConfig, seed: int = 0, mean: torch.Tensor | None = None):
        super().__init__(cfg, seed, mean)
        self.threshold = torch.nn.Parameter(torch.full((cfg.hidden,), cfg.start_threshold))

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return JumpReLU.apply(pre, self.threshold.to(pre.dtype), self.cfg.bandwidth)

    def code_cost(self, z: torch.Tensor) -> torch.Tensor:
        """L0: the latents on."""
        return (z > 0).sum(-1).to(z.dtype)

    def fit_loss(self, x: torch.Tensor, out: dict) -> torch.Tensor:
        l0 = Step.apply(self.last_pre, self.threshold, self.cfg.bandwidth).sum(-1)
        return out["recon"] + self.cfg.sparsity * l0

    @torch.no_grad()
    def project_(self) -> None:
        super().project_()
        self.threshold.clamp_(min=1e-6)  # a threshold at or below 0 would pass every positive pre-activation


FAMILY = register(family(
    name="jumprelu-sae",
    short="JumpReLU SAE",
    title="JumpReLU sparse autoencoder",
    summary="A sparse autoencoder whose latents switch on only above a learned threshold θ_i: `z = pre · H(pre − θ)` "
            "(Rajamanoharan et al., 2024), trained on ½‖x − x̂‖² + λ‖z‖₀ through straight-through estimators.",
    objective="½‖x − x̂‖² + λ‖z‖₀ (the latents on)",
    config=JumpReLUConfig,
    create=JumpReLUSAE,
    sparsity_examples="0.0005, 0.001, 0.003",
    claims=(Claim("JumpReLU's FVU at equal L0 is at least as low as TopK's", "Rajamanoharan et al., 2024",
                  "topk-sae", how="at most"),),
))
