"""The structured + residual DrSAE: each operator of the DrSAE written as ISTA's structured operator on the
decoder being learned, plus a learned residual with a penalty on its size (after Nikooroo & Engel, 2025,
"Structured Transformations for Stable and Interpretable Neural Computation", arXiv 2508.00127):

    E = a Dᵀ + R_E,   S = I - a DᵀD + R_S,   b = a λ + r_b,   then the DrSAE's recurrence, decoder and classifier.

With R = 0 it is ISTA tied to its decoder; with R free it can become a DrSAE. `residual_rank` r > 0 writes each
residual matrix as a product U Vᵀ of rank r; `residual_weight` is the weight of ‖R_E‖² + ‖R_S‖² + ‖r_b‖² in the loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.families.drsae import C_BOUNDS, DrSAE, DrSAEConfig, lr_scales as drsae_lr_scales
from models.families.recurrent import INITS, clip_norm_, ista_operators, start_dictionary
from models.families.registry import Capabilities, Family, register
from models.settings import setting


@dataclass(frozen=True)
class StructuredConfig(DrSAEConfig):
    residual_weight: float = setting(1e-3, "Residual penalty", "weight of ‖R_E‖² + ‖R_S‖² + ‖r_b‖² in the loss "
                                     "(large: ISTA tied to its decoder; 0: free residuals)", min=0.0, max=1e4)
    residual_rank: int = setting(0, "Residual rank", "rank of R_E and R_S as products U Vᵀ (0 = full rank)",
                                 min=0, max=4096, advanced=True)
    # the DrSAE's starting dictionary and decoder step of before: the recipe this family was measured with
    init: str = setting("samples", "Decoder starts from", "the dictionary D the encoder starts as ISTA on",
                        choices=INITS, advanced=True)
    decoder_lr: float = setting(1.0, "Decoder lr ×", "D's lr is this times lr", min=0.0, max=1e4, advanced=True)


class Residual(nn.Module):
    """A (rows × cols) matrix that starts at zero: full, or U Vᵀ of a given rank (U random, V zero)."""

    def __init__(self, rows: int, cols: int, rank: int, g: torch.Generator):
        super().__init__()
        if rank <= 0 or rank >= min(rows, cols):
            self.full = nn.Parameter(torch.zeros(rows, cols))
        else:
            self.U = nn.Parameter(torch.randn(rows, rank, generator=g) / rank ** 0.5)
            self.V = nn.Parameter(torch.zeros(cols, rank))

    def forward(self) -> torch.Tensor:
        return self.full if hasattr(self, "full") else self.U @ self.V.T


class StructuredDrSAE(DrSAE):
    per_digit_clip = False  # its weights are not E, S, b

    def __init__(self, cfg: StructuredConfig, dictionary: torch.Tensor | None = None, seed: int = 0):
        nn.Module.__init__(self)  # not the DrSAE's: no E, S, b parameters
        g = self.decoder_and_classifier_(cfg, dictionary, seed)
        n, m = cfg.hidden, cfg.n_input
        self.R_E = Residual(n, m, cfg.residual_rank, g)
        self.R_S = Residual(n, n, cfg.residual_rank, g)
        self.r_b = nn.Parameter(torch.zeros(n))
        # ISTA's step on the initial decoder, kept fixed: the structured part stays a contraction's form
        self.register_buffer("a", torch.tensor(self.ista_step_size()))

    def structured(self):
        """ISTA's E, S, b on the current decoder: the operators with R = 0. The decoder learns from the
        reconstruction alone, as the DrSAE's does (and a gradient through DᵀD would cost more than the rest)."""
        return ista_operators(self.D.detach(), self.a, self.cfg.sparsity)

    def operators(self):
        E, S, b = self.structured()
        return E + self.R_E(), S + self.R_S(), b + self.r_b

    def penalty(self) -> torch.Tensor:
        return self.cfg.residual_weight * (self.R_E().pow(2).sum() + self.R_S().pow(2).sum() + self.r_b.pow(2).sum())

    @torch.no_grad()
    def project_(self) -> None:
        """The DrSAE's bounds on D and C; E is no parameter here, so its rows are not bounded."""
        clip_norm_(self.D, dim=0, max_norm=self.cfg.d_col_max)
        clip_norm_(self.C, dim=C_BOUNDS[self.cfg.c_bound], max_norm=self.cfg.c_row_max)


def lr_scales(model: StructuredDrSAE, tc) -> dict[str, float]:
    """The DrSAE's: the residuals of E and b move as E and b would."""
    s = drsae_lr_scales(model, tc)
    return {"D": s["D"], "C": s["C"], "r_b": s["b"], "R_E.full": s["E"], "R_E.U": s["E"], "R_E.V": s["E"],
            "R_S.full": s["S"], "R_S.U": s["S"], "R_S.V": s["S"]}


FAMILY = register(Family(
    name="structured-drsae",
    short="SR-DrSAE",
    title="Structured + residual DrSAE",
    summary="A structured + residual DrSAE runs the DrSAE's recurrence with `E = a Dᵀ + R_E`, "
            "`S = I − a DᵀD + R_S`, `b = aλ + r_b`: ISTA's operators on the decoder D being learned, plus residuals "
            "R whose size is penalised (after Nikooroo & Engel, 2025). With R = 0 it is ISTA tied to its decoder.",
    config=StructuredConfig,
    create=StructuredDrSAE,
    capabilities=Capabilities(steps=True, decoder=True, classifier=True, filters=True, kinds=True),
    initialise=lambda cfg, train_x, seed, load, layout: StructuredDrSAE(
        cfg, start_dictionary(train_x, cfg.hidden, seed, cfg.init, layout), seed),
    lr_scales=lr_scales,
    compared=True,
))
