"""What a sparse code looks like as a representation, step by step: how many units a sample uses (L0), units that
never or too often fire, Treves–Rolls sparseness per unit and per sample, the variance the reconstruction leaves,
how selective and informative each unit is about the class, a disentanglement score in the MIG form, and a linear
probe's error from the code at each step (how class information emerges over the steps).

The metrics of sparse-autoencoder dashboards (L0, dead and dense features, log-density histograms, explained
variance) and of Bengio (2013) on disentangling, each defined once here and tested on a constructed case.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from models.analysis.codes import LinearDecoder, SparseCodes, sparse
from models.data import Split
from models.families import capabilities
from models.probe import linear_probe
from models.training.validate import DENSE

BINS = 8  # bins of a unit's positive activity (plus one for exactly zero) for the information measures
MAX_SAMPLES = 2000  # samples the page's metrics use: steps × samples × units floats are kept


def as_codes(z) -> SparseCodes:
    """Codes as SparseCodes (a dense (samples, units) array is converted)."""
    return z if isinstance(z, SparseCodes) else SparseCodes.of(z)


def density(z) -> np.ndarray:
    """(samples, units) codes -> each unit's share of samples on which it is active (z > 0)."""
    c = as_codes(z)
    return c.fires() / max(c.n, 1)


def _treves_rolls(m1: np.ndarray, m2: np.ndarray, n: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (1 - m1 ** 2 / m2) / (1 - 1 / n)


def treves_rolls(a: np.ndarray, axis: int) -> np.ndarray:
    """Treves–Rolls sparseness of non-negative activities along `axis`, normalised to [0, 1]:
    (1 − (mean a)² / mean a²) / (1 − 1/N). 0: all equal; 1: a single one active; NaN where all are zero."""
    a = np.asarray(a, dtype=np.float64)
    return _treves_rolls(a.mean(axis), (a ** 2).mean(axis), a.shape[axis])


def lifetime_sparseness(c: SparseCodes) -> np.ndarray:
    """(units,) Treves–Rolls over the samples, from the entries."""
    return _treves_rolls(c.sums() / c.n, c.sums(2) / c.n, c.n)


def population_sparseness(c: SparseCodes) -> np.ndarray:
    """(samples,) Treves–Rolls over the units, from the entries."""
    return _treves_rolls(c.sample_sums() / c.hidden, c.sample_sums(2) / c.hidden, c.hidden)


def fvu(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Fraction of variance unexplained: Σ‖x − x̂‖² / Σ‖x − x̄‖² (0: perfect; 1: no better than the mean sample)."""
    x = np.asarray(x, dtype=np.float64)
    return float(((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())


def class_means(z, y: np.ndarray, classes: int | None = None) -> np.ndarray:
    """(classes, units): each unit's mean activity over the samples of each class (0 for a class with none;
    classes: by default up to the largest label). `z`: dense samples, or SparseCodes."""
    if isinstance(z, SparseCodes):
        return z.class_means(y, classes)
    classes = int(y.max()) + 1 if classes is None else classes
    return np.stack([z[y == c].mean(0) if (y == c).any() else np.zeros(z.shape[1]) for c in range(classes)])


def selectivity_of(mu: np.ndarray) -> np.ndarray:
    """Per unit, from its class means (classes, units): (its largest class mean − the mean of the other class
    means) / (their sum). 1: it answers one class only; 0: every class alike (a silent unit: 0)."""
    top = mu.max(0)
    rest = (mu.sum(0) - top) / (len(mu) - 1)
    total = top + rest
    return np.where(total > 0, (top - rest) / np.where(total > 0, total, 1), 0.0)


def selectivity(z, y: np.ndarray) -> np.ndarray:
    """selectivity_of the codes' class means."""
    return selectivity_of(class_means(as_codes(z), y))


def discretise(z: np.ndarray, bins: int = BINS) -> np.ndarray:
    """(samples, units) -> integer codes per unit: 0 for exactly zero, then `bins` equal-width bins of (0, max]."""
    top = z.max(0, keepdims=True)
    scaled = np.where(top > 0, z / np.where(top > 0, top, 1), 0.0)
    return np.where(z > 0, 1 + np.minimum((scaled * bins).astype(int), bins - 1), 0)


def entropy(labels: np.ndarray) -> float:
    """H(labels) in bits."""
    p = np.bincount(labels) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _information(joint: np.ndarray) -> np.ndarray:
    """I(code; label) in bits per unit from joint counts (units, codes, labels)."""
    p = joint / joint[0].sum()
    pu, py = p.sum(2, keepdims=True), p.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(p > 0, p * np.log2(p / (pu * py)), 0.0)
    return terms.sum((1, 2))


def mutual_information(codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """I(code_j; label) in bits for each column j of integer `codes` (samples, units)."""
    units = codes.shape[1]
    k = int(labels.max()) + 1
    v = int(codes.max()) + 1
    cell = (np.arange(units) * v + codes) * k + np.asarray(labels)[:, None]  # (unit, code, label) as one index
    return _information(np.bincount(cell.ravel(), minlength=units * v * k).reshape(units, v, k))


def information(c: SparseCodes, labels: np.ndarray, bins: int = BINS) -> np.ndarray:
    """mutual_information(discretise(z), labels) from the entries alone: a unit's zeros are its samples of each
    label less its entries with that label."""
    labels = np.asarray(labels, dtype=np.int64)
    k = int(labels.max()) + 1
    pos = c.values > 0
    units, values, rows = c.units[pos], c.values[pos].astype(np.float64), c.rows[pos]
    top = np.zeros(c.hidden)
    np.maximum.at(top, units, values)
    code = 1 + np.minimum((values / top[units] * bins).astype(int), bins - 1)
    joint = np.bincount((units * (bins + 1) + code) * k + labels[rows],
                        minlength=c.hidden * (bins + 1) * k).reshape(c.hidden, bins + 1, k)
    joint[:, 0, :] = np.bincount(labels, minlength=k)[None, :] - joint[:, 1:, :].sum(1)
    return _information(joint)


def mig(codes, y: np.ndarray, classes: int | None = None) -> tuple[float, np.ndarray]:
    """A disentanglement score in the MIG form, over the classes as factors: for each class k (the binary factor
    "is it a k"), the gap between the two units most informative about it, over its entropy; the score is the
    mean gap. 1: each class has a unit of its own that tells it apart; 0: no unit stands out. `codes`: integer
    codes (discretise), or SparseCodes."""
    classes = int(y.max()) + 1 if classes is None else classes
    units = codes.hidden if isinstance(codes, SparseCodes) else codes.shape[1]
    gaps = np.zeros(classes)
    for k in range(classes):
        factor = (y == k).astype(int)
        h = entropy(factor)
        if h == 0 or units < 2:
            continue
        info = information(codes, factor) if isinstance(codes, SparseCodes) else mutual_information(codes, factor)
        info = np.sort(info)[::-1]
        gaps[k] = (info[0] - info[1]) / h
    return float(gaps.mean()), gaps


@dataclass
class Representation:
    """Every metric at steps 1..steps (index t − 1), on `samples` samples; per-unit arrays are (steps, units)."""
    samples: int
    l0: np.ndarray  # (steps,) mean active units per sample
    dead: np.ndarray  # (steps,) units active on no sample
    dense: np.ndarray  # (steps,) units active on more than DENSE of the samples
    density: np.ndarray  # (steps, units)
    lifetime: np.ndarray  # (steps, units) Treves–Rolls over samples (NaN for a dead unit)
    population: np.ndarray  # (steps,) mean over samples of Treves–Rolls over units
    fvu: np.ndarray | None  # (steps,) without a decoder: None
    selectivity: np.ndarray | None  # (steps, units); the class measures are None without labels
    information: np.ndarray | None  # (steps, units) I(unit; class) in bits
    mig: np.ndarray | None  # (steps,)


@torch.no_grad()
def step_codes(model, x: torch.Tensor, steps: int, batch: int = 1000) -> list[SparseCodes]:
    """z_1..z_steps of the samples, each kept sparse."""
    model.eval()
    parts = [[] for _ in range(steps)]
    for i in range(0, len(x), batch):
        for t, z in enumerate(model.steps(x[i:i + batch], steps)):
            parts[t].append(sparse(z))
    return [SparseCodes.joined(p, model.cfg.hidden) for p in parts]


def _first(model, samples: Split, steps: int, max_samples: int) -> tuple[torch.Tensor, np.ndarray | None, int]:
    """The first `max_samples` inputs, their labels (None without), and the steps the model has (1 without steps)."""
    y = None if samples.y is None else samples.y[:max_samples].numpy()
    return samples.x[:max_samples], y, steps if capabilities(model).steps else 1


def representation(model, samples: Split, steps: int, max_samples: int = MAX_SAMPLES) -> Representation:
    """The metrics of the model's codes at steps 1..steps on the first `max_samples` samples (a model without
    recurrent steps has one). Without labels, the class measures (selectivity, information, MIG) are None. From
    the codes' entries: nothing of size samples × units."""
    x, y, steps = _first(model, samples, steps, max_samples)
    caps = capabilities(model)
    decoder = LinearDecoder.of(model) if caps.filters else None
    rows = {k: [] for k in ("l0", "dead", "dense", "density", "lifetime", "population", "fvu", "selectivity",
                            "information", "mig")}
    for c in step_codes(model, x, steps):
        d = density(c)
        rows["population"].append(float(np.nanmean(population_sparseness(c))))
        rows["l0"].append(float(c.active().mean()))
        rows["dead"].append(int((d == 0).sum()))
        rows["dense"].append(int((d > DENSE).sum()))
        rows["density"].append(d)
        rows["lifetime"].append(lifetime_sparseness(c))
        if caps.decoder:
            with torch.no_grad():
                x_hat = decoder(c) if decoder is not None else model.decode(torch.from_numpy(c.dense()))
            rows["fvu"].append(fvu(x.numpy(), x_hat.numpy()))
        if y is not None:
            rows["selectivity"].append(selectivity(c, y))
            rows["information"].append(information(c, y))
            rows["mig"].append(mig(c, y)[0])
    arr = {k: (np.asarray(v, dtype=np.float64) if v else None) for k, v in rows.items()}
    return Representation(len(x), **arr)


def probe_errors(model, samples: Split, steps: int, max_samples: int = MAX_SAMPLES,
                 progress: Callable[[float], None] = lambda done: None) -> np.ndarray | None:
    """(steps,) the test error (%) of a linear probe on z_t at each step, fitted on the first half of the first
    `max_samples` samples and tested on the second (None without labels). The slow part of the metrics: a
    logistic regression per step; `progress` hears the share of steps done."""
    x, y, steps = _first(model, samples, steps, max_samples)
    if y is None:
        return None
    codes, half, errors = step_codes(model, x, steps), len(x) // 2, []
    for c in codes:
        z = c.dense()  # the probe's features: the first MAX_SAMPLES samples' codes (on the worker, behind a bar)
        errors.append(linear_probe(z[:half], y[:half], z[half:], y[half:]))
        progress(len(errors) / len(codes))
    return np.asarray(errors, dtype=np.float64)
