"""The Discriminative Recurrent Sparse Auto-Encoder (Rolfe & LeCun, ICLR 2013).

    z_0 = 0,  z_{t+1} = ReLU(E x + S z_t - b),  x_hat = D z_T,  p(y|x) = softmax(C z_T / ||z_T||)
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-8  # keeps C z / ||z|| finite when every unit is silent
C_BOUNDS = {"unit": 0, "class": 1}  # the dim of C (classes x hidden) whose norms are bounded


@dataclass(frozen=True)
class DrSAEConfig:
    n_input: int = 784
    hidden: int = 400
    unroll: int = 11
    sparsity: float = 0.025  # lambda of the L1 term (chosen on the validation split: README)
    n_classes: int = 10
    d_col_max: float = 1.0
    c_row_max: float = 5.0  # the bound on C's norms: per class (the paper's "rows of C") or per unit
    # "class": each class's row C[k, :] (the paper's words); its budget then piles onto one unit per class and
    # caps every logit at 5. "unit": each unit's weights to the classes, C[:, i], so every categorical unit can
    # get a strong vote (faster to train at 200 units, the same error at 400: README, Recipe and results).
    c_bound: str = "class"
    e_row_scale: float = 1.25  # rows of E bounded by e_row_scale / (T - 1)

    @property
    def e_row_max(self) -> float:
        return math.inf if self.unroll <= 1 else self.e_row_scale / (self.unroll - 1)

    def __post_init__(self):
        if self.c_bound not in C_BOUNDS:
            raise ValueError(f"c_bound must be one of {', '.join(C_BOUNDS)}, got {self.c_bound!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DrSAEConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class DrSAE(nn.Module):
    def __init__(self, cfg: DrSAEConfig, dictionary: torch.Tensor | None = None, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        n, m, k = cfg.hidden, cfg.n_input, cfg.n_classes
        g = torch.Generator().manual_seed(seed)
        if dictionary is None:
            dictionary = torch.randn(m, n, generator=g)
            dictionary = dictionary / dictionary.norm(dim=0, keepdim=True)
        self.E = nn.Parameter(torch.empty(n, m))
        self.S = nn.Parameter(torch.empty(n, n))
        self.b = nn.Parameter(torch.empty(n))
        self.D = nn.Parameter(dictionary.clone().float())
        self.C = nn.Parameter(torch.randn(k, n, generator=g) * 0.01)
        self.ista_init_()

    # -- initialisation and constraints -------------------------------------------------

    def ista_step_size(self) -> float:
        """Largest a for which ISTA converges (a <= 1/||D||^2), capped by the bound on rows of E."""
        lipschitz = torch.linalg.matrix_norm(self.D.detach().double(), ord=2).item() ** 2
        return min(1.0 / lipschitz, self.cfg.e_row_max / max(self.cfg.d_col_max, EPS))

    @torch.no_grad()
    def ista_init_(self, a: float | None = None) -> float:
        """E = a D^T, S = I - a D^T D, b = a lambda: the encoder then *is* non-negative ISTA."""
        a = self.ista_step_size() if a is None else a
        D = self.D
        self.E.copy_(a * D.T)
        self.S.copy_(torch.eye(self.cfg.hidden, device=D.device) - a * D.T @ D)
        self.b.fill_(a * self.cfg.sparsity)
        return a

    @torch.no_grad()
    def project_(self) -> None:
        """The paper's norm bounds, applied after every optimizer step."""
        _clip_norm_(self.D, dim=0, max_norm=self.cfg.d_col_max)
        _clip_norm_(self.C, dim=C_BOUNDS[self.cfg.c_bound], max_norm=self.cfg.c_row_max)
        if math.isfinite(self.cfg.e_row_max):
            _clip_norm_(self.E, dim=1, max_norm=self.cfg.e_row_max)

    # -- forward ---------------------------------------------------------------------------

    def steps(self, x: torch.Tensor, unroll: int | None = None) -> Iterator[torch.Tensor]:
        """z_1..z_T, one at a time. `unroll` may differ from the trained T."""
        T = self.cfg.unroll if unroll is None else int(unroll)
        if T < 1:
            raise ValueError(f"unroll must be at least 1, got {T}")
        drive = F.linear(x, self.E) - self.b  # E x - b is the same at every step
        z = F.relu(drive)
        yield z
        for _ in range(T - 1):
            z = torch.addmm(drive, z, self.S.T).relu_()  # in place: one buffer less per step
            yield z

    def encode(self, x: torch.Tensor, unroll: int | None = None) -> torch.Tensor:
        """All steps z_1..z_T, shape (T, batch, hidden)."""
        return torch.stack(list(self.steps(x, unroll)))

    def code(self, x: torch.Tensor, unroll: int | None = None) -> torch.Tensor:
        """z_T alone: what the losses and inference need, without keeping every step."""
        for z in self.steps(x, unroll):
            pass
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(z, self.D)

    @staticmethod
    def direction(z: torch.Tensor) -> torch.Tensor:
        """z / ||z||: what the classifier sees, so the class depends on the code's direction only."""
        return z / (z.norm(dim=-1, keepdim=True) + EPS)

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Logits C z / ||z||."""
        return F.linear(self.direction(z), self.C)

    def forward(self, x: torch.Tensor, unroll: int | None = None):
        z = self.code(x, unroll)
        return z, self.decode(z), self.classify(z)

    def losses(self, x: torch.Tensor, y: torch.Tensor | None = None, unroll: int | None = None,
               reduce: bool = True) -> dict:
        """Batch means of the reconstruction, L1, unsupervised (L_U) and, with labels, supervised (L_S) losses.
        reduce=False: one value per digit instead, plus every step z_1..z_T ("steps") and x_hat (the per-digit
        gradient clip needs them)."""
        if reduce:
            z = self.code(x, unroll)
            steps = None
        else:
            steps = list(self.steps(x, unroll))
            z = steps[-1]
        x_hat, logits = self.decode(z), self.classify(z)
        recon = 0.5 * (x - x_hat).pow(2).sum(dim=1)
        l1 = z.sum(dim=1)  # z >= 0, so |z|_1 = sum z
        out = {"recon": recon, "l1": l1, "z": z, "logits": logits}
        if y is not None:
            out["sup"] = F.cross_entropy(logits, y, reduction="none")
        if reduce:
            out.update({k: out[k].mean() for k in ("recon", "l1", "sup") if k in out})
        else:
            out.update(steps=steps, x_hat=x_hat)
        out["unsup"] = out["recon"] + self.cfg.sparsity * out["l1"]
        return out


def _clip_norm_(w: torch.Tensor, dim: int, max_norm: float) -> None:
    norms = w.norm(dim=dim, keepdim=True)
    w.mul_(torch.clamp(max_norm / (norms + 1e-12), max=1.0))
