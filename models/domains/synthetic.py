"""Synthetic data with known features: x = D* s + noise, D* a dictionary of K unit-norm atoms in d dimensions (Gaussian,
seeded), s a non-negative sparse code with exactly k active atoms (each in [0.5, 1.5]), the noise Gaussian of norm
`noise` on average. Here "did the model find the true features?" has an answer (models/analysis/recovery.py).

The hierarchical variant (parents > 0): the first parents × (1 + children) atoms form families, a parent followed by
its children. A sample draws k features among the parents and the free atoms; a parent drawn brings exactly one of its
children with it (a parent never occurs alone, a child never without its parent), so such a sample has k + 1 active
atoms per parent drawn. Feature absorption and compositional recovery are measured on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.data import fingerprint
from models.domains.registry import Arrays, Domain, Layout, Raw, Truth, cached, register
from models.settings import Config, setting

HELD_OUT = 2000  # validation and test samples each
LOW, HIGH = 0.5, 1.5  # an active atom's coefficient


@dataclass(frozen=True)
class SyntheticConfig(Config):
    atoms: int = setting(64, "True atoms K", "atoms of the generating dictionary D*", min=2, max=4096)
    dimension: int = setting(32, "Dimension d", "values per sample", min=2, max=4096)
    active: int = setting(3, "Active atoms k", "atoms (features) each sample is built from", min=1, max=256)
    noise: float = setting(0.05, "Noise", "mean norm of the Gaussian noise added to each sample (an atom has norm "
                           "1)", min=0.0, max=10.0)
    samples: int = setting(20_000, "Training samples", f"(validation and test: {HELD_OUT:,} each)", min=100,
                           max=1_000_000)
    parents: int = setting(0, "Parent atoms", "the hierarchical variant: this many atoms are parents, each "
                           "occurring only with one of its children (0: a flat dictionary)", min=0, max=1024)
    children: int = setting(3, "Children per parent", "atoms that each parent shares its samples with",
                            min=1, max=64, advanced=True)
    data_seed: int = setting(0, "Data seed", "the dictionary, the codes and the noise", min=0, max=2**31 - 1,
                             advanced=True)

    def __post_init__(self):
        super().__post_init__()
        used = self.parents * (1 + self.children)
        if used > self.atoms:
            raise ValueError(f"--parents {self.parents} with --children {self.children} need {used} atoms; "
                             f"--atoms is {self.atoms}")
        if self.active > self.top_level:
            raise ValueError(f"--active {self.active} is more than the {self.top_level} features a sample can draw "
                             f"from (parents and free atoms)")

    @property
    def top_level(self) -> int:
        """Features a sample draws from: the parents and the atoms outside every family."""
        return self.atoms - self.parents * self.children

    def families(self) -> dict[int, tuple[int, ...]]:
        """Parent atom -> its children: atoms p(1 + c), then the next c."""
        c = self.children
        return {p * (1 + c): tuple(range(p * (1 + c) + 1, (p + 1) * (1 + c))) for p in range(self.parents)}


def dictionary(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    D = rng.standard_normal((cfg.dimension, cfg.atoms))
    return D / np.linalg.norm(D, axis=0, keepdims=True)


def codes(cfg: SyntheticConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, K) non-negative codes: k features drawn without replacement per sample, a parent with one child."""
    families = cfg.families()
    in_family = {a for p, cs in families.items() for a in (p, *cs)}
    top = np.array(sorted(set(families) | (set(range(cfg.atoms)) - in_family)))
    picks = top[np.argsort(rng.random((n, len(top))), axis=1)[:, :cfg.active]]  # (n, k), distinct per row
    s = np.zeros((n, cfg.atoms))
    rows = np.arange(n)[:, None]
    s[rows, picks] = rng.uniform(LOW, HIGH, picks.shape)
    for parent, children in families.items():
        drawn = np.flatnonzero((picks == parent).any(1))
        child = np.asarray(children)[rng.integers(0, len(children), len(drawn))]
        s[drawn, child] = rng.uniform(LOW, HIGH, len(drawn))
    return s


def build(cfg: SyntheticConfig) -> Raw:
    rng = np.random.default_rng(cfg.data_seed)
    D = dictionary(cfg, rng)
    parts = {}
    for name, n in (("train", cfg.samples), ("val", HELD_OUT), ("test", HELD_OUT)):
        s = codes(cfg, n, rng)
        noise = rng.standard_normal((n, cfg.dimension)) * cfg.noise / math.sqrt(cfg.dimension)
        parts[name] = Arrays((s @ D.T + noise).astype(np.float32), codes=s.astype(np.float32))
    kind = f"{cfg.parents} parents × {cfg.children} children, " if cfg.parents else ""
    source = (f"synthetic: K = {cfg.atoms} atoms in d = {cfg.dimension}, k = {cfg.active} active, {kind}noise "
              f"{cfg.noise:g}, seed {cfg.data_seed}")
    return Raw(parts["train"], parts["val"], parts["test"], source, fingerprint(parts["test"].x),
               Truth(D.astype(np.float32), cfg.families()))


def load(cfg: SyntheticConfig, data_dir=None, download: bool = True) -> Raw:
    return cached("synthetic", cfg, lambda: build(cfg))


DOMAIN = register(Domain(
    name="synthetic",
    title="Synthetic data with known features",
    noun="sample",
    nouns="samples",
    summary="x = D* s + noise from a known dictionary D* and known sparse codes s (exactly k atoms each; or a "
            "hierarchy of parents that occur only with one of their children): the true features are known.",
    config=SyntheticConfig,
    layout=lambda cfg: Layout(cfg.dimension, None, ground_truth=True),
    load=load,
    train_size=lambda cfg: cfg.samples,
))
