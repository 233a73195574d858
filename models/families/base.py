"""What every sparse model offers the rest of the lab: codes step by step, and the losses it trains on.

A family's model subclasses `SparseModel` and writes `steps` (and, by its capabilities, `decode`, `classify`,
`unit_weights`); encoding, the losses and the forward pass follow from those.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class UnitWeights:
    """Each unit's weights as float64 arrays; None where the model has no such weights."""
    encoder: np.ndarray | None  # (hidden, n_input): what each unit reads from the input
    decoder: np.ndarray | None  # (hidden, n_input): what each unit writes into the reconstruction
    recurrent: np.ndarray | None = None  # (hidden, hidden): S, rows the unit acted on, columns the acting one
    classifier: np.ndarray | None = None  # (classes, hidden)


@dataclass
class Hold:
    """An intervention on the code: the units in `mask` held at `value` (0: ablated) at every step from `from_step`
    on, so every later step works from the held code. `mask`: (hidden,) or (batch, hidden) booleans."""
    mask: torch.Tensor
    value: float = 0.0
    from_step: int = 1

    def apply(self, z: torch.Tensor, step: int) -> torch.Tensor:
        """z_step as the intervention leaves it (step is 1-based)."""
        if step < self.from_step:
            return z
        return torch.where(self.mask.to(z.device), torch.tensor(self.value, dtype=z.dtype, device=z.device), z)


def as_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


class SparseModel(nn.Module):
    cfg: object  # the family's config: `hidden`, and `unroll` and `sparsity` where the family has them
    # False: the classifier is trained on the codes as they are (its loss reaches no encoder weight)
    labels_train_encoder: bool = True
    per_digit_clip: bool = False  # models/training/digit_clip.py knows this model's weights

    def steps(self, x: torch.Tensor, unroll: int | None = None, hold: Hold | None = None) -> Iterator[torch.Tensor]:
        """The codes z_1..z_T (batch, hidden), one at a time; a model without recurrent steps yields one. `hold`:
        units held at a value from a step on (an intervention)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no decoder")

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no classifier")

    def unit_weights(self) -> UnitWeights:
        raise NotImplementedError(f"{type(self).__name__} has no per-unit filters")

    classifier_bound: float | None = None  # the bound on each unit's or class's classifier weights, where one holds

    def digit_grad_norms(self, x, per_digit_loss, steps, x_hat, logits) -> torch.Tensor:
        """(batch,) each digit's gradient norm over all weights, for the per-digit clip (a model with
        `per_digit_clip`)."""
        raise NotImplementedError(f"{type(self).__name__} has no per-digit gradient norms")

    def project_(self) -> None:
        """Constraints on the weights, applied after every optimizer update (none by default)."""

    def penalty(self) -> torch.Tensor | None:
        """A term on the weights added to the training loss (none by default)."""
        return None

    def fit_loss(self, x: torch.Tensor, out: dict) -> torch.Tensor | None:
        """Per digit, what training minimises without labels, if not L_U (`out`: the losses below, per digit, with
        the code z and the reconstruction x_hat). Called in training mode only."""
        return None

    def schedule_(self, epochs_done: float) -> None:
        """Settings of the objective that follow training's progress (a KL warm-up); called before each update."""

    def after_epoch_(self, epoch: int, draw, optimizer, generator: torch.Generator) -> dict:
        """Upkeep at the end of training epoch `epoch` (0-based), before it is validated: a sparse autoencoder
        resamples its dead latents here. `draw(k, generator)`: k training inputs at random (k, n_input), on the
        model's device. Returns columns for the epoch's metrics row (none by default); draws only from `generator`,
        which the checkpoint keeps, so a resumed run does the same."""
        return {}

    def converged(self, x: torch.Tensor) -> torch.Tensor:
        """The codes its steps approach, where it has them (Capabilities.converged): sparse coding's converged
        codes on its dictionary."""
        raise NotImplementedError(f"{type(self).__name__} has no converged codes")

    def code_cost(self, z: torch.Tensor) -> torch.Tensor:
        """Per sample, what the sparsity weight multiplies in L_U: ‖z‖₁ by default."""
        return z.abs().sum(dim=-1)

    @property
    def unsup_weight(self) -> float:
        """The weight of the "l1" term in L_U (the sparsity λ; 1 where L_U is −ELBO = reconstruction + KL)."""
        return self.sparsity

    @property
    def trained_unroll(self) -> int:
        return int(getattr(self.cfg, "unroll", 1))

    @property
    def sparsity(self) -> float:
        return float(getattr(self.cfg, "sparsity", 0.0))

    def encode(self, x: torch.Tensor, unroll: int | None = None, hold: Hold | None = None) -> torch.Tensor:
        """All steps z_1..z_T, shape (T, batch, hidden)."""
        return torch.stack(list(self.steps(x, unroll, hold)))

    def code(self, x: torch.Tensor, unroll: int | None = None, hold: Hold | None = None) -> torch.Tensor:
        """z_T alone: what the losses and inference need, without keeping every step."""
        for z in self.steps(x, unroll, hold):
            pass
        return z

    def forward(self, x: torch.Tensor, unroll: int | None = None):
        z = self.code(x, unroll)
        return z, self._maybe(self.decode, z), self._maybe(self.classify, z)

    @staticmethod
    def _maybe(f, z):
        try:
            return f(z)
        except NotImplementedError:
            return None

    def losses(self, x: torch.Tensor, y: torch.Tensor | None = None, unroll: int | None = None,
               reduce: bool = True) -> dict:
        """Batch means of the reconstruction, L1, unsupervised (L_U = recon + sparsity L1) and, with labels and a
        classifier, supervised (L_S) losses; "objective": what training minimises besides L_S (L_U unless the
        family's fit_loss says otherwise). reduce=False: one value per digit instead, plus every step z_1..z_T
        ("steps") and x_hat (the per-digit gradient clip needs them)."""
        if reduce:
            z, steps = self.code(x, unroll), None
        else:
            steps = list(self.steps(x, unroll))
            z = steps[-1]
        x_hat = self._maybe(self.decode, z)
        logits = self._maybe(self.classify, z if self.labels_train_encoder else z.detach())
        recon = 0.5 * (x - x_hat).pow(2).sum(dim=1) if x_hat is not None else torch.zeros(len(x), device=x.device)
        l1 = self.code_cost(z)
        out = {"recon": recon, "l1": l1, "z": z, "x_hat": x_hat, "logits": logits, "unsup": recon + self.sparsity * l1}
        if y is not None and logits is not None:
            out["sup"] = F.cross_entropy(logits, y, reduction="none")
        fit = self.fit_loss(x, out) if self.training else None
        out["objective"] = out["unsup"] if fit is None else fit
        if reduce:
            out.update({k: out[k].mean() for k in ("recon", "l1", "sup", "unsup", "objective") if k in out})
        else:
            out.update(steps=steps)
        return out
