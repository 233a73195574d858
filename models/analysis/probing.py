"""Sparse probing, after SAEBench's (Karvonen et al. 2025): can a few latents tell a class from the rest? For each class
c, a one-against-the-rest task on balanced samples (all of c's fitting samples and as many others, drawn with a fixed
seed): the k latents whose mean activation differs most between the two sides feed a logistic regression, scored on
the held-out samples. Lower error is better.

The score is the balanced error, the mean of the errors on the class and on the rest (chance: 50 %), averaged over
the classes; the classes are a tenth of the samples each, so a plain error would reward answering "the rest".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KS = (1, 2, 5)  # latents per probe
# not SAEBench's own code: what it does otherwise (its numbers are not these)
SAEBENCH_DIFFERENCES = ("it ranks latents by the absolute difference of the two sides' means (here signed: a latent "
                        "that fires for the class), feeds them unscaled (here each scaled to unit spread), draws as "
                        "many negatives as positives, an equal share from each other class (here uniformly from the "
                        "rest, seeded), and reports the accuracy on a test set balanced the same way (here the "
                        "balanced error on every test sample)")


def top_latents(z, positive: np.ndarray, k: int) -> np.ndarray:
    """The k latents with the largest mean activation on the positive samples minus that on the others. `z`: dense,
    or a scipy.sparse array."""
    diff = np.asarray(z[positive].mean(0)).ravel() - np.asarray(z[~positive].mean(0)).ravel()
    return np.argsort(-diff, kind="stable")[:k]


def _columns(z, keep: np.ndarray) -> np.ndarray:
    """z[:, keep], dense (a sparse array's few columns)."""
    cols = z[:, keep]
    return cols.toarray() if hasattr(cols, "toarray") else cols


def balanced_error(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the error on the positive samples and that on the negative ones (%)."""
    parts = [np.mean(predicted[truth == v] != v) for v in (True, False) if (truth == v).any()]
    return float(100 * np.mean(parts))


def probe_error(z_fit: np.ndarray, y_fit: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, cls: int, k: int) -> float:
    """Balanced test error (%) of a logistic regression on the k latents that best tell class `cls` apart."""
    from sklearn.linear_model import LogisticRegression

    pos_fit, pos_test = y_fit == cls, y_test == cls
    if pos_fit.all() or not pos_fit.any():
        return float("nan")
    pos, neg = np.flatnonzero(pos_fit), np.flatnonzero(~pos_fit)
    rows = np.concatenate([pos, np.random.default_rng(cls).permutation(neg)[:len(pos)]])  # balanced
    z_fit, pos_fit = z_fit[rows], pos_fit[rows]
    keep = top_latents(z_fit, pos_fit, k)
    fit = _columns(z_fit, keep)
    scale = fit.std(0).clip(1e-8)
    clf = LogisticRegression(max_iter=1000)
    clf.fit(fit / scale, pos_fit)
    return balanced_error(pos_test, clf.predict(_columns(z_test, keep) / scale))


@dataclass
class SparseProbing:
    error: dict[int, float]  # k -> balanced test error (%), mean over the classes; lower is better
    per_class: dict[int, np.ndarray]  # k -> (classes,) each class's


def sparse_probing(z_fit: np.ndarray, y_fit: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
                   ks: tuple[int, ...] = KS) -> SparseProbing:
    from threadpoolctl import threadpool_limits

    classes = np.unique(np.concatenate([y_fit, y_test]))
    with threadpool_limits(1):  # tiny fits: BLAS threads only wait on each other (9× slower beside a trainer)
        per = {k: np.array([probe_error(z_fit, y_fit, z_test, y_test, int(c), k) for c in classes]) for k in ks}
    return SparseProbing({k: float(np.nanmean(v)) for k, v in per.items()}, per)
