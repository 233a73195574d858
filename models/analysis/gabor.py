"""A 2-D Gabor fitted to each filter: the classic test of sparse coding on natural image patches (Olshausen & Field,
1996), whose units become localized, oriented, band-pass filters.

    g(x, y) = A · exp(−x'²/(2σx²) − y'²/(2σy²)) · cos(2π f x' + φ) + c,
    x' = (x − x0) cos θ + (y − y0) sin θ,   y' = −(x − x0) sin θ + (y − y0) cos θ

θ is the direction the carrier's stripes vary in (the stripes run at θ + 90°), f its frequency in cycles per pixel,
σx the envelope's size across the stripes and σy along them. The fit starts from the filter's spectral peak (f, θ) and
its energy's centre and spread (x0, y0, σ), solves the linear part (A cos φ, A sin φ, c) exactly, then refines all nine
parameters by least squares (Levenberg–Marquardt, every filter and every start at once, batched in torch). R² = 1 − residual / variance of the filter: a unit is Gabor-like at R² ≥ GOOD.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

GOOD = 0.8  # R² from which a filter counts as fitted well


@dataclass
class Gabor:
    x0: float
    y0: float
    theta: float  # radians in [0, π): the carrier's direction
    frequency: float  # cycles per pixel
    phase: float  # radians
    sigma_x: float  # pixels, across the stripes
    sigma_y: float  # pixels, along them
    amplitude: float
    offset: float
    r2: float

    @property
    def size(self) -> float:
        """The envelope's size: the geometric mean of its two widths (pixels)."""
        return float(np.sqrt(self.sigma_x * self.sigma_y))


def gabor_image(p: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The Gabor of parameters p = (x0, y0, θ, f, φ, σx, σy, A, c) on a grid of `shape` (rows are y)."""
    x0, y0, theta, f, phase, sx, sy, a, c = p
    y, x = np.mgrid[:shape[0], :shape[1]].astype(np.float64)
    xr = (x - x0) * np.cos(theta) + (y - y0) * np.sin(theta)
    yr = -(x - x0) * np.sin(theta) + (y - y0) * np.cos(theta)
    return a * np.exp(-xr ** 2 / (2 * sx ** 2) - yr ** 2 / (2 * sy ** 2)) * np.cos(2 * np.pi * f * xr + phase) + c


def _start(img: np.ndarray) -> list[np.ndarray]:
    """Starting points: the two strongest spectral peaks, the energy's centre and spread, the linear part solved."""
    h, w = img.shape
    pad = 4 * max(h, w)
    spec = np.abs(np.fft.fft2(img - img.mean(), (pad, pad)))
    fy, fx = np.meshgrid(np.fft.fftfreq(pad), np.fft.fftfreq(pad), indexing="ij")
    half = (fx > 0) | ((fx == 0) & (fy >= 0))  # a real filter's spectrum is symmetric: one half
    order = np.argsort(-(spec * half).ravel())[:2]
    energy = img ** 2
    total = max(energy.sum(), 1e-20)
    y, x = np.mgrid[:h, :w]
    x0, y0 = (energy * x).sum() / total, (energy * y).sum() / total
    spread = np.sqrt(max(((energy * ((x - x0) ** 2 + (y - y0) ** 2)).sum() / total) / 2, 0.25))
    starts = []
    for k in order:
        f, theta = float(np.hypot(fx.flat[k], fy.flat[k])), float(np.arctan2(fy.flat[k], fx.flat[k]))
        for sigma in (spread, 0.6 * spread):
            p = np.array([x0, y0, theta, f, 0.0, sigma, sigma, 1.0, 0.0])
            starts.append(_linear(p, img))
    return starts


def _linear(p: np.ndarray, img: np.ndarray) -> np.ndarray:
    """p with its amplitude, phase and offset the exact least-squares ones for its other parameters."""
    cos_part = gabor_image(np.r_[p[:4], 0.0, p[5:7], 1.0, 0.0], img.shape).ravel()
    sin_part = gabor_image(np.r_[p[:4], -np.pi / 2, p[5:7], 1.0, 0.0], img.shape).ravel()
    X = np.stack([cos_part, sin_part, np.ones_like(cos_part)], 1)
    (a, b, c), *_ = np.linalg.lstsq(X, img.ravel(), rcond=None)
    # a cos(u) + b sin(u) = A cos(u + φ) with A = √(a² + b²), φ = atan2(−b, a)
    return np.r_[p[:4], np.arctan2(-b, a), p[5:7], np.hypot(a, b), c]


def _model(p, y, x, jacobian: bool = False):
    """Batched Gabors: parameters (n, 9) on pixel grids y, x (h·w,) -> (n, h·w), and with `jacobian` their
    derivatives (n, h·w, 9) by the parameters (written out: autograd's per-sample Jacobians cost 5× more)."""
    x0, y0, theta, f, phase, sx, sy, a, c = (v[:, None] for v in p.unbind(-1))
    dx, dy = x[None] - x0, y[None] - y0
    cos, sin = torch.cos(theta), torch.sin(theta)
    xr, yr = dx * cos + dy * sin, -dx * sin + dy * cos
    env = torch.exp(-xr ** 2 / (2 * sx ** 2) - yr ** 2 / (2 * sy ** 2))
    arg = 2 * np.pi * f * xr + phase
    carrier = torch.cos(arg)
    g = a * env * carrier + c
    if not jacobian:
        return g
    wave = a * env * torch.sin(arg)  # −∂g/∂φ
    d_xr = -a * env * carrier * xr / sx ** 2 - wave * 2 * np.pi * f
    d_yr = -a * env * carrier * yr / sy ** 2
    J = torch.stack([-d_xr * cos + d_yr * sin, -d_xr * sin - d_yr * cos, d_xr * yr - d_yr * xr,
                     -wave * 2 * np.pi * xr, -wave, a * env * carrier * xr ** 2 / sx ** 3,
                     a * env * carrier * yr ** 2 / sy ** 3, env * carrier, torch.ones_like(g)], -1)
    return g, J


def _levenberg_marquardt(p: np.ndarray, z: np.ndarray, shape: tuple[int, int], lo: np.ndarray, hi: np.ndarray,
                         iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of many Gabors at once (one per row of `z`, from the starts `p`), each with its own damping;
    parameters kept within [lo, hi]. Returns the parameters and each fit's ½ Σ residual²."""
    y, x = (torch.as_tensor(a.ravel(), dtype=torch.float64) for a in np.mgrid[:shape[0], :shape[1]])
    target = torch.as_tensor(z, dtype=torch.float64)
    lo_t, hi_t = torch.as_tensor(lo), torch.as_tensor(hi)
    p = torch.as_tensor(p, dtype=torch.float64).clamp(lo_t, hi_t)
    residual = lambda q: _model(q, y, x) - target  # noqa: E731
    cost = 0.5 * residual(p).pow(2).sum(1)
    damping = torch.full((len(p),), 1e-2, dtype=torch.float64)
    eye = torch.eye(p.shape[1], dtype=torch.float64)
    for _ in range(iterations):
        g_now, J = _model(p, y, x, jacobian=True)  # (n, pixels), (n, pixels, 9)
        r = g_now - target
        H = J.transpose(1, 2) @ J
        g = (J.transpose(1, 2) @ r[..., None])[..., 0]
        A = H + damping[:, None, None] * (torch.diagonal(H, dim1=1, dim2=2)[..., None] * eye + 1e-9 * eye)
        step = torch.linalg.solve(A, -g[..., None])[..., 0]
        trial = (p + step).clamp(lo_t, hi_t)
        new_cost = 0.5 * residual(trial).pow(2).sum(1)
        better = new_cost < cost
        p = torch.where(better[:, None], trial, p)
        cost = torch.where(better, new_cost, cost)
        damping = torch.where(better, damping / 3, damping * 4).clamp(1e-9, 1e9)
    return p.numpy(), cost.numpy()


def _fit_many(images: np.ndarray, iterations: int = 60) -> list[Gabor]:
    """One Gabor per image (n, h, w): every start of every image refined together, the best start kept."""
    n, h, w = images.shape
    scale = np.abs(images).reshape(n, -1).max(1).clip(1e-12)
    z = images / scale[:, None, None]
    starts = [_start(im) for im in z]
    counts = [len(s) for s in starts]
    owner = np.repeat(np.arange(n), counts)
    p0 = np.concatenate([np.stack(s) for s in starts])
    lo = np.array([-0.5 * w, -0.5 * h, -10.0, 0.0, -20.0, 0.3, 0.3, -np.inf, -np.inf])
    hi = np.array([1.5 * w, 1.5 * h, 10.0, 0.5, 20.0, 2.0 * max(h, w), 2.0 * max(h, w), np.inf, np.inf])
    p, cost = _levenberg_marquardt(p0, z.reshape(n, -1)[owner], (h, w), lo, hi, iterations)
    fits = []
    for k in range(n):
        mine = np.flatnonzero(owner == k)
        best = mine[np.argmin(cost[mine])]
        variance = ((z[k] - z[k].mean()) ** 2).sum()
        r2 = float(1 - 2 * cost[best] / variance) if variance > 0 else 0.0
        x0, y0, theta, f, phase, sx, sy, a, c = p[best]
        if a < 0:  # the same Gabor with a positive amplitude
            a, phase = -a, phase + np.pi
        if theta % (2 * np.pi) >= np.pi:  # θ and θ + π are one carrier with the phase mirrored
            phase = -phase
        fits.append(Gabor(float(x0), float(y0), float(theta % np.pi), float(f),
                          float((phase + np.pi) % (2 * np.pi) - np.pi), float(sx), float(sy), float(a * scale[k]),
                          float(c * scale[k]), r2))
    return fits


def fit_gabor(img: np.ndarray) -> Gabor:
    """The best Gabor for one filter image (h, w)."""
    return _fit_many(np.asarray(img, dtype=np.float64)[None])[0]


@dataclass
class GaborFits:
    fits: list[Gabor]  # one per filter, in the order given
    units: np.ndarray  # the unit each fit belongs to

    @property
    def r2(self) -> np.ndarray:
        return np.array([g.r2 for g in self.fits])

    @property
    def good(self) -> np.ndarray:
        return self.r2 >= GOOD

    def share_good(self) -> float:
        return float(self.good.mean()) if len(self.fits) else 0.0

    def column(self, name: str, good_only: bool = True) -> np.ndarray:
        """A parameter (or `size`) of every fit, or of the good ones."""
        values = np.array([getattr(g, name) for g in self.fits])
        return values[self.good] if good_only else values


def fit_filters(filters: np.ndarray, shape: tuple[int, int], units: np.ndarray | None = None,
                batch: int = 256, progress: Callable[[float], None] = lambda done: None) -> GaborFits:
    """(units, h·w) filters of images of `shape` -> a Gabor for each (of the units `units` names, if given), fitted
    `batch` filters at a time (each fit is its own: the batch only sets how many share a solve); `progress` hears the
    share fitted."""
    units = np.arange(len(filters)) if units is None else np.asarray(units)
    images = np.asarray(filters, dtype=np.float64)[units].reshape(len(units), *shape)
    fits = []
    for i in range(0, len(images), batch):
        fits += _fit_many(images[i:i + batch])
        progress(len(fits) / len(images))
    return GaborFits(fits, units)
