"""Non-negative ISTA on a learned dictionary: the exact sparse-coding reference the other encoders are measured
against. Nothing of the encoder is learned: E = a Dᵀ, S = I - a DᵀD, b = a λ, with a = 1 / ‖D‖₂².

D is learned by sparse dictionary learning on the training digits (each batch's codes by FISTA to convergence,
then a projected gradient step on ½‖x - D z‖², unit-norm columns), or taken from a trained model's decoder
(`dictionary`). A linear classifier is trained on the codes as they are (their direction z / ‖z‖, each unit
standardised), so its error says what the codes hold.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.families.drsae import EPS
from models.families.recurrent import (
    RecurrentEncoder, initial_dictionary, ista_operators, lipschitz, random_dictionary, sparse_codes,
)
from models.families.registry import Capabilities, Family, register
from models.settings import Config, setting

# Few epochs (each batch's codes take `fit_iterations` FISTA steps), so a weight average over ~1 epoch, not 10.
TRAIN_DEFAULTS = {"pretrain_epochs": 3, "epochs": 7, "ema": 0.999}
CLASSIFIER_LR_SCALE = 3.0
POWER_STEPS = 3  # per update, warm-started: ‖D‖₂ moves little in one update


@dataclass(frozen=True)
class SparseCodingConfig(Config):
    LEGACY = {"dictionary_lr": 1.0}  # runs written before the setting learned D at the plain lr

    n_input: int = 0  # from the data (Family.fit)
    hidden: int = setting(400, "Hidden units", "atoms of the dictionary D, units of the code z", min=1, max=4096)
    unroll: int = setting(11, "Iterations T", "encoder steps z_1..z_T", min=1, max=1000)
    sparsity: float = setting(0.025, "Sparsity λ", "weight of the L1 term λ‖z‖₁ (the DrSAE's default)",
                              min=0.0, max=10.0)
    fit_iterations: int = setting(100, "FISTA iterations", "iterations of the codes that dictionary learning "
                                  "(and LISTA's targets) use: near convergence", min=1, max=5000, advanced=True)
    dictionary: str | None = setting(None, "Dictionary from", "a trained model (run folder or .safetensors) whose "
                                     "decoder is used as D, fixed (empty: learn D)", kind=str, optional=True,
                                     model=True)
    # D's gradient, (x − D z*) z*ᵀ averaged over a batch, is small: at the plain lr the dictionary barely leaves its
    # start in the default epochs (docs/results.md, "Dictionary learning's step")
    dictionary_lr: float = setting(100.0, "Dictionary lr ×", "sgd: dictionary learning's step is this times lr",
                                   min=0.0, max=1e5, advanced=True)
    n_classes: int = 0  # from the data's labels: 0, no classifier


@dataclass(frozen=True)
class ISTAConfig(SparseCodingConfig):
    pass


def load_dictionary(cfg: SparseCodingConfig, load) -> torch.Tensor:
    """The decoder (n_input × hidden) of the model `cfg.dictionary` names, read by `load`; one-line errors."""
    model, _ = load(cfg.dictionary)
    try:
        D = torch.from_numpy(model.unit_weights().decoder.T.copy()).float()
    except NotImplementedError:
        raise ValueError(f"--dictionary {cfg.dictionary}: that model has no decoder") from None
    if D.shape != (cfg.n_input, cfg.hidden):
        raise ValueError(f"--dictionary {cfg.dictionary}: its decoder is {D.shape[0]}×{D.shape[1]}, this model "
                         f"needs {cfg.n_input}×{cfg.hidden} (--hidden {D.shape[1]})")
    return D / D.norm(dim=0, keepdim=True).clamp_min(1e-8)


class CodingModel(RecurrentEncoder):
    """What ISTA and LISTA share: a dictionary, learned (a parameter) or fixed (a buffer), whose columns have unit
    norm, and a linear classifier trained on the codes as they are. Its input is z / ‖z‖ with each unit
    standardised by running statistics (a batch norm without weights): the DrSAE's bounded C z / ‖z‖ on such codes
    learns slowly (12.6 % test error for ISTA at T = 11 after 7 epochs, against 3.5 % with standardised input:
    docs/results.md)."""
    labels_train_encoder = False

    def __init__(self, cfg: SparseCodingConfig, dictionary: torch.Tensor | None = None, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        n = cfg.hidden
        g = torch.Generator().manual_seed(seed)
        if dictionary is None:
            dictionary = random_dictionary(cfg.n_input, n, g)
        if self.learns_dictionary:
            self.D = nn.Parameter(dictionary.clone().float())
        else:
            self.register_buffer("D", dictionary.clone().float())
        self.standardise = nn.BatchNorm1d(n, affine=False)
        self.C = nn.Parameter(torch.randn(cfg.n_classes, n, generator=g) * 0.01)
        self.c0 = nn.Parameter(torch.zeros(cfg.n_classes))
        self.register_buffer("a", torch.tensor(1.0 / lipschitz(self.D)))  # ISTA's step on D
        # D's top right singular vector, followed by power iteration as D learns (an SVD every update would
        # cost more than the update and read back to the host)
        self.register_buffer("top", torch.linalg.svd(self.D.detach().double(), full_matrices=False)[2][0].float())

    @property
    def learns_dictionary(self) -> bool:
        return self.cfg.dictionary is None

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Logits for codes (..., hidden): every step's at once too."""
        if self.cfg.n_classes == 0:
            raise NotImplementedError("a model trained without labels has no classifier")
        u = z / (z.norm(dim=-1, keepdim=True) + EPS)
        return F.linear(self.standardise(u.reshape(-1, u.shape[-1])).reshape(u.shape), self.C, self.c0)

    def classifier_weights(self) -> torch.Tensor | None:
        """C on z / ‖z‖ itself: each unit's weights divided by its standard deviation."""
        if self.cfg.n_classes == 0:
            return None
        return self.C / (self.standardise.running_var + self.standardise.eps).sqrt()

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """Converged codes on the current dictionary (no gradient)."""
        return sparse_codes(self.D.detach(), x, self.cfg.sparsity, self.cfg.fit_iterations, self.a)

    def converged(self, x: torch.Tensor) -> torch.Tensor:
        return self.targets(x)

    def dictionary_loss(self, x: torch.Tensor, z_star: torch.Tensor) -> torch.Tensor:
        """Per digit ½‖x - D z*‖², whose gradient moves D alone (z* is fixed): dictionary learning."""
        return 0.5 * (x - self.decode(z_star)).pow(2).sum(1)

    @torch.no_grad()
    def project_(self) -> None:
        if self.learns_dictionary:  # unit columns, and the step follows the dictionary
            self.D.div_(self.D.norm(dim=0, keepdim=True).clamp_min(1e-8))
            for _ in range(POWER_STEPS):
                w = self.D.T @ (self.D @ self.top)
                self.top.copy_(w / w.norm().clamp_min(1e-12))
            self.a.copy_(1.0 / (self.D @ self.top).pow(2).sum().clamp_min(1e-12))


class ISTA(CodingModel):
    def operators(self):
        return ista_operators(self.D.detach(), self.a, self.cfg.sparsity)  # the codes never train D

    def fit_loss(self, x: torch.Tensor, out: dict) -> torch.Tensor:
        if not self.learns_dictionary:
            return torch.zeros(len(x), device=x.device)
        return self.dictionary_loss(x, self.targets(x))


def new(cfg: SparseCodingConfig, train_x: torch.Tensor, seed: int, load, layout=None, cls=ISTA):
    D = initial_dictionary(train_x, cfg.hidden, seed) if cfg.dictionary is None else load_dictionary(cfg, load)
    return cls(cfg, D, seed)


def lr_scales(model: CodingModel, tc) -> dict[str, float]:
    """The classifier reads standardised inputs: 3 × lr suits it (30 × learns no better, docs/results.md); the
    dictionary takes its own step (`dictionary_lr`)."""
    if tc.optimizer != "sgd":
        return {}
    return {"C": CLASSIFIER_LR_SCALE, "c0": CLASSIFIER_LR_SCALE, "D": model.cfg.dictionary_lr}


FAMILY = register(Family(
    name="ista",
    short="ISTA",
    title="Non-negative ISTA (sparse coding)",
    summary="ISTA encodes an input by gradient steps on the sparse-coding objective ½‖x − Dz‖² + λ‖z‖₁ (z ≥ 0): "
            "`z_{t+1} = ReLU(a Dᵀx + (I − a DᵀD) z_t − aλ)`, a = 1/‖D‖². Only the dictionary D is learned "
            "(sparse dictionary learning), and, where the data has labels, a classifier on the codes.",
    config=ISTAConfig,
    create=ISTA,
    capabilities=Capabilities(steps=True, decoder=True, classifier=True, filters=True, converged=True),
    initialise=new,
    lr_scales=lr_scales,
    train_defaults=TRAIN_DEFAULTS,
    compared=True,
))
