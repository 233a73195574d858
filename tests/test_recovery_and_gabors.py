"""What the new domains let us measure: a Gabor fitted to each filter (image patches) and the recovery of a known
dictionary (synthetic data), each on a constructed case with a known answer, and their commands on tiny runs."""
import json

import numpy as np
import pytest

from models import cli
from models.analysis.gabor import GOOD, fit_filters, fit_gabor, gabor_image
from models.analysis.recovery import cosines, expected_best_cosine, matched, over_training, recovery

CASES = [  # x0, y0, θ, f, φ, σx, σy, A, c on a 12 × 12 patch
    (5.3, 6.1, 0.7, 0.18, 0.9, 1.8, 2.6, 1.0, 0.0),
    (3.3, 8.1, 2.5, 0.30, -2.0, 1.2, 1.9, 2.0, 0.1),
    (6.0, 4.5, 1.6, 0.12, 0.0, 2.4, 1.5, 0.5, -0.2),
]


@pytest.mark.parametrize("p", CASES)
def test_a_gabor_fit_recovers_the_parameters_of_a_constructed_gabor(p):
    rng = np.random.default_rng(0)
    img = gabor_image(np.array(p), (12, 12)) + 0.005 * rng.standard_normal((12, 12))
    g = fit_gabor(img)
    x0, y0, theta, f, phase, sx, sy, a, c = p
    assert g.r2 > 0.99
    assert (g.x0, g.y0) == pytest.approx((x0, y0), abs=0.15)
    assert abs((g.theta - theta + np.pi / 2) % np.pi - np.pi / 2) < 0.05  # orientations are equal modulo π
    assert g.frequency == pytest.approx(f, rel=0.05)
    assert (g.sigma_x, g.sigma_y) == pytest.approx((sx, sy), rel=0.1)
    assert g.amplitude == pytest.approx(a, rel=0.05) and g.size == pytest.approx(np.sqrt(sx * sy), rel=0.1)


def test_noise_is_not_a_gabor_and_the_population_is_summarised():
    rng = np.random.default_rng(1)
    gabors = np.stack([gabor_image(np.array(p), (12, 12)).ravel() for p in CASES])
    noise = rng.standard_normal((3, 144))
    fits = fit_filters(np.concatenate([gabors, noise]), (12, 12))
    assert fits.good.tolist() == [True] * 3 + [False] * 3 and fits.share_good() == 0.5
    assert all(r < GOOD for r in fits.r2[3:])
    assert len(fits.column("frequency")) == 3 and len(fits.column("frequency", good_only=False)) == 6


def test_the_mcc_of_a_dictionary_against_itself_permuted_and_scaled_is_one():
    rng = np.random.default_rng(2)
    D = rng.standard_normal((32, 40))
    D /= np.linalg.norm(D, axis=0)
    perm = rng.permutation(40)
    learned = (D[:, perm] * rng.uniform(0.2, 5.0, 40)).T  # columns in another order, each scaled
    r = recovery(D, learned)
    assert r.mcc == pytest.approx(1.0) and r.recovered == 1.0
    assert (r.matched_unit == np.argsort(perm)).all() and (r.best_unit == np.argsort(perm)).all()
    flipped = recovery(D, -learned)  # an atom's negative is another feature for a non-negative code
    assert flipped.recovered == 0.0 and flipped.mcc < flipped.chance + 0.1  # no better than chance


def test_a_random_dictionary_scores_what_theory_says_for_its_size():
    """Against n random unit vectors in d dimensions a true atom's best cosine is the max of n cosines, each with
    (c + 1)/2 ~ Beta((d−1)/2, (d−1)/2): its expectation by integration, against 30 random dictionaries (3 standard
    errors). The one-to-one (Hungarian) match can only do worse than each atom's own best."""
    rng = np.random.default_rng(3)
    d, K, n = 24, 30, 50
    D = rng.standard_normal((d, K))
    D /= np.linalg.norm(D, axis=0)
    means, mccs = [], []
    for _ in range(30):
        r = recovery(D, rng.standard_normal((n, d)))
        means.append(r.best.mean())
        mccs.append(r.mcc)
    theory = expected_best_cosine(d, n)
    assert abs(np.mean(means) - theory) < 3 * np.std(means) / np.sqrt(len(means)) + 1e-3
    assert np.mean(mccs) < np.mean(means) and r.chance == pytest.approx(theory)
    assert expected_best_cosine(d, 1) == pytest.approx(0.0, abs=1e-9)  # one cosine: symmetric about 0
    assert expected_best_cosine(d, 10) < expected_best_cosine(d, 100) < expected_best_cosine(4, 100) < 1


def test_matching_with_fewer_units_than_atoms_and_recovery_over_training():
    cos = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.95]])
    unit, value = matched(cos)
    assert unit.tolist() == [0, -1, 1] and value.tolist() == [0.9, 0.0, 0.95]
    atoms = np.eye(3)  # three true atoms (columns) in 3-D
    frames = np.stack([np.array([[1, 1, 0], [0, 0, 1.0]]),  # atom 2 found at once, 0 and 1 not yet
                       np.array([[1, 0.2, 0], [0, 0, 1.0]]),  # atom 0 found
                       np.array([[0.2, 1, 0], [0, 0, 1.0]]),  # atom 0 lost, atom 1 found
                       np.array([[1, 0, 0], [0, 1, 0.05]])])  # atoms 0 and 1 found, atom 2 lost
    t = over_training(atoms, np.array([0, 1, 3, 7]), frames)
    assert t.share().tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert t.recovered_at.tolist() == [7, 3, -1]  # from when each stayed recovered; atom 2 did not stay
    assert cosines(atoms.T, frames[-1]).shape == (3, 2)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ista-synth"
    rc = cli.main(["train", "--family", "ista", "--domain", "synthetic", "--atoms", "12", "--dimension", "8",
                   "--active", "2", "--samples", "3000", "--hidden", "16", "--unroll", "5", "--sparsity", "0.05",
                   "--pretrain-epochs", "2", "--epochs", "2", "--out", str(out), "--threads", "1"])
    assert rc == 0
    return out


def test_the_recovery_command_on_a_synthetic_run(synthetic_run, capsys):
    assert cli.main(["recovery", str(synthetic_run), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["atoms"] == 12 and r["units"] == 16 and 0 <= r["recovered"] <= 1
    assert r["mcc"] > r["chance_best_cosine"] - 0.2  # it learned something
    assert r["snapshot_epochs"][0] == 0 and len(r["share_recovered_by_epoch"]) == len(r["snapshot_epochs"])
    assert cli.main(["recovery", str(synthetic_run)]) == 0
    assert "MCC" in capsys.readouterr().out
    assert cli.main(["gabor", str(synthetic_run)]) == 2  # vectors, not images: refused in one line
    err = capsys.readouterr().err.strip()
    assert "samples that are images" in err and len(err.splitlines()) == 1
    assert cli.main(["recovery"]) == 2  # the embedded digits model has no ground truth
    assert "known generating dictionary" in capsys.readouterr().err


def test_the_gabor_command_on_a_patches_run(tmp_path, capsys):
    out = tmp_path / "ista-patches"
    assert cli.main(["train", "--family", "ista", "--domain", "patches", "--patch-size", "8", "--patches", "2000",
                     "--hidden", "12", "--unroll", "5", "--sparsity", "0.1", "--pretrain-epochs", "1", "--epochs",
                     "1", "--out", str(out), "--threads", "1"]) == 0
    assert cli.main(["gabor", str(out), "--json"]) == 0
    g = json.loads(capsys.readouterr().out)
    assert g["units"] == 12 and len(g["units_r2"]) == 12 and 0 <= g["share_good"] <= 1
    assert sum(g["orientation_histogram"]) == round(g["share_good"] * 12)
