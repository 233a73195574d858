"""What today's sparse autoencoders share (relu_sae, topk_sae, batchtopk_sae, jumprelu_sae, matryoshka_sae): one
linear encoder, an activation that makes the code sparse, one linear decoder, no recurrence:

    z = σ(W_e (x − b_d) + b_e),   x̂ = W_d z + b_d

Here: the weights and their start (W_e = W_dᵀ, b_d the training mean), unit decoder columns where the family keeps
them, the count of samples since each latent last fired, the auxiliary loss that trains dead latents on the
residual (aux-k, Gao et al. 2024), and the resampling of dead latents (Anthropic, "Towards Monosemanticity", 2023).
A family module writes `activate` (σ) and, where its loss differs from ½‖x − x̂‖² + λ·code_cost, `fit_loss`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.families.base import Hold, SparseModel, UnitWeights, as_array
from models.families.recurrent import random_dictionary
from models.families.registry import Capabilities, Curve, Family, code_curves
from models.settings import Config, setting

# Adam at a steady lr, no weight average, no pre-training: how these are trained (batches of a few hundred on the
# CPU; SAELens uses thousands on a GPU).
TRAIN_DEFAULTS = {"pretrain_epochs": 0, "epochs": 20, "batch_size": 256, "lr": 1e-3, "optimizer": "adam",
                  "ema": 0.0}
CAPABILITIES = Capabilities(decoder=True, filters=True)
AUX_K_COEF = 1 / 32  # Gao et al.'s weight of the auxiliary loss
RESAMPLE_SAMPLES = 8192  # inputs scored when choosing what dead latents restart on
RESAMPLE_ENCODER_SCALE = 0.2  # a restarted encoder row: the input's direction × this × the mean live row norm


@dataclass(frozen=True)
class SAEConfig(Config):
    n_input: int = 0  # from the data (Family.fit)
    hidden: int = setting(128, "Latents", "units of the code z (the dictionary's size)", min=1, max=1 << 20)
    dead_window: int = setting(10_000, "Dead after (samples)", "a latent that has not fired for this many training "
                               "samples is dead (the auxiliary loss and resampling act on it)", min=1,
                               max=100_000_000, advanced=True)
    resample_every: int = setting(0, "Resample dead latents every (epochs)", "restart dead latents on inputs the "
                                  "model reconstructs worst (Anthropic, 2023) after every this many epochs; 0: never",
                                  min=0, max=10_000, advanced=True)


class SparseAutoencoder(SparseModel):
    unit_decoder = True  # W_d's columns kept at norm 1 (the ReLU SAE's grow freely and weight its penalty)
    decoder_start_norm = 1.0  # W_d's columns' norm at the start

    def __init__(self, cfg: SAEConfig, seed: int = 0, mean: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(seed)
        W = random_dictionary(cfg.n_input, cfg.hidden, g, self.decoder_start_norm)  # (d, H)
        self.W_dec = nn.Parameter(W)
        self.W_enc = nn.Parameter(W.T.clone())  # the encoder starts as the decoder's transpose
        self.b_enc = nn.Parameter(torch.zeros(cfg.hidden))
        self.b_dec = nn.Parameter(torch.zeros(cfg.n_input) if mean is None else mean.clone().float())
        self.register_buffer("since_fired", torch.zeros(cfg.hidden, dtype=torch.long))
        self.last_pre = None  # the pre-activations of the last training batch (the auxiliary loss reads them)

    def train(self, mode: bool = True):
        if not mode:
            self.last_pre = None  # it holds the last batch's graph (and a deep copy could not take it)
        return super().train(mode)

    # -- the code ------------------------------------------------------------------------------

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        """W_e (x − b_d) + b_e: (batch, hidden)."""
        return F.linear(x - self.b_dec, self.W_enc, self.b_enc)

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def steps(self, x: torch.Tensor, unroll: int | None = None, hold: Hold | None = None) -> Iterator[torch.Tensor]:
        """One code (no recurrence: `unroll` changes nothing)."""
        pre = self.pre(x)
        z = self.activate(pre)
        if self.training:
            self.last_pre = pre
            with torch.no_grad():
                fired = (z > 0).any(0)
                self.since_fired.add_(len(x)).masked_fill_(fired, 0)
        yield z if hold is None else hold.apply(z, 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(z, self.W_dec, self.b_dec)

    def unit_weights(self) -> UnitWeights:
        return UnitWeights(as_array(self.W_enc), as_array(self.W_dec.T))

    @property
    def dead(self) -> torch.Tensor:
        """(hidden,) latents that have not fired for `dead_window` training samples."""
        return self.since_fired >= self.cfg.dead_window

    # -- training ------------------------------------------------------------------------------

    def aux_k_loss(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Per sample, Gao et al.'s auxiliary loss: the k_aux largest pre-activations of the dead latents (k_aux =
        half the input's size) reconstruct the residual x − x̂, which the live latents leave; scaled by
        min(dead / k_aux, 1). Zero while no latent is dead."""
        dead = self.dead
        n_dead = int(dead.sum())
        if n_dead == 0 or self.last_pre is None:
            return x.new_zeros(len(x))
        k_aux = max(1, min(self.cfg.n_input // 2, n_dead))
        pre = self.last_pre.masked_fill(~dead, float("-inf"))
        top = pre.topk(k_aux, dim=1)
        z_aux = torch.zeros_like(self.last_pre).scatter(1, top.indices, top.values.relu())
        residual = (x - x_hat).detach()
        return 0.5 * (residual - F.linear(z_aux, self.W_dec)).pow(2).sum(1) * min(n_dead / k_aux, 1.0)

    @torch.no_grad()
    def project_(self) -> None:
        if self.unit_decoder:
            self.W_dec.div_(self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def after_epoch_(self, epoch: int, draw, optimizer, generator: torch.Generator) -> dict:
        """Every `resample_every` epochs, restart the dead latents: each on an input drawn with probability ∝ its
        squared reconstruction loss, the decoder column that input's direction (from b_d), the encoder row the same
        × 0.2 × the mean live row norm, b_e 0, the optimiser's state for them cleared."""
        every = self.cfg.resample_every
        if every == 0 or (epoch + 1) % every:
            return {}
        dead = self.dead.nonzero().flatten()
        if len(dead) == 0:
            return {"resampled": 0}
        x = draw(RESAMPLE_SAMPLES, generator)
        was = self.training
        self.eval()
        loss = 0.5 * (x - self.decode(self.code(x))).pow(2).sum(1)
        self.train(was)
        weights = loss.pow(2).double().cpu()
        if float(weights.sum()) <= 0:
            weights = torch.ones_like(weights)
        chosen = torch.multinomial(weights, len(dead), replacement=len(dead) > len(x), generator=generator)
        v = x[chosen.to(x.device)] - self.b_dec
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-8)  # (n dead, d)
        live = ~self.dead
        scale = self.W_enc[live].norm(dim=1).mean() if live.any() else torch.tensor(1.0)
        self.W_dec[:, dead] = v.T * (self.W_dec[:, live].norm(dim=0).mean() if live.any() and not self.unit_decoder
                                     else 1.0)
        self.W_enc[dead] = v * RESAMPLE_ENCODER_SCALE * scale
        self.b_enc[dead] = 0.0
        for p, index, dim in ((self.W_dec, dead, 1), (self.W_enc, dead, 0), (self.b_enc, dead, 0)):
            for t in optimizer.state.get(p, {}).values():  # Adam's moments, SGD's momentum: start afresh
                if torch.is_tensor(t) and t.shape == p.shape:
                    t.index_fill_(dim, index, 0.0)
        self.since_fired[dead] = 0
        return {"resampled": len(dead)}


def initialise(cls):
    """A family's `initialise`: a model of `cls` whose b_d starts at the training samples' mean."""
    return lambda cfg, train_x, seed, load, layout: cls(cfg, seed, train_x.mean(0))


def curves(rows: list[dict], held_out: bool = True, objective: str = ""):
    """The Training page's charts: the losses and the units (dead, dense, L0) as for any code, without the error; and
    the dead latents resampled, where the run resamples them."""
    out = [c for c in code_curves(rows, held_out, objective) if c.key != "err"]
    if any("resampled" in r for r in rows):
        out.append(Curve("resampled", "Dead latents resampled", {"resampled": "resampled"}, "latents",
                         "After each resampling epoch, the latents that had not fired for the dead window and were "
                         "restarted on inputs reconstructed worst."))
    return out


PROGRESS = (("loss", "train_unsup", "{:.4f}"), ("val recon", "val_recon", "{:.4f}"), ("dead", "val_dead", "{}"))
HEADLINE = (("Validation reconstruction", "val_recon", "{:.4f}"), ("Active per sample", "val_active", "{:.1f}"))
BY_K = {"sparsity_field": "k", "sparsity_symbol": "k", "sparsity_examples": "8, 16, 32"}  # a family whose k sets L0


BY_K_OBJECTIVE = "½‖x − x̂‖² (k sets the sparsity; the auxiliary loss that trains dead latents is not in it)"


def family(name: str, short: str, title: str, summary: str, config: type, create: type, **more) -> Family:
    """A sparse autoencoder's Family: what all five share (capabilities, start, training, curves, a benchmark's
    default), and `more` (its sparsity setting, its paper's claims)."""
    return Family(name=name, short=short, title=title, summary=summary, config=config, create=create,
                  capabilities=CAPABILITIES, initialise=initialise(create), train_defaults=TRAIN_DEFAULTS,
                  curves=curves, progress=PROGRESS, headline=HEADLINE, benchmarked=True, **more)
