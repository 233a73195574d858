"""Sparse encoders measured on the same samples: error, reconstruction, sparse-coding objective against ISTA's, how
many ISTA iterations each is worth, conditioning, and sensitivity to noise and to an attack.

Works for any model with a decoder and per-unit filters. The sparse-coding rows need recurrent steps (an encoder
that approximates sparse coding's minimum on its own dictionary: ISTA, LISTA, the DrSAEs); a one-pass autoencoder
(TopK, JumpReLU, ...) is not such an approximation, so it has None there. cond(S) needs recurrent weights S; the
error and the attack a classifier. Definitions:
- FVU: Σ‖x − x̂‖² / Σ‖x − x̄‖² over the samples (0 perfect, 1 no better than their mean); dead: the share of units
  that fire on none of them.
- objective: ½‖x − D z_T‖² + λ‖z_T‖₁ on the model's own decoder D and λ (mean over samples); the reference is
  its minimum over z ≥ 0 on the same D (FISTA, `REFERENCE_ITERATIONS`).
- equivalent ISTA iterations: the fewest iterations of ISTA (a = 1/‖D‖², from z = 0) whose mean objective is
  at most the model's; None when `max_iterations` do not reach it.
- code error (Gregor & LeCun's own measure of LISTA): the mean ‖z_T − z*‖² to the optimal codes z*, and the fewest
  ISTA and FISTA iterations whose codes are as close (lower error and fewer iterations: a better encoder).
- conditioning: per sample, the condition number σ_max / σ_min of S restricted to the units active in z_T (the
  step map's Jacobian there); the median over samples.
- sensitivity: mean ‖z_T(x + δ) − z_T(x)‖ / ‖δ‖ for Gaussian δ with ‖δ‖ = level · ‖x‖.
- attack: L2 projected gradient ascent on the classifier's loss, 10 steps, ‖δ‖ ≤ ε‖x‖.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from models.families import capabilities
from models.families.recurrent import ista_operators, lipschitz, objective, sparse_codes

NOISE_LEVELS = (0.05, 0.1, 0.2)
ATTACK_EPS = (0.1, 0.2)
ATTACK_STEPS = 10
MAX_ITERATIONS = 1000  # ISTA iterations searched for the model's objective
REFERENCE_ITERATIONS = 300  # FISTA: within 0.01 % of its 1,000-iteration objective on MNIST at λ = 0.025
TARGET_ERROR = 2.0  # % validation error, for "epochs to reach"


@dataclass
class Comparison:
    """One model's numbers on a set of samples (None where the model cannot have it)."""
    error: float | None  # % test error
    recon: float  # mean ½‖x − x̂‖²
    l0: float  # mean active units
    objective: float | None  # None: a model without steps (below too)
    reference_objective: float | None  # ISTA's converged objective on the same D
    equivalent_ista: int | None
    condition: float | None  # median condition number of S on the active set (None: no S)
    sensitivity: dict[float, float]  # noise level -> mean ‖Δz‖ / ‖δ‖
    noise_error: dict[float, float | None]  # noise level -> % error under that noise
    attack_error: dict[float, float | None]  # ε -> % error under the attack
    ista_curve: list[float] = field(default_factory=list)  # ISTA's mean objective after 1, 2, ... iterations
    # (up to the first that reaches the model's)
    code_error: float | None = None  # mean ‖z_T − z*‖²
    equivalent_ista_code: int | None = None  # ISTA iterations to codes as close to z*
    equivalent_fista_code: int | None = None  # FISTA iterations to codes as close to z*
    fvu: float | None = None  # Σ‖x − x̂‖² / Σ‖x − x̄‖²
    dead: float | None = None  # share of units active on none of the samples

    @property
    def objective_gap(self) -> float | None:
        """How far above the optimum, in % of the optimum."""
        if self.objective is None or self.reference_objective is None:
            return None
        return 100.0 * (self.objective - self.reference_objective) / max(abs(self.reference_objective), 1e-12)


def _error(logits: torch.Tensor | None, y: torch.Tensor) -> float | None:
    return None if logits is None else 100.0 * (logits.argmax(1) != y).sum().item() / len(y)


def _logits(model, z: torch.Tensor) -> torch.Tensor | None:
    try:
        return model.classify(z)
    except NotImplementedError:
        return None


@torch.no_grad()
def ista_objectives(D: torch.Tensor, x: torch.Tensor, sparsity: float, iterations: int,
                    stop_at: float = -math.inf) -> list[float]:
    """The mean objective of non-negative ISTA (a = 1/‖D‖², z_0 = 0) after each of 1..iterations steps, stopping
    early at the first at most `stop_at`."""
    E, S, b = ista_operators(D, 1.0 / lipschitz(D), sparsity)
    drive = F.linear(x, E) - b
    z = F.relu(drive)
    out = [objective(D, x, z, sparsity).mean().item()]
    while len(out) < iterations and out[-1] > stop_at:
        z = torch.addmm(drive, z, S.T).relu_()
        out.append(objective(D, x, z, sparsity).mean().item())
    return out


@torch.no_grad()
def code_errors(D: torch.Tensor, x: torch.Tensor, sparsity: float, z_star: torch.Tensor, iterations: int,
                stop_at: float = -math.inf, momentum: bool = False) -> list[float]:
    """The mean ‖z_k − z*‖² of non-negative ISTA (FISTA with `momentum`) from z = 0 after each of 1..iterations steps,
    stopping early at the first at most `stop_at`."""
    E, S, b = ista_operators(D, 1.0 / lipschitz(D), sparsity)
    drive = F.linear(x, E) - b
    z = y = torch.zeros_like(z_star)
    m, out = 1.0, []
    while len(out) < iterations and (not out or out[-1] > stop_at):
        z_next = torch.addmm(drive, y, S.T).relu_()
        if momentum:
            m_next = (1 + (1 + 4 * m * m) ** 0.5) / 2
            y = z_next + ((m - 1) / m_next) * (z_next - z)
            m = m_next
        else:
            y = z_next
        z = z_next
        out.append((z - z_star).pow(2).sum(1).mean().item())
    return out


def equivalent_iterations(curve: list[float], value: float) -> int | None:
    """The first iteration count (1-based) whose objective is at most `value`."""
    for k, v in enumerate(curve, 1):
        if v <= value:
            return k
    return None


@torch.no_grad()
def active_condition(S: torch.Tensor, z: torch.Tensor, samples: int = 300) -> float:
    """Median over samples of cond(S[A, A]), A the units active in that sample's z (samples with none skipped)."""
    conds = []
    for row in z[:samples]:
        A = torch.nonzero(row > 0).flatten()
        if len(A) == 0:
            continue
        s = torch.linalg.svdvals(S[A][:, A].double())
        conds.append(math.inf if s[-1] <= 0 else (s[0] / s[-1]).item())  # one sync a sample: 300 at most
    return float(np.median(conds)) if conds else math.nan


@torch.no_grad()
def noise_numbers(model, x: torch.Tensor, y: torch.Tensor, unroll: int, levels=NOISE_LEVELS, seed: int = 0):
    """Per level: mean ‖z_T(x + δ) − z_T(x)‖ / ‖δ‖, and the error on x + δ."""
    g = torch.Generator().manual_seed(seed)
    z = model.code(x, unroll)
    sens, errs = {}, {}
    for level in levels:
        d = torch.randn(x.shape, generator=g).to(x.device)
        d = d / d.norm(dim=1, keepdim=True) * level * x.norm(dim=1, keepdim=True)
        zn = model.code(x + d, unroll)
        sens[level] = ((zn - z).norm(dim=1) / d.norm(dim=1).clamp_min(1e-12)).mean().item()
        errs[level] = _error(_logits(model, zn), y)
    return sens, errs


def attack_error(model, x: torch.Tensor, y: torch.Tensor, unroll: int, eps: float,
                 steps: int = ATTACK_STEPS) -> float:
    """% error under an L2 projected-gradient attack: `steps` normalised ascent steps of 2.5 ε / steps on the
    cross-entropy, each projected back onto ‖δ‖ ≤ ε‖x‖."""
    radius = eps * x.norm(dim=1, keepdim=True)
    step = 2.5 * radius / steps
    d = torch.zeros_like(x)
    for _ in range(steps):
        d.requires_grad_(True)
        loss = F.cross_entropy(model.classify(model.code(x + d, unroll)), y)
        (g,) = torch.autograd.grad(loss, d)
        with torch.no_grad():
            d = d + step * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
            d = d * torch.clamp(radius / d.norm(dim=1, keepdim=True).clamp_min(1e-12), max=1.0)
    with torch.no_grad():
        return _error(model.classify(model.code(x + d, unroll)), y)


def compare_model(model, x: torch.Tensor, y: torch.Tensor, unroll: int | None = None,
                  max_iterations: int = MAX_ITERATIONS, reference_digits: int = 2000) -> Comparison:
    """All of the module's numbers that apply to one model with a decoder and filters, on samples (x, y)."""
    model = model.float().eval()
    T = model.trained_unroll if unroll is None else unroll
    w = model.unit_weights()
    with torch.no_grad():
        z = model.code(x, T)
        x_hat = model.decode(z)
        logits = _logits(model, z)
        fvu = ((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)).item()
        coding = sparse_coding_numbers(model, w, x[:reference_digits], z[:reference_digits], max_iterations) \
            if capabilities(model).steps else {}
    S = None if w.recurrent is None else torch.from_numpy(w.recurrent).float().to(x.device)
    sens, noise_err = noise_numbers(model, x, y, T)
    has_classifier = logits is not None
    attacks = {eps: attack_error(model, x, y, T, eps) if has_classifier else None for eps in ATTACK_EPS}
    return Comparison(
        error=_error(logits, y), recon=(0.5 * (x - x_hat).pow(2).sum(1)).mean().item(),
        l0=(z > 0).float().sum(1).mean().item(), objective=coding.get("objective"),
        reference_objective=coding.get("reference_objective"), equivalent_ista=coding.get("equivalent_ista"),
        condition=None if S is None else active_condition(S, z), sensitivity=sens, noise_error=noise_err,
        attack_error=attacks, ista_curve=coding.get("ista_curve", []), code_error=coding.get("code_error"),
        equivalent_ista_code=coding.get("equivalent_ista_code"),
        equivalent_fista_code=coding.get("equivalent_fista_code"), fvu=fvu,
        dead=1.0 - (z > 0).any(0).float().mean().item())


@torch.no_grad()
def sparse_coding_numbers(model, w, xs: torch.Tensor, zs: torch.Tensor, max_iterations: int) -> dict:
    """The rows about sparse coding's minimum on the model's own dictionary D and λ: its objective and the optimum's,
    ISTA's curve up to it, the code error to the optimal codes and the ISTA and FISTA iterations worth as much."""
    lam = model.sparsity
    D = torch.from_numpy(w.decoder.T).float().to(xs.device)
    own = objective(D, xs, zs, lam).mean().item()
    z_star = sparse_codes(D, xs, lam, REFERENCE_ITERATIONS)
    curve = ista_objectives(D, xs, lam, max_iterations, stop_at=own)
    code = (zs - z_star).pow(2).sum(1).mean().item()
    ista_code = code_errors(D, xs, lam, z_star, max_iterations, stop_at=code)
    fista_code = code_errors(D, xs, lam, z_star, max_iterations, stop_at=code, momentum=True)
    return {"objective": own, "reference_objective": objective(D, xs, z_star, lam).mean().item(),
            "equivalent_ista": equivalent_iterations(curve, own), "ista_curve": curve, "code_error": code,
            "equivalent_ista_code": equivalent_iterations(ista_code, code),
            "equivalent_fista_code": equivalent_iterations(fista_code, code)}


@dataclass
class Training:
    """What a run's metrics say about its training: per-update gradient norms over all epochs, and convergence."""
    grad_cv: float | None  # coefficient of variation of the per-update gradient norm, pooled over epochs
    grad_max_median: float | None  # largest norm / median of the per-epoch medians
    epochs_to_target: int | None  # first epoch (1-based) with validation error ≤ TARGET_ERROR
    val_error: list[float | None]  # per epoch
    wall_time: float | None  # seconds
    val_recon: list[float | None] = field(default_factory=list)  # per epoch: mean ½‖x − x̂‖² on validation samples


def training_numbers(history: list[dict]) -> Training:
    rows = [r for r in history if r.get("grad_norm_n")]
    cv = ratio = None
    if rows:
        n = np.array([r["grad_norm_n"] for r in rows], dtype=float)
        m = np.array([r["grad_norm_mean"] for r in rows])
        s = np.array([r["grad_norm_std"] for r in rows])
        mean = (n * m).sum() / n.sum()
        var = (n * (s ** 2 + (m - mean) ** 2)).sum() / n.sum()  # pooled: within and between epochs
        cv = float(math.sqrt(var) / mean) if mean > 0 else None
        median = float(np.median([r["grad_norm_median"] for r in rows]))
        ratio = max(r["grad_norm_max"] for r in rows) / median if median > 0 else None
    errors = [r.get("val_error") for r in history]
    reached = next((i + 1 for i, e in enumerate(errors) if e is not None and e <= TARGET_ERROR), None)
    return Training(cv, ratio, reached, errors, history[-1].get("elapsed") if history else None,
                    [r.get("val_recon") for r in history])
