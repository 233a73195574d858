"""What each unit of a generative hierarchy means, and what the hierarchy draws: a unit switched on alone and
carried down to the pixels, its top digits, its probability of being exactly zero; samples that keep a digit's own
code in the upper layers and draw the lower ones afresh; a top unit clamped over a range.

Carried down means through the prior's means, layer by layer (no sampling noise), to pixel probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import models.families.rg_vae.rectified_gaussian as rg
from models.families.rg_vae.likelihood import ACTIVE_COVARIANCE

TOP_DIGITS = 12
ON_QUANTILE = 0.99  # a unit switched on alone takes the value it reaches on the top 1 % of digits


@torch.no_grad()
def carried_down(model, layer: int, values: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities (n, pixels) from layer `layer` (0: the bottom) at `values` (n, units), every layer below
    at its prior's mean given the one above."""
    z = values
    for below in reversed(range(layer)):
        z = rg.mean(*model.prior(below, z, len(z)))
    return torch.sigmoid(model.out(z))


@dataclass
class LayerUnits:
    images: np.ndarray  # (units, pixels) each unit alone at `value`, the rest of its layer at 0, carried down
    base: np.ndarray  # (pixels,) the whole layer at 0, carried down
    value: np.ndarray  # (units,) the value each unit was switched on at
    p_zero: np.ndarray  # (units,) mean over digits of the posterior's probability that the unit is exactly 0
    activity: np.ndarray  # (units,) variance over digits of the unit's posterior mean
    top_digits: np.ndarray  # (units, TOP_DIGITS) digit indices, highest posterior mean first

    @property
    def inactive(self) -> np.ndarray:
        """(units,) units whose posterior mean hardly varies over digits (Burda et al.'s criterion, as likelihood()
        counts them): each draws what its layer draws at 0."""
        return self.activity <= ACTIVE_COVARIANCE


@dataclass
class Hierarchy:
    layers: list[LayerUnits]  # bottom first
    digits: int


@torch.no_grad()
def hierarchy(model, x: torch.Tensor, batch: int = 2000) -> Hierarchy:
    """Every unit of every layer, on digits `x` (the family's inputs; binarised here as evaluation does)."""
    model.eval()
    x = model.evaluation_inputs(x)
    L = len(model.cfg.sizes)
    means, p_zero = [[] for _ in range(L)], [[] for _ in range(L)]
    for i in range(0, len(x), batch):
        ps = model.run(x[i:i + batch], sample=False)
        for l in range(L):  # noqa: E741
            means[l].append(ps.z[l])
            p_zero[l].append(rg.p_zero(*ps.q[l]))
    layers = []
    for l, size in enumerate(model.cfg.sizes):  # noqa: E741
        m = torch.cat(means[l])
        value = torch.quantile(m, ON_QUANTILE, dim=0) if len(m) > 1 else m[0]
        images = carried_down(model, l, torch.diag(value))
        base = carried_down(model, l, torch.zeros(1, size))[0]
        top = torch.argsort(m, dim=0, descending=True)[:TOP_DIGITS].T
        layers.append(LayerUnits(images.numpy(), base.numpy(), value.numpy(), torch.cat(p_zero[l]).mean(0).numpy(),
                                 m.var(0).numpy() if len(m) > 1 else np.zeros(size), top.numpy()))
    return Hierarchy(layers, len(x))


@dataclass
class Samples:
    digit: np.ndarray  # (pixels,) the digit as the model saw it (binarised)
    from_bottom: np.ndarray  # (layers + 1, n, pixels): at depth d the d lowest layers drawn afresh from the prior
    # given the digit's own code above them
    from_top: np.ndarray  # (layers + 1, n, pixels): at depth d the d top layers drawn afresh from the prior, the
    # layers below inferred from the digit given them (the posterior's means)
    reconstruction: np.ndarray  # (pixels,) the digit's own code carried down (depth 0 of both)


@torch.no_grad()
def samples(model, x: torch.Tensor | None, n: int, seed: int = 0) -> Samples:
    """n samples at every depth 0..L for one digit `x` (pixels,), pixels as their probabilities, both ways: the d
    lowest layers drawn afresh below the digit's own code (its posterior means), or the d top layers drawn afresh
    and the layers below inferred from the digit given them. Without a digit, every frame is fresh ancestral
    samples (depth L)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    L = len(model.cfg.sizes)
    if x is None:
        fresh = np.repeat(model.generate(n, generator=g)[0].numpy()[None], L + 1, 0)
        return Samples(np.zeros(model.cfg.n_input), fresh, fresh, np.zeros(model.cfg.n_input))
    xb = model.evaluation_inputs(x[None])
    code = model.run(xb, sample=False).z
    recon = carried_down(model, 0, code[0])[0].numpy()
    from_bottom, from_top = [np.repeat(recon[None], n, 0)], [np.repeat(recon[None], n, 0)]
    for depth in range(1, L + 1):
        given = None if depth == L else code[depth].expand(n, -1)
        from_bottom.append(model.generate(n, from_layer=depth - 1, given=given, generator=g)[0].numpy())
        fresh = model.generate(n, generator=g)[1:]  # every layer, bottom first; the top `depth` ones are kept
        run = model.run(xb.expand(n, -1), sample=False, clamp={l: fresh[l] for l in range(L - depth, L)})
        from_top.append(torch.sigmoid(run.logits).numpy())
    return Samples(xb[0].numpy(), np.stack(from_bottom), np.stack(from_top), recon)


@torch.no_grad()
def traversal(model, x: torch.Tensor | None, unit: int, values: np.ndarray) -> np.ndarray:
    """Pixel probabilities (len(values), pixels) with the top layer at a digit's own code (its posterior mean;
    without a digit, 0) except `unit`, clamped at each value, carried down through the prior's means."""
    model.eval()
    top = len(model.cfg.sizes) - 1
    base = (model.run(model.evaluation_inputs(x[None]), sample=False).z[top] if x is not None
            else torch.zeros(1, model.cfg.sizes[top]))
    z = base.repeat(len(values), 1)
    z[:, unit] = torch.as_tensor(values, dtype=z.dtype)
    return carried_down(model, top, z).numpy()


@dataclass
class LayerCode:
    """One digit's code: what the model saw, its reconstruction, and per layer each unit's posterior mean and its
    probability of being exactly 0."""
    digit: np.ndarray  # (pixels,) binarised
    reconstruction: np.ndarray  # (pixels,) pixel probabilities from the posterior means
    means: list[np.ndarray]  # bottom first, (units,) each
    p_zero: list[np.ndarray]


@torch.no_grad()
def layer_code(model, x: torch.Tensor) -> LayerCode:
    model.eval()
    xb = model.evaluation_inputs(x[None])
    ps = model.run(xb, sample=False)
    return LayerCode(xb[0].numpy(), torch.sigmoid(ps.logits)[0].numpy(), [z[0].numpy() for z in ps.z],
                     [rg.p_zero(*q)[0].numpy() for q in ps.q])
