"""Did the model find the true features? Where the data was generated from a known dictionary D* (the synthetic
domain), each true atom is compared with the learned decoder columns by their cosine similarity (signed: the codes
are non-negative, so an atom and its negative are different features):

- best cosine: each true atom's largest cosine with any learned column;
- MCC, the mean matched cosine: true atoms and learned columns paired one to one (the Hungarian algorithm,
  scipy.optimize.linear_sum_assignment, maximising the summed cosine), the mean over the true atoms;
- recovered: the share of true atoms whose best cosine is at least RECOVERED;
- chance: what a random dictionary of the same size would score, E[max of n cosines] for uniform unit vectors
  in d dimensions, whose cosine c has (c + 1) / 2 ~ Beta((d − 1)/2, (d − 1)/2);
- when: from the filter snapshots a run keeps, the epoch from which each atom stayed recovered.
Higher is better for every number here but the epoch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECOVERED = 0.9  # cosine from which a true atom counts as found


def cosines(true: np.ndarray, learned: np.ndarray) -> np.ndarray:
    """(K, d) true atoms and (units, d) learned columns -> (K, units) cosine similarities."""
    a = true / np.linalg.norm(true, axis=1, keepdims=True).clip(1e-12)
    b = learned / np.linalg.norm(learned, axis=1, keepdims=True).clip(1e-12)
    return a @ b.T


def matched(cos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs maximising the summed cosine: (the unit matched to each true atom, its cosine); an atom left
    without a unit (fewer units than atoms) gets unit -1 and cosine 0."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cos, maximize=True)
    unit, value = np.full(len(cos), -1), np.zeros(len(cos))
    unit[rows], value[rows] = cols, cos[rows, cols]
    return unit, value


def expected_best_cosine(d: int, n: int) -> float:
    """E[max of n cosines] between a fixed unit vector and n independent uniform unit vectors in d dimensions."""
    from scipy import integrate, stats

    if d < 2:
        return 1.0
    half = (d - 1) / 2
    survival = lambda t: 1.0 - stats.beta.cdf((t + 1) / 2, half, half) ** n  # noqa: E731  P(max > t)
    value, _ = integrate.quad(survival, -1.0, 1.0, limit=200, points=[0.0])
    return float(value - 1.0)


def expected_recovered(d: int, n: int) -> float:
    """The share of true atoms a random dictionary of n unit vectors in d dimensions recovers: P(max cosine ≥
    RECOVERED)."""
    from scipy import stats

    if d < 2:
        return 1.0
    half = (d - 1) / 2
    return float(1.0 - stats.beta.cdf((RECOVERED + 1) / 2, half, half) ** n)


CHANCE_DRAWS = 8  # random dictionaries whose Hungarian-matched MCC is averaged for the MCC's chance level


def random_mcc(d: int, atoms: int, units: int, draws: int = CHANCE_DRAWS, seed: int = 0) -> float:
    """The MCC of a random dictionary: the mean Hungarian-matched cosine of `atoms` random unit vectors with `units`
    others in d dimensions, over `draws` seeded draws (one to one: below the mean best cosine)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        a, b = rng.standard_normal((atoms, d)), rng.standard_normal((units, d))
        out.append(matched(cosines(a, b))[1].mean())
    return float(np.mean(out))


@dataclass
class Recovery:
    best: np.ndarray  # (K,) each true atom's best cosine
    best_unit: np.ndarray  # (K,) the unit that gives it
    matched_unit: np.ndarray  # (K,) its Hungarian partner (-1: none)
    matched_cosine: np.ndarray  # (K,)
    chance: float  # the mean best cosine a random dictionary of the same size would reach (mean best's baseline)
    parents: dict[int, tuple[int, ...]]  # the hierarchy of the true atoms (empty: flat)
    chance_mcc: float = float("nan")  # a random dictionary's MCC (the MCC's baseline)
    chance_recovered: float = float("nan")  # the share a random dictionary recovers (the recovered share's)

    @property
    def mcc(self) -> float:
        return float(self.matched_cosine.mean())

    @property
    def recovered(self) -> float:
        return float((self.best >= RECOVERED).mean())


def recovery(dictionary: np.ndarray, decoder: np.ndarray, parents: dict | None = None) -> Recovery:
    """`dictionary` (d, K): the true atoms as columns; `decoder` (units, d): the learned decoder columns."""
    cos = cosines(np.asarray(dictionary, dtype=np.float64).T, np.asarray(decoder, dtype=np.float64))
    unit, value = matched(cos)
    d, k = dictionary.shape
    return Recovery(cos.max(1), cos.argmax(1), unit, value, expected_best_cosine(d, len(decoder)),
                    dict(parents or {}), random_mcc(d, k, len(decoder)), expected_recovered(d, len(decoder)))


@dataclass
class RecoveryOverTraining:
    epochs: np.ndarray  # (frames,) the snapshots' epochs (0: before training)
    best: np.ndarray  # (frames, K) each true atom's best cosine with the kept units at each snapshot
    recovered_at: np.ndarray  # (K,) the first epoch from which the atom stayed recovered (-1: never)
    units_kept: int  # the units the snapshots hold (a trimmed filmstrip keeps some)

    def share(self) -> np.ndarray:
        """(frames,) the share of true atoms recovered at each snapshot."""
        return (self.best >= RECOVERED).mean(1)


def over_training(dictionary: np.ndarray, epochs: np.ndarray, decoders: np.ndarray) -> RecoveryOverTraining:
    """`decoders`: (frames, kept units, d), the filmstrip's decoder columns at each snapshot epoch."""
    true = np.asarray(dictionary, dtype=np.float64).T
    best = np.stack([cosines(true, np.asarray(D, dtype=np.float64)).max(1) for D in decoders])
    ok = best >= RECOVERED
    stays = ok[::-1].cumprod(0)[::-1].astype(bool)  # recovered at this snapshot and every later one
    first = np.where(stays.any(0), np.asarray(epochs)[stays.argmax(0)], -1)
    return RecoveryOverTraining(np.asarray(epochs), best, first, decoders.shape[1])


def by_epoch(quartiles) -> str:
    """'a quarter of them by epoch 2, three quarters by epoch 5': each epoch said once, with the largest share of the
    atoms found by it (the quartiles of the epochs they were found at)."""
    shares = {}
    for name, q in zip(("a quarter", "half", "three quarters"), quartiles):
        shares[int(round(q))] = name  # a larger share by the same epoch replaces the smaller one
    said = [f"{name} by epoch {q}" for q, name in shares.items()]
    return said[0].replace(" by", " of them by", 1) + "".join(f", {s}" for s in said[1:])
