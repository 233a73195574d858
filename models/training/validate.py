"""What a training epoch measures on the validation samples (and evaluation on the test set): error, losses, activity;
one pass, batched, no gradients."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.data import Split

DENSE = 0.1  # a unit active on more than this share of the samples is "dense"


@torch.no_grad()
def evaluate_split(model, split, unroll: int | None = None, device: str | None = None,
                   batch: int = 2000, densities: bool = False) -> dict:
    """Mean per-digit losses ("l1": the family's code cost, what its sparsity weight multiplies: ‖z‖₁, or L0 for
    JumpReLU; "l1_norm": ‖z‖₁ itself), classification error (%), mean number of active units of z_T, the units active on no
    digit (dead) or on more than DENSE of them (dense), and the fraction of variance unexplained (FVU, Σ‖x − x̂‖² /
    Σ‖x − x̄‖²) on the samples as given: rows scaled one by one (unit norm) are scaled back first
    (`fvu_inputs`: on what the model reads). A model without a classifier has no error and no L_S (None); one
    without a decoder a reconstruction loss of 0 and no FVU. `split`: a Split, or a StoredSplit read a batch at a
    time.

    The model runs in its own dtype (a bfloat16 copy encodes in bfloat16); the sums are taken in float32, the FVU's
    in float64."""
    param = next(model.parameters())
    device = device or param.device
    was_training = model.training
    model.eval()
    sums = torch.zeros(6, dtype=torch.float64)
    per_unit = None  # samples on which each unit is active
    classifier = decoder = False
    moments = {k: Moments() for k in ("given", "inputs")}
    for part in split.batches(batch):
        x = part.x.to(device)
        y = None if part.y is None else part.y.to(device)
        z, x_hat, logits = (None if t is None else t.float() for t in model(x.to(param.dtype), unroll))
        classifier, decoder = logits is not None and y is not None, x_hat is not None
        zero = torch.zeros((), device=device)
        sums += torch.stack([
            0.5 * (x - x_hat).pow(2).sum(1).sum() if decoder else zero,
            model.code_cost(z).sum(),
            F.cross_entropy(logits, y, reduction="sum") if classifier else zero,
            (logits.argmax(1) != y).sum() if classifier else zero,
            (z > 0).sum(),
            z.abs().sum(),
        ]).double().cpu()
        if decoder:
            moments["inputs"].add(x, x_hat)
            if part.row_scale is not None:
                s = part.row_scale.to(device)[:, None]
                moments["given"].add(x / s, x_hat / s)
        fired = (z > 0).sum(0).cpu()
        per_unit = fired if per_unit is None else per_unit + fired
    model.train(was_training)
    n = max(len(split), 1)
    recon, l1, sup, _, active, l1_norm = (sums / n).tolist()
    error = 100.0 * sums[3].item() / n  # one rounding from the count: 1.42, not 1.4200000000000002
    dead = int((per_unit == 0).sum()) if per_unit is not None else 0
    dense = int((per_unit > DENSE * n).sum()) if per_unit is not None else 0
    fvu_inputs = moments["inputs"].fvu() if decoder else None
    out = {"error": error if classifier else None, "recon": recon, "l1": l1, "l1_norm": l1_norm,
           "unsup": recon + model.unsup_weight * l1,
           "sup": sup if classifier else None, "active": active, "dead": dead, "dense": dense,
           "fvu": moments["given"].fvu() if moments["given"].n else fvu_inputs, "fvu_inputs": fvu_inputs}
    if densities and per_unit is not None:  # each unit's activation density: the share of samples it is active on
        out["density"] = (per_unit.double() / n).numpy()
    return out


class Moments:
    """Running sums for the FVU: Σ‖x − x̂‖², Σx, Σ‖x‖² (float64), one batch at a time."""

    def __init__(self):
        self.n, self.err, self.total, self.sq = 0, 0.0, None, 0.0

    def add(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        x, x_hat = x.double(), x_hat.double()
        self.n += len(x)
        self.err += float((x - x_hat).pow(2).sum())
        s = x.sum(0)
        self.total = s if self.total is None else self.total + s
        self.sq += float(x.pow(2).sum())

    def fvu(self) -> float | None:
        if not self.n:
            return None
        var = self.sq - float(self.total.pow(2).sum()) / self.n  # Σ‖x − x̄‖²
        return self.err / var if var > 0 else None  # constant samples: no variance to explain
