"""Per-digit gradient clipping for a DrSAE, without computing per-digit gradients.

Backpropagation through the 11 steps explodes for a few ambiguous digits (norms of hundreds where the median
digit has ~1). Clipping the batch's mean gradient then spends the whole update on that one digit. Clipping each
digit's gradient to `max_norm` before the mean keeps every digit's vote and caps the outlier's. Measured, it
does not help: those digits are where L_S learns (cut to the median's norm it learns 3x more slowly; cut only in
the far tail, nothing changes): reports/cpu-runs, session 7. So it is a flag, off.

Each digit's gradient norm comes from quantities the backward pass has anyway. Every weight enters through a
product with a per-digit vector, so its per-digit gradient is an outer product or a sum of them:
E: g_drive x^T, b: -g_drive, D: g_xhat z_T^T, C: g_logits u^T (u = z_T/||z_T||), and the recurrent
S: sum_t delta_t z_{t-1}^T, whose squared norm is sum_{t,s} (delta_t . delta_s)(z_{t-1} . z_{s-1}).
Here delta_t = dL/d(pre-activation of step t) = dL/dz_t masked where z_t > 0, and g_drive = sum_t delta_t.
"""
from __future__ import annotations

import torch


def digit_grad_norms(model, x: torch.Tensor, per_digit_loss: torch.Tensor, steps: list[torch.Tensor],
                     x_hat: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """(B,) norms of each digit's gradient of `per_digit_loss` over all of the model's weights.
    The graph is kept, so the caller can still backpropagate the (reweighted) loss."""
    outs = [*steps, x_hat, logits]
    grads = torch.autograd.grad(per_digit_loss.sum(), outs, retain_graph=True, allow_unused=True)
    grads = [torch.zeros_like(o) if g is None else g for g, o in zip(grads, outs)]  # no L_S in pre-training
    g_z, g_xhat, g_logits = grads[:-2], grads[-2], grads[-1]
    with torch.no_grad():
        delta = torch.stack([g * (z > 0) for g, z in zip(g_z, steps)])  # (T, B, n)
        g_drive = delta.sum(0)
        sq = g_drive.pow(2).sum(1) * (x.pow(2).sum(1) + 1.0)  # E and b
        if len(steps) > 1:  # S: delta_t with z_{t-1}, t = 2..T
            d, z = delta[1:], torch.stack(steps[:-1])
            sq += (torch.einsum("tbn,sbn->bts", d, d) * torch.einsum("tbn,sbn->bts", z, z)).sum((1, 2))
        z_T = steps[-1]
        sq += g_xhat.pow(2).sum(1) * z_T.pow(2).sum(1)  # D
        sq += g_logits.pow(2).sum(1) * model.direction(z_T).pow(2).sum(1)  # C
    return sq.clamp_min(0).sqrt()


def clip_weights(norms: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Per-digit loss weights min(1, max_norm / norm): each weighted digit's gradient has norm <= max_norm."""
    return torch.clamp(max_norm / (norms + 1e-12), max=1.0)
