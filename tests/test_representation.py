"""Representation metrics (models/analysis/representation.py), each on a constructed case with a known answer."""
import numpy as np
import pytest

from models.analysis import representation as rep
from models.probe import linear_probe


def test_density_l0_dead_dense():
    z = np.array([[1.0, 0, 0, 2], [0, 0, 0, 3], [0, 0, 0.5, 1], [0, 0, 0, 1]])
    assert rep.density(z).tolist() == [0.25, 0.0, 0.25, 1.0]


def test_treves_rolls():
    one_hot = np.eye(5)
    assert rep.treves_rolls(one_hot, axis=1) == pytest.approx(np.ones(5))  # one active unit per digit: 1
    assert rep.treves_rolls(np.full((3, 4), 2.0), axis=1) == pytest.approx(np.zeros(3))  # all equal: 0
    a = np.array([[1.0, 1.0, 0.0, 0.0]])  # two of four equal: (1 − (1/2)² / (1/2)) / (1 − 1/4) = 2/3
    assert rep.treves_rolls(a, axis=1)[0] == pytest.approx(2 / 3)
    assert np.isnan(rep.treves_rolls(np.zeros((2, 3)), axis=0)).all()  # a dead unit has none


def test_fvu():
    x = np.array([[0.0, 2.0], [2.0, 0.0]])
    assert rep.fvu(x, x) == 0.0
    assert rep.fvu(x, np.ones_like(x)) == pytest.approx(1.0)  # the mean digit
    assert rep.fvu(x, 0.5 * x + 0.5) == pytest.approx(0.25)


def test_selectivity():
    y = np.repeat(np.arange(10), 3)
    only_three = (y == 3).astype(float) * 2.0
    everywhere = np.ones(30)
    half = np.where(y < 5, 1.0, 0.0)  # top mean 1, the others (4·1 + 5·0)/9
    z = np.stack([only_three, everywhere, np.zeros(30), half], axis=1)
    s = rep.selectivity(z, y)
    assert s[:3] == pytest.approx([1.0, 0.0, 0.0])
    assert s[3] == pytest.approx((1 - 4 / 9) / (1 + 4 / 9))


def test_mutual_information_and_mig():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 100)
    parity = (y % 2).astype(float)  # tells even from odd: 1 bit about a uniform class
    noise = rng.random(1000) * (rng.random(1000) < 0.5)  # independent of the class
    info = rep.mutual_information(rep.discretise(np.stack([parity, noise], 1)), y)
    assert info[0] == pytest.approx(1.0)
    assert info[1] < 0.1
    assert rep.entropy(y) == pytest.approx(np.log2(10))
    # one unit per class: class k's own unit carries all of H(k) = h(0.1); the runner-up, another class's unit,
    # carries h(0.1) − 0.9·h(1/9) (it rules k out one time in ten), so each gap is 0.9·h(1/9) / h(0.1)
    h = lambda p: -(p * np.log2(p) + (1 - p) * np.log2(1 - p))  # noqa: E731
    z = np.concatenate([(y[:, None] == np.arange(10)).astype(float), noise[:, None]], 1)
    score, gaps = rep.mig(rep.discretise(z), y)
    assert gaps == pytest.approx(np.full(10, 0.9 * h(1 / 9) / h(0.1))) and score == pytest.approx(0.96575, abs=1e-5)
    twins = np.concatenate([z[:, :10], z[:, :10]], 1)  # every class has two identical units: no gap
    assert rep.mig(rep.discretise(twins), y)[0] == pytest.approx(0.0)


def test_linear_probe():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    centres = np.array([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    z = centres[y] + rng.normal(0, 0.5, (600, 3))
    assert linear_probe(z[:300], y[:300], z[300:], y[300:]) == 0.0  # separable clusters
    shuffled = rng.permutation(y)
    err = linear_probe(z[:300], shuffled[:300], z[300:], shuffled[300:])  # labels unrelated to the codes
    assert 50 < err < 80  # chance is 2/3


def test_the_model_numbers_agree_with_the_pages_step_statistics(tiny_run, mnist_small):
    """L0 and the unexplained variance, computed here from the codes, against step_stats's running sums."""
    from models.analysis.steps import step_stats
    from models.checkpoint import load_model

    model, _ = load_model(tiny_run[0])
    digits = mnist_small.test.head(600)
    r = rep.representation(model, digits, model.trained_unroll)
    stats = step_stats(model, digits, model.trained_unroll)
    assert r.samples == 600 and r.l0 == pytest.approx(stats.active, rel=1e-6)
    x = digits.x.double().numpy()
    spread = ((x - x.mean(0)) ** 2).sum()
    assert r.fvu == pytest.approx(2 * 600 * stats.recon / spread, rel=1e-4)  # recon is the mean of ½‖x − x̂‖²
    assert (r.dead + r.dense <= model.cfg.hidden).all() and (rep.probe_errors(model, digits, model.trained_unroll) < 60).all()
    assert r.information.shape == (model.trained_unroll, model.cfg.hidden)


def test_training_watches_dead_dense_and_kinds(tiny_run, mnist_small):
    """Each metrics row counts dead and dense units on the validation digits and the units of each kind; the last
    row's counts are the saved model's."""
    import torch

    from models.kinds import kind_counts
    from models.analysis.units import unit_table
    from models.checkpoint import load_model

    out, history = tiny_run
    model, _ = load_model(out)
    last = history[-1]
    assert all({"val_dead", "val_dense", "units_categorical", "units_intermediate", "units_part"} <= r.keys()
               for r in history)
    assert sum(last[f"units_{k}"] for k in ("categorical", "intermediate", "part")) == model.cfg.hidden
    assert {f"units_{k}": v for k, v in kind_counts(unit_table(model).kind).items()} == \
        {k: last[k] for k in last if k.startswith("units_")}
    with torch.no_grad():
        z = model.code(mnist_small.val.x).numpy()
    d = rep.density(z)
    assert last["val_dead"] == int((d == 0).sum()) and last["val_dense"] == int((d > rep.DENSE).sum())
