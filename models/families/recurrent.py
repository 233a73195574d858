"""What ISTA, LISTA, the DrSAE and the structured + residual DrSAE share: one recurrence, and sparse coding itself.

    z_0 = 0,  z_{t+1} = ReLU(E x + S z_t - b),  x_hat = D z_T

Non-negative ISTA on a dictionary D with step a is this recurrence with E = a Dᵀ, S = I - a DᵀD, b = a λ: it
descends the sparse-coding objective ½‖x - D z‖² + λ‖z‖₁ (z ≥ 0). The families differ in which of E, S, b, D
are learned and how.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from models.families.base import Hold, SparseModel, UnitWeights, as_array


def lipschitz(D: torch.Tensor) -> float:
    """‖D‖₂²: the Lipschitz constant of the reconstruction term's gradient; ISTA converges for a ≤ 1 / it."""
    return torch.linalg.matrix_norm(D.detach().double(), ord=2).item() ** 2


def ista_operators(D: torch.Tensor, a: float | torch.Tensor, sparsity: float):
    """E, S, b of non-negative ISTA with step a on dictionary D (n_input × hidden)."""
    E = a * D.T
    # I − (a Dᵀ) D in one product: the structured DrSAE forms S every update, and the scale and the subtraction
    # as passes of their own cost about as much again as the product on the CPU (bench/family_speed.py)
    S = torch.addmm(torch.eye(D.shape[1], device=D.device, dtype=D.dtype), E, D, alpha=-1)
    return E, S, a * sparsity * torch.ones(D.shape[1], device=D.device, dtype=D.dtype)


def objective(D: torch.Tensor, x: torch.Tensor, z: torch.Tensor, sparsity: float) -> torch.Tensor:
    """The sparse-coding objective per digit: ½‖x - D z‖² + λ‖z‖₁."""
    return 0.5 * (x - F.linear(z, D)).pow(2).sum(-1) + sparsity * z.abs().sum(-1)


@torch.no_grad()
def sparse_codes(D: torch.Tensor, x: torch.Tensor, sparsity: float, iterations: int,
                 a: float | None = None) -> torch.Tensor:
    """The minimiser of the objective over z ≥ 0, by non-negative FISTA (ISTA with Nesterov momentum: the same
    fixed point, reached in far fewer iterations). The reference codes every encoder is measured against."""
    a = 1.0 / lipschitz(D) if a is None else a
    E, S, b = ista_operators(D, a, sparsity)
    drive = F.linear(x, E) - b
    z = y = torch.zeros(len(x), D.shape[1], device=x.device, dtype=x.dtype)
    m = 1.0
    for _ in range(iterations):
        z_next = torch.addmm(drive, y, S.T).relu_()
        m_next = (1 + (1 + 4 * m * m) ** 0.5) / 2
        y = z_next + ((m - 1) / m_next) * (z_next - z)
        z, m = z_next, m_next
    return z


def clip_norm_(w: torch.Tensor, dim: int, max_norm: float) -> None:
    """Scale the slices of w along `dim` down to norm `max_norm` at most (dim 0 of D: its columns)."""
    norms = w.norm(dim=dim, keepdim=True)
    w.mul_(torch.clamp(max_norm / (norms + 1e-12), max=1.0))


def random_dictionary(n_input: int, hidden: int, g: torch.Generator, norm: float = 1.0) -> torch.Tensor:
    """Gaussian columns of norm `norm` (n_input × hidden): the start of a model built to load weights into."""
    if torch.empty(0).is_meta:  # built on the meta device for its shapes alone: nothing to compute (arithmetic
        return torch.empty(n_input, hidden)  # there imports torch's compiler, about a second)
    D = torch.randn(n_input, hidden, generator=g)
    D = D / D.norm(dim=0, keepdim=True)
    return D if norm == 1.0 else D * norm


INITS = {"samples": "random training samples minus the mean sample",
         "windows": "centred windows of random training samples, the rest 0: local pieces (samples that are not "
                    "images: whole samples, as 'samples')",
         "random": "random unit columns"}
WINDOW = 0.36  # a window's side, of the image's shorter side: 10 pixels of a 28 × 28 digit, about a stroke


def initial_dictionary(train_x: torch.Tensor, hidden: int, seed: int) -> torch.Tensor:
    """Random training samples minus the mean sample, as unit decoder columns. Random columns would leave
    every unit below threshold (|D_i^T x| ~ 0.04 < lambda): a silent ReLU network gets no gradient.
    Raw digits all overlap (a = 1/||D||^2 ~ 0.006, a stalled ISTA); centred ones give a ~ 0.025."""
    g = torch.Generator().manual_seed(seed)
    cols = train_x[torch.randperm(len(train_x), generator=g)[:hidden]] - train_x.mean(0)
    if len(cols) < hidden:  # fewer samples than units: pad with noise
        cols = torch.cat([cols, torch.randn(hidden - len(cols), train_x.shape[1], generator=g)])
    return (cols / cols.norm(dim=1, keepdim=True).clamp_min(1e-8)).T.contiguous()


def window_dictionary(train_x: torch.Tensor, hidden: int, seed: int, shape: tuple[int, int]) -> torch.Tensor:
    """Decoder columns each a window of a random training image (its mean removed, the rest of the image 0), of
    side WINDOW × the image's: local pieces of strokes to start from. Windows holding under a third of their image's
    norm (mostly background) are skipped."""
    g = torch.Generator().manual_seed(seed)
    h, w = shape
    side = max(2, round(WINDOW * min(h, w)))
    imgs = train_x.reshape(-1, h, w)
    cols, tries = [], 0
    while len(cols) < hidden:
        i = int(torch.randint(len(imgs), (1,), generator=g))
        r = int(torch.randint(h - side + 1, (1,), generator=g))
        c = int(torch.randint(w - side + 1, (1,), generator=g))
        piece = imgs[i, r:r + side, c:c + side]
        tries += 1
        if piece.norm() < imgs[i].norm() / 3 and tries < 100 * hidden:
            continue
        col = torch.zeros(h, w)
        col[r:r + side, c:c + side] = piece - piece.mean()
        cols.append(col.reshape(-1) / col.norm().clamp_min(1e-8))
    return torch.stack(cols, 1)


def start_dictionary(train_x: torch.Tensor, hidden: int, seed: int, init: str = "samples",
                     layout=None) -> torch.Tensor:
    """The decoder a model starts from, by its `init` setting (INITS); `layout`: its data's (models/domains),
    whose image shape the windows need."""
    if init == "windows" and layout is not None and layout.image is not None:
        return window_dictionary(train_x, hidden, seed, layout.image)
    if init == "random":
        return random_dictionary(train_x.shape[1], hidden, torch.Generator().manual_seed(seed))
    return initial_dictionary(train_x, hidden, seed)


class RecurrentEncoder(SparseModel):
    """A model that encodes by the recurrence above. Subclasses give `operators()` -> (E, S, b) and a decoder
    matrix `D` (n_input × hidden), and by their capabilities `classify` and `classifier_weights`."""

    D: torch.Tensor

    def operators(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def steps(self, x: torch.Tensor, unroll: int | None = None, hold: Hold | None = None) -> Iterator[torch.Tensor]:
        """z_1..z_T, one at a time. `unroll` may differ from the trained T; `hold` holds units at a value."""
        T = self.trained_unroll if unroll is None else int(unroll)
        if T < 1:
            raise ValueError(f"unroll must be at least 1, got {T}")
        E, S, b = self.operators()
        drive = F.linear(x, E) - b  # E x - b is the same at every step
        z = F.relu(drive)
        for t in range(1, T + 1):
            if t > 1:
                z = torch.addmm(drive, z, S.T).relu_()  # in place: one buffer less per step
            if hold is not None:
                z = hold.apply(z, t)
            yield z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(z, self.D)

    def classifier_weights(self) -> torch.Tensor | None:
        return None

    def unit_weights(self) -> UnitWeights:
        with torch.no_grad():
            E, S, _ = self.operators()
            C = self.classifier_weights()
        return UnitWeights(as_array(E), as_array(self.D.T), as_array(S), None if C is None else as_array(C))
