"""LISTA (Gregor & LeCun, ICML 2010): the recurrence's E, S, b learned so that T steps regress the converged
sparse codes of a dictionary D, without labels. It starts as ISTA on D (E = a Dᵀ, S = I - a DᵀD, b = a λ).

D is learned alongside by dictionary learning (as ISTA's family does), or taken, fixed, from a trained model's
decoder (`dictionary`: an ISTA run's, to compare both on the same D). As for ISTA, a classifier on the codes'
direction is trained on the codes as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.families.ista import TRAIN_DEFAULTS, CodingModel, SparseCodingConfig, lr_scales, new
from models.families.recurrent import ista_operators
from models.families.registry import Capabilities, Family, register


@dataclass(frozen=True)
class LISTAConfig(SparseCodingConfig):
    pass


class LISTA(CodingModel):
    def __init__(self, cfg: SparseCodingConfig, dictionary: torch.Tensor | None = None, seed: int = 0):
        super().__init__(cfg, dictionary, seed)
        E, S, b = ista_operators(self.D.detach(), self.a.item(), cfg.sparsity)
        self.E, self.S, self.b = nn.Parameter(E.clone()), nn.Parameter(S.clone()), nn.Parameter(b.clone())

    def operators(self):
        return self.E, self.S, self.b

    def fit_loss(self, x: torch.Tensor, out: dict) -> torch.Tensor:
        """½‖z_T - z*‖² (the encoder regresses the converged codes), plus dictionary learning's term."""
        z_star = self.targets(x)
        loss = 0.5 * (out["z"] - z_star).pow(2).sum(1)
        return loss + self.dictionary_loss(x, z_star) if self.learns_dictionary else loss


FAMILY = register(Family(
    name="lista",
    short="LISTA",
    title="Learned ISTA",
    summary="LISTA runs ISTA's recurrence `z_{t+1} = ReLU(E x + S z_t − b)` with E, S, b learned so that T steps "
            "land on the converged sparse codes of its dictionary D (Gregor & LeCun, 2010); no labels reach the "
            "encoder. Where the data has labels, a classifier is trained on its codes.",
    config=LISTAConfig,
    create=LISTA,
    capabilities=Capabilities(steps=True, decoder=True, classifier=True, filters=True, kinds=True, converged=True),
    initialise=lambda cfg, train_x, seed, load, layout: new(cfg, train_x, seed, load, layout, LISTA),
    lr_scales=lr_scales,
    train_defaults=TRAIN_DEFAULTS,
    compared=True,
    dictionary_from="ista",
))
