"""The structured variational auto-encoder with rectified-Gaussian units (Salimans, 2016, "A Structured Variational
Auto-encoder for Learning Deep Hierarchies of Sparse Features").

    p(z_L) = RG(μ_L, σ_L),  p(z_l | z_{l+1}) = RG(μ_l(z_{l+1}), σ_l(z_{l+1})),  p(x | z_1) = Bernoulli(f(z_1))

Every unit is a rectified Gaussian (rectified_gaussian.py): exactly 0 with probability Φ(−μ/σ). Between stochastic
layers sits one deterministic block (linear, batch norm, ELU) on the way down, and one on the way up. The
structured posterior q(z_l | z_{l+1}, x) keeps the prior's top-down dependence: its (μ, σ) combine the prior's, given
the sampled layer above, with bottom-up (μ̂, σ̂) computed from x, by precision weighting (a product of Gaussians);
the mean-field posterior q(z_l | x) is the bottom-up terms alone. Inputs are pixel intensities in [0, 1]; training
binarises them afresh for every batch, and evaluation binarises them once with the model's own seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.data import binarized, intensities
import models.families.rg_vae.rectified_gaussian as rg
import models.families.rg_vae.hierarchy as hierarchy
import models.families.rg_vae.likelihood as likelihood
from models.families.base import SparseModel
from models.families.registry import Capabilities, Curve, Family, register
from models.settings import Config, setting

MIN_SIGMA = 1e-3  # keeps every σ, and so every log density, finite
POSTERIORS = {"structured": "structured: q(z_l | z_{l+1}, x), the prior's top-down belief and the sample's "
                            "evidence combined", "mean-field": "mean-field: q(z_l | x), from the sample alone"}


@dataclass(frozen=True)
class RGVAEConfig(Config):
    n_input: int = 0  # from the data (Family.fit)
    layers: str = setting("300,200,100,50", "Stochastic layers (bottom to top)", "units in each rectified-Gaussian "
                          "layer, from the one next to the pixels to the top")
    width: int = setting(160, "Block width", "units of the deterministic block (linear, batch norm, ELU) between "
                         "two stochastic layers, up and down", min=4, max=4096)
    posterior: str = setting("structured", "Posterior", "how the encoder forms q(z_l | ...)", choices=POSTERIORS)
    warmup: float = setting(5.0, "KL warm-up (epochs)", "the KL terms' weight rises from 0 to 1 over these epochs "
                            "of training (0 = the bound from the start)", min=0.0, max=10_000.0)
    test_seed: int = 123  # the evaluation digits' binarisation: saved with the model, so numbers stay comparable

    def __post_init__(self):
        super().__post_init__()
        try:
            sizes = [int(s) for s in self.layers.split(",")]
        except ValueError:
            raise ValueError(f"--layers must be comma-separated unit counts, got {self.layers!r}") from None
        if not 1 <= len(sizes) <= 8 or not all(1 <= s <= 4096 for s in sizes):
            raise ValueError(f"--layers needs 1 to 8 layers of 1 to 4096 units, got {self.layers!r}")

    def describe(self) -> str:
        return f"{self.layers.replace(',', '-')} {self.posterior}"

    @property
    def sizes(self) -> list[int]:
        """Units per stochastic layer, bottom (next to the pixels) first."""
        return [int(s) for s in self.layers.split(",")]

    @property
    def hidden(self) -> int:
        return sum(self.sizes)


class Head(nn.Module):
    """n_in -> width (linear, batch norm, ELU) -> the (μ, σ) of n_out rectified-Gaussian units."""

    def __init__(self, n_in: int, width: int, n_out: int):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(n_in, width), nn.BatchNorm1d(width), nn.ELU())
        self.mu, self.sigma = nn.Linear(width, n_out), nn.Linear(width, n_out)

    def forward(self, h: torch.Tensor):
        d = self.block(h)
        return d, self.mu(d), F.softplus(self.sigma(d)) + MIN_SIGMA


@dataclass
class Pass:
    """One pass through the model for a batch, every list bottom layer first."""
    z: list[torch.Tensor]  # the layers' values (a sample, or the posterior's mean)
    q: list[tuple[torch.Tensor, torch.Tensor]]  # the posterior's (μ, σ) per layer
    p: list[tuple[torch.Tensor, torch.Tensor]]  # the prior's (μ, σ) per layer, given the layer above
    logits: torch.Tensor  # the pixels' Bernoulli logits, from z_1
    kl: list[torch.Tensor] | None = None  # log q(z_l) − log p(z_l) per digit (sampled passes)


class RGVAE(SparseModel):
    labels_train_encoder = False

    def __init__(self, cfg: RGVAEConfig):
        super().__init__()
        self.cfg = cfg
        sizes, w = cfg.sizes, cfg.width
        self.up = nn.ModuleList(Head(n_in, w, n) for n_in, n in zip([cfg.n_input] + [w] * (len(sizes) - 1), sizes))
        self.down = nn.ModuleList(Head(sizes[l + 1], w, sizes[l]) for l in range(len(sizes) - 1))  # noqa: E741
        self.top_mu = nn.Parameter(torch.zeros(sizes[-1]))
        self.top_sigma = nn.Parameter(torch.zeros(sizes[-1]))  # softplus(0) + MIN_SIGMA ≈ 0.69
        self.out = nn.Sequential(nn.Linear(sizes[0], w), nn.BatchNorm1d(w), nn.ELU(), nn.Linear(w, cfg.n_input))
        self.kl_weight = 1.0  # the warm-up's weight on the KL terms while training (schedule_)

    # -- the model --------------------------------------------------------------------------------

    def prior(self, layer: int, above: torch.Tensor | None, n: int):
        """p(z_layer | z_{layer+1}) as (μ, σ), for n digits; the top layer's prior is learned, the same for all."""
        if above is None:
            mu = self.top_mu.expand(n, -1)
            return mu, (F.softplus(self.top_sigma) + MIN_SIGMA).expand(n, -1)
        _, mu, sigma = self.down[layer](above)
        return mu, sigma

    def bottom_up(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        h, out = x, []
        for head in self.up:
            h, mu, sigma = head(h)
            out.append((mu, sigma))
        return out

    def posterior(self, prior, evidence):
        if self.cfg.posterior == "mean-field":
            return evidence
        (mp, sp), (me, se) = prior, evidence
        pp, pe = sp.pow(-2), se.pow(-2)  # precisions: the belief from above and the digit's evidence
        var = 1.0 / (pp + pe)
        return (mp * pp + me * pe) * var, var.sqrt()

    def run(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None,
            clamp: dict[int, torch.Tensor] | None = None) -> Pass:
        """Infer every layer top-down. sample=False: each layer is its posterior's mean (the deterministic code).
        `clamp`: {layer: values} replaces those layers' values (an intervention on the code)."""
        evidence = self.bottom_up(x)
        n, L = len(x), len(self.cfg.sizes)
        z, q, p, kl = [None] * L, [None] * L, [None] * L, [None] * L
        above = None
        for l in reversed(range(L)):  # noqa: E741 (the layer index)
            p[l] = self.prior(l, above, n)
            q[l] = self.posterior(p[l], evidence[l])
            if sample:
                z[l] = rg.sample(*q[l], generator=generator)
                kl[l] = (rg.log_prob(z[l], *q[l]) - rg.log_prob(z[l], *p[l])).sum(1)
            else:
                z[l] = rg.mean(*q[l])
            if clamp and l in clamp:
                z[l] = clamp[l].to(z[l]).expand_as(z[l])
            above = z[l]
        return Pass(z, q, p, self.out(z[0]), kl if sample else None)

    def generate(self, n: int, from_layer: int | None = None, given: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Ancestral samples: the layers from `from_layer` down (default: the top), starting from `given` (the
        values of the layer above `from_layer`) where given. Returns [pixel probabilities, z_1, ..., z_from_layer]."""
        L = len(self.cfg.sizes)
        top = L - 1 if from_layer is None else from_layer
        above, zs = given, {}
        for l in reversed(range(top + 1)):  # noqa: E741
            mu, sigma = self.prior(l, above, n)
            above = rg.sample(mu, sigma, generator=generator)
            zs[l] = above
        return [torch.sigmoid(self.out(zs[0]))] + [zs[l] for l in range(top + 1)]

    def log_weights(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """One sample per digit: (log p(x | z_1), [log q(z_l) − log p(z_l) per layer]); their difference summed is
        log p(x, z) − log q(z | x), whose mean is the ELBO and whose log-mean-exp over k samples the IWAE bound."""
        ps = self.run(x, sample=True, generator=generator)
        ll = -F.binary_cross_entropy_with_logits(ps.logits, x, reduction="none").sum(1)
        return ll, ps.kl

    # -- what the lab asks of every model ---------------------------------------------------------

    def steps(self, x, unroll=None, hold=None):
        """One step: every layer's posterior mean, bottom layer first, side by side (hidden = all units)."""
        yield torch.cat(self.run(x, sample=False).z, dim=1)

    def schedule_(self, epochs_done: float) -> None:
        w = self.cfg.warmup
        self.kl_weight = 1.0 if w <= 0 else min(1.0, (epochs_done + 1.0) / w)  # epoch 1 trains at 1/w

    @property
    def unsup_weight(self) -> float:
        return 1.0  # L_U is −ELBO = reconstruction + KL

    def losses(self, x, y=None, unroll=None, reduce=True) -> dict:
        """"recon": −log p(x | z_1); "l1": the KL terms (one sample; named as every family's second loss);
        "unsup": −ELBO; "objective": reconstruction + the warm-up's weight × KL. Training binarises x afresh."""
        if self.training:
            x = torch.bernoulli(x)
        ll, kl = self.log_weights(x)
        kl_sum = torch.stack(kl).sum(0)
        out = {"recon": -ll, "l1": kl_sum, "unsup": kl_sum - ll, "logits": None, "z": None,
               "objective": kl_sum * (self.kl_weight if self.training else 1.0) - ll}
        if reduce:
            out.update({k: out[k].mean() for k in ("recon", "l1", "unsup", "objective")})
        else:
            out.update(steps=None, x_hat=None)
        return out

    def evaluation_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The digits as every evaluation sees them: binarised once with the model's seed."""
        return binarized(x, self.cfg.test_seed)

    # -- what the `layers` capability's pages and measurements ask (likelihood.py, hierarchy.py) -----------

    def likelihood(self, split, iwae_k: int = 1000, iwae_digits: int = 1000, probe: bool = True):
        return likelihood.likelihood(self, split, iwae_k, iwae_digits, probe)

    def hierarchy(self, x: torch.Tensor):
        return hierarchy.hierarchy(self, x)

    def samples(self, x: torch.Tensor | None, n: int, seed: int = 0):
        return hierarchy.samples(self, x, n, seed)

    def traversal(self, x: torch.Tensor | None, unit: int, values: np.ndarray) -> np.ndarray:
        return hierarchy.traversal(self, x, unit, values)

    def layer_code(self, x: torch.Tensor):
        return hierarchy.layer_code(self, x)


def validate(model: RGVAE, split, device=None, batch: int = 2000) -> dict:
    """The validation columns of a training row: ELBO terms per digit, units active (not exactly 0) per digit,
    per layer the KL."""
    device = device or next(model.parameters()).device
    was = model.training
    model.eval()
    g = torch.Generator(device=device).manual_seed(model.cfg.test_seed)
    t = likelihood.sampled_totals(model, model.evaluation_inputs(split.x), g, batch)
    model.train(was)
    n = max(t.digits, 1)
    recon, kl, on = t.recon / n, [k / n for k in t.kl], [a / n for a in t.on]  # plain floats: a checkpoint's
    return {"error": None, "recon": recon, "unsup": recon + sum(kl), "sup": None, "active": sum(on),  # history
            "dead": 0, "dense": 0, "elbo": -(recon + sum(kl)),  # holds nothing but plain data
            **{f"kl_{l + 1}": k for l, k in enumerate(kl)}, **{f"active_{l + 1}": a for l, a in enumerate(on)}}


def curves(rows: list[dict], held_out: bool = True, objective: str = "") -> list[Curve]:
    """The bound and each layer's KL and active units over the epochs."""
    layers = sorted({int(k.rsplit("_", 1)[1]) for r in rows for k in r if k.startswith("val_kl_")})
    return [
        Curve("loss", "Negative ELBO (nats)", {"−ELBO train": "train_unsup", "−ELBO val": "val_unsup",
                                               "−log p(x | z) val": "val_recon"}, "nats",
              "The bound's negative, lower is better: training samples (binarised afresh; the KL warm-up's weight "
              "while it lasts) and the validation samples (binarised once)."),
        Curve("err", "KL of each layer (nats)", {f"layer {n}": f"val_kl_{n}" for n in layers}, "nats",
              "log q − log p of each stochastic layer (1 next to the pixels) on the validation samples: a layer at 0 "
              "carries nothing about the sample."),
        Curve("active", "Units not exactly 0, per sample", {f"layer {n}": f"val_active_{n}" for n in layers}, "units",
              "Mean units of each layer that are not exactly zero in a sample from the posterior."),
    ]


FAMILY = register(Family(
    name="rg-vae",
    short="RG-VAE",
    title="Structured VAE with rectified-Gaussian units",
    summary="A deep generative model whose units are rectified Gaussians, exactly zero with probability Φ(−μ/σ): "
            "stochastic layers (by default 300, 200, 100, 50 units, bottom to top) generate a binarised sample "
            "top-down, and a structured posterior infers them from the sample while keeping the prior's top-down dependence "
            "(Salimans, 2016). It is trained on the evidence lower bound (ELBO) of log p(x), without labels.",
    config=RGVAEConfig,
    create=RGVAE,
    capabilities=Capabilities(likelihood=True, layers=True),
    inputs=intensities,
    binary_data=True,
    validate=validate,
    curves=curves,
    progress=(("-ELBO", "train_unsup", "{:.2f}"), ("val ELBO", "val_elbo", "{:.2f}")),
    headline=(("Validation ELBO", "val_elbo", "{:.2f}"),),
    watch=("val_elbo", "max"),
    train_defaults={"pretrain_epochs": 0, "epochs": 80, "batch_size": 100, "lr": 0.002, "optimizer": "adamax",
                    "grad_clip": 0.0, "ema": 0.0},
))
