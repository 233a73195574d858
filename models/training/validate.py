"""What a training epoch measures on the validation samples (and evaluation on the test set): error, losses, activity;
one pass, batched, no gradients."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.data import Split

DENSE = 0.1  # a unit active on more than this share of the samples is "dense"


@torch.no_grad()
def evaluate_split(model, split: Split, unroll: int | None = None, device: str | None = None,
                   batch: int = 2000, densities: bool = False) -> dict:
    """Mean per-digit losses, classification error (%), mean number of active units of z_T, and the units active
    on no digit (dead) or on more than DENSE of them (dense). A model without
    a classifier has no error and no L_S (None); one without a decoder a reconstruction loss of 0.

    The model runs in its own dtype (a bfloat16 copy encodes in bfloat16); the sums are taken in float32."""
    param = next(model.parameters())
    device = device or param.device
    was_training = model.training
    model.eval()
    sums = torch.zeros(5, dtype=torch.float64)
    per_unit = None  # samples on which each unit is active
    classifier = False
    for i in range(0, len(split), batch):
        x = split.x[i:i + batch].to(device)
        y = None if split.y is None else split.y[i:i + batch].to(device)
        z, x_hat, logits = (None if t is None else t.float() for t in model(x.to(param.dtype), unroll))
        classifier = logits is not None and y is not None
        zero = torch.zeros((), device=device)
        sums += torch.stack([
            0.5 * (x - x_hat).pow(2).sum(1).sum() if x_hat is not None else zero,
            model.code_cost(z).sum(),
            F.cross_entropy(logits, y, reduction="sum") if classifier else zero,
            (logits.argmax(1) != y).sum() if classifier else zero,
            (z > 0).sum(),
        ]).double().cpu()
        fired = (z > 0).sum(0).cpu()
        per_unit = fired if per_unit is None else per_unit + fired
    model.train(was_training)
    n = max(len(split), 1)
    recon, l1, sup, _, active = (sums / n).tolist()
    error = 100.0 * sums[3].item() / n  # one rounding from the count: 1.42, not 1.4200000000000002
    dead = int((per_unit == 0).sum()) if per_unit is not None else 0
    dense = int((per_unit > DENSE * n).sum()) if per_unit is not None else 0
    out = {"error": error if classifier else None, "recon": recon, "l1": l1, "unsup": recon + model.unsup_weight * l1,
           "sup": sup if classifier else None, "active": active, "dead": dead, "dense": dense}
    if densities and per_unit is not None:  # each unit's activation density: the share of samples it is active on
        out["density"] = (per_unit.double() / n).numpy()
    return out
