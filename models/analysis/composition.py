"""Compositional structure (after Poggio's compositional sparsity): how local each unit's filters are, and how
categorical units are built from part units through the recurrent weights S.

- support: the pixels holding ENERGY (90 %) of a filter's squared weight, fewest first;
- radius of gyration: the spread of a filter's squared weight around its centre of mass, in pixels;
- composition: for each categorical unit i, the part units j that excite it (S_ij > 0, j ≠ i), strongest first,
  and its in-degree: how few of them carry ENERGY of that positive input Σ_j S_ij.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.kinds import KINDS
from models.families.base import UnitWeights

ENERGY = 0.9


def support(w: np.ndarray, energy: float = ENERGY) -> np.ndarray:
    """(units, pixels) -> per unit, the fewest pixels whose squared weights hold `energy` of the total (0 for a
    filter of zeros)."""
    e = np.sort(np.square(np.asarray(w, dtype=np.float32)), axis=1)[:, ::-1]  # float32: half the sort (wide models)
    total = e.sum(1, keepdims=True, dtype=np.float64)
    frac = np.cumsum(e, axis=1, dtype=np.float64) / np.where(total > 0, total, 1)
    return np.where(total[:, 0] > 0, (frac < energy - 1e-12).sum(1) + 1, 0)


def radius_of_gyration(w: np.ndarray, shape: tuple[int, int], mass: str = "squared") -> np.ndarray:
    """(units, h·w) filters of images of `shape` -> per unit, sqrt(Σ m r² / Σ m) with mass m = w² (`mass`
    "squared"; "absolute": |w|, which weighs faint pixels more) and r the distance (in pixels) from the filter's
    centre of mass: small for a local stroke, large for a whole-image template."""
    m = np.asarray(w, dtype=np.float64) ** 2 if mass == "squared" else np.abs(np.asarray(w, dtype=np.float64))
    rows, cols = np.divmod(np.arange(shape[0] * shape[1]), shape[1])
    total = np.maximum(m.sum(1), 1e-300)
    cr, cc = (m @ rows) / total, (m @ cols) / total
    second = (m @ (rows ** 2 + cols ** 2)) / total
    return np.sqrt(np.maximum(second - cr ** 2 - cc ** 2, 0.0))


def carriers(weights: np.ndarray, energy: float = ENERGY) -> int:
    """How many of the (positive) weights, largest first, it takes to reach `energy` of their sum."""
    w = np.sort(weights[weights > 0])[::-1]
    if len(w) == 0:
        return 0
    return int((np.cumsum(w) / w.sum() < energy - 1e-12).sum() + 1)


@dataclass
class Parts:
    """The part units that excite one categorical unit through S."""
    unit: int
    parts: np.ndarray  # part units j with S_ij > 0, strongest first
    weights: np.ndarray  # their S_ij
    in_degree: int  # how many of them carry ENERGY of Σ_j S_ij

    @property
    def carried(self) -> np.ndarray:
        """The parts that carry ENERGY of the input (the in-degree's units)."""
        return self.parts[:self.in_degree]


@dataclass
class Composition:
    kind: np.ndarray  # (hidden,)
    encoder_support: np.ndarray  # (hidden,) pixels
    decoder_support: np.ndarray
    encoder_radius: np.ndarray | None  # (hidden,) pixels, squared weights as mass (None: the samples are not images)
    decoder_radius: np.ndarray | None
    graph: list[Parts] | None  # one per categorical unit (None without recurrent weights)
    encoder_radius_abs: np.ndarray | None = None  # the radius with |weights| as mass
    decoder_radius_abs: np.ndarray | None = None

    def by_kind(self) -> dict[str, dict[str, float]]:
        """Median support and radius of each kind's encoders and decoders."""
        out = {}
        names = ("encoder_support", "decoder_support") + (() if self.encoder_radius is None else
                                                          ("encoder_radius", "decoder_radius", "encoder_radius_abs",
                                                           "decoder_radius_abs"))
        for k in KINDS:
            m = self.kind == k
            if m.any():
                out[k] = {"units": int(m.sum()), **{name: float(np.median(getattr(self, name)[m])) for name in names}}
        return out

    def in_degrees(self) -> np.ndarray:
        return np.array([p.in_degree for p in self.graph or []], dtype=int)

    def parts_of(self, unit: int) -> Parts | None:
        return next((p for p in self.graph or [] if p.unit == unit), None)


def composition(w: UnitWeights, kind: np.ndarray, shape: tuple[int, int] | None, energy: float = ENERGY) -> Composition:
    """`shape`: the samples' image shape (None: vectors, whose filters have support but no radius)."""
    graph = None
    if w.recurrent is not None:
        part = np.flatnonzero(kind == "part")
        graph = []
        for i in np.flatnonzero(kind == "categorical"):
            js = part[part != i]
            s = w.recurrent[i, js]
            order = np.argsort(-s, kind="stable")
            order = order[s[order] > 0]
            graph.append(Parts(int(i), js[order], s[order], carriers(s, energy)))
    radius = (lambda f, mass="squared": None) if shape is None else \
        (lambda f, mass="squared": radius_of_gyration(f, shape, mass))  # noqa: E731
    return Composition(kind, support(w.encoder, energy), support(w.decoder, energy), radius(w.encoder),
                       radius(w.decoder), graph, radius(w.encoder, "absolute"), radius(w.decoder, "absolute"))
