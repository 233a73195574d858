"""The Discriminative Recurrent Sparse Auto-Encoder (Rolfe & LeCun, ICLR 2013).

    z_0 = 0,  z_{t+1} = ReLU(E x + S z_t - b),  x_hat = D z_T,  p(y|x) = softmax(C z_T / ||z_T||)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.families.recurrent import (
    INITS, RecurrentEncoder, clip_norm_, ista_operators, lipschitz, random_dictionary, start_dictionary,
)
from models.families.registry import Capabilities, Family, register
from models.settings import Config, setting

EPS = 1e-8  # keeps C z / ||z|| finite when every unit is silent
C_BOUNDS = {"unit": 0, "class": 1}  # the dim of C (classes x hidden) whose norms are bounded


@dataclass(frozen=True)
class DrSAEConfig(Config):
    LEGACY = {"init": "samples", "decoder_lr": 1.0}  # runs written before the settings: their recipe

    n_input: int = 0  # from the data (Family.fit)
    hidden: int = setting(400, "Hidden units", "units of the code z", min=1, max=4096)
    unroll: int = setting(11, "Unroll T", "recurrent steps z_1..z_T", min=1, max=100)
    sparsity: float = setting(0.025, "Sparsity λ", "weight of the L1 term λ‖z‖₁ (chosen on the validation split: "
                              "docs/results.md)", min=0.0, max=10.0)
    n_classes: int = 0  # from the data's labels: 0, no classifier (L_U alone)
    d_col_max: float = 1.0
    c_row_max: float = 5.0  # the bound on C's norms: per class (the paper's "rows of C") or per unit
    # "class": each class's row C[k, :] (the paper's words); its budget then piles onto one unit per class and
    # caps every logit at 5. "unit": each unit's weights to the classes, C[:, i], so every categorical unit can
    # get a strong vote (faster to train at 200 units, the same error at 400: docs/results.md).
    c_bound: str = setting("class", "‖C‖ ≤ 5 bounds", "bound each class's row C[k, :] (the paper) or each unit's "
                           "weights C[:, i]", choices={"class": "each class's weights C[k, :]",
                                                       "unit": "each unit's weights C[:, i]"}, advanced=True)
    e_row_scale: float = 1.25  # rows of E bounded by e_row_scale / (T - 1)
    # Windows and a decoder lr of T: local part units and prototypes among the categorical ones, and a lower error
    # (1.37 % before: docs/results.md, "Part units that are strokes")
    init: str = setting("windows", "Decoder starts from", "the dictionary D the encoder starts as ISTA on",
                        choices=INITS, advanced=True)
    decoder_lr: float = setting(11.0, "Decoder lr ×", "D's lr is this times lr (the paper's code divides each "
                                "matrix's lr by how often it repeats in the unrolled network: D once, E and S T times)",
                                min=0.0, max=1e4, advanced=True)

    @property
    def e_row_max(self) -> float:
        return math.inf if self.unroll <= 1 else self.e_row_scale / (self.unroll - 1)


class DrSAE(RecurrentEncoder):
    per_digit_clip = True

    def __init__(self, cfg: DrSAEConfig, dictionary: torch.Tensor | None = None, seed: int = 0):
        super().__init__()
        self.decoder_and_classifier_(cfg, dictionary, seed)
        n, m = cfg.hidden, cfg.n_input
        self.E = nn.Parameter(torch.empty(n, m))
        self.S = nn.Parameter(torch.empty(n, n))
        self.b = nn.Parameter(torch.empty(n))
        self.ista_init_()

    def decoder_and_classifier_(self, cfg, dictionary: torch.Tensor | None, seed: int) -> torch.Generator:
        """D (the given dictionary, else random) and a small random C; returns the seeded generator, for what the
        subclass draws next."""
        self.cfg = cfg
        g = torch.Generator().manual_seed(seed)
        D = random_dictionary(cfg.n_input, cfg.hidden, g) if dictionary is None else dictionary
        self.D = nn.Parameter(D.clone().float())
        self.C = nn.Parameter(torch.randn(cfg.n_classes, cfg.hidden, generator=g) * 0.01)
        return g

    # -- initialisation and constraints -------------------------------------------------

    def ista_step_size(self) -> float:
        """Largest a for which ISTA converges (a <= 1/||D||^2), capped by the bound on rows of E."""
        return min(1.0 / lipschitz(self.D), self.cfg.e_row_max / max(self.cfg.d_col_max, EPS))

    @torch.no_grad()
    def ista_init_(self, a: float | None = None) -> float:
        """E = a D^T, S = I - a D^T D, b = a lambda: the encoder then *is* non-negative ISTA."""
        a = self.ista_step_size() if a is None else a
        for p, v in zip((self.E, self.S, self.b), ista_operators(self.D, a, self.cfg.sparsity)):
            p.copy_(v)
        return a

    @torch.no_grad()
    def project_(self) -> None:
        """The paper's norm bounds, applied after every optimizer update."""
        clip_norm_(self.D, dim=0, max_norm=self.cfg.d_col_max)
        clip_norm_(self.C, dim=C_BOUNDS[self.cfg.c_bound], max_norm=self.cfg.c_row_max)
        if math.isfinite(self.cfg.e_row_max):
            clip_norm_(self.E, dim=1, max_norm=self.cfg.e_row_max)

    # -- forward ---------------------------------------------------------------------------

    def operators(self):
        return self.E, self.S, self.b

    @staticmethod
    def direction(z: torch.Tensor) -> torch.Tensor:
        """z / ||z||: what the classifier sees, so the class depends on the code's direction only."""
        return z / (z.norm(dim=-1, keepdim=True) + EPS)

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Logits C z / ||z||."""
        if self.cfg.n_classes == 0:
            raise NotImplementedError("a DrSAE trained without labels has no classifier")
        return F.linear(self.direction(z), self.C)

    def classifier_weights(self) -> torch.Tensor | None:
        return self.C if self.cfg.n_classes else None

    @property
    def classifier_bound(self) -> float:
        return self.cfg.c_row_max

    def digit_grad_norms(self, x, per_digit_loss, steps, x_hat, logits) -> torch.Tensor:
        from models.families.digit_clip import digit_grad_norms

        return digit_grad_norms(self, x, per_digit_loss, steps, x_hat, logits)


def lr_scales(model: DrSAE, tc) -> dict[str, float]:
    """Per-matrix step sizes. SGD: C acts on the unit vector z/||z||, so its gradient is at most 1 per
    digit while its bounded norms must grow near 5: it gets `c_lr_scale` times the lr. Adam moves every
    weight by about lr whatever its size, so E and b (rows bounded by 1.25/(T-1)) get that bound as
    scale and C its bound 5. (Adam trains faster but lifts every unit's tiny supervised gradient to a
    full step: the encoder leaves ISTA everywhere and the part/categorical split blurs; SGD keeps it.)"""
    if tc.optimizer == "sgd":
        return {"E": 1.0, "b": 1.0, "S": 1.0, "D": model.cfg.decoder_lr, "C": tc.c_lr_scale}
    e = min(model.cfg.e_row_max, 1.0)
    return {"E": e, "b": e, "S": 1.0, "D": model.cfg.decoder_lr, "C": model.cfg.c_row_max}


FAMILY = register(Family(
    name="drsae",
    short="DrSAE",
    title="Discriminative Recurrent Sparse Auto-Encoder",
    summary="A DrSAE encodes an input by running `z_{t+1} = ReLU(E x + S z_t − b)` for T steps from `z_0 = 0`, "
            "reconstructs it as `D z_T` and, where the data has labels, classifies it from `C z_T / ‖z_T‖` (Rolfe & "
            "LeCun, ICLR 2013).",
    config=DrSAEConfig,
    create=DrSAE,
    capabilities=Capabilities(steps=True, decoder=True, classifier=True, filters=True, kinds=True),
    initialise=lambda cfg, train_x, seed, load, layout: DrSAE(
        cfg, start_dictionary(train_x, cfg.hidden, seed, cfg.init, layout), seed),
    lr_scales=lr_scales,
    compared=True,
))
