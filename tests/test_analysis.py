import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.analysis.activity import analyse, step_decoders, summary
from models.checkpoint import load_model
from models.families.drsae import DrSAE, DrSAEConfig
from models.kinds import kinds
from models.analysis.representation import representation
from models.analysis.intervene import kind_sets, set_ablations
from models.analysis.report import claims, render
from models.analysis.units import unit_table

ROOT = Path(__file__).resolve().parent.parent


def test_ista_start_is_all_part_units():
    t = unit_table(DrSAE(DrSAEConfig(n_input=50, hidden=30)))
    np.testing.assert_allclose(t.angle, 0, atol=1e-6)
    assert set(t.kind) == {"part"}
    assert list(kinds(np.array([0.1, 0.6, 0.9]))) == ["part", "intermediate", "categorical"]


def test_numbers_match_direct_computations(tiny_run, mnist_small):
    model, _ = load_model(tiny_run[0])
    digits = mnist_small.test.head(1500)
    a = analyse(model, digits)
    t = a.per_unit()
    E, D, S, C = (p.detach().double().numpy() for p in (model.E, model.D, model.S, model.C))
    for i in (0, 17, 63):
        cos = E[i] @ D[:, i] / np.linalg.norm(E[i]) / np.linalg.norm(D[:, i])
        assert abs(t["angle"][i] - np.arccos(cos)) < 1e-9
        assert abs(t["s_minus_i_norm"][i] - np.linalg.norm(S[i] - np.eye(64)[i])) < 1e-9
        assert abs(t["c_norm"][i] - np.linalg.norm(C[:, i])) < 1e-9 and t["c_class"][i] == C[:, i].argmax()
    with torch.no_grad():
        z = model.double().encode(digits.x.double()).numpy()  # (T, n, H)
    np.testing.assert_allclose(t["p_late_start"], ((z[0] == 0) & (z[1] > 0)).mean(0), atol=1e-12)
    y = digits.y.numpy()
    np.testing.assert_allclose(a.class_means[3], z[-1][y == 3].mean(0), rtol=1e-5, atol=1e-7)
    assert a.first_step_hist.sum(1).tolist() == (z[-1] > 0).sum(0).tolist()
    # the per-step decoder is the least-squares solution (with its tiny ridge, 1e-6)
    Z, X = z[2], digits.x.double().numpy()
    ridge = np.linalg.solve(Z.T @ Z + 1e-6 * np.eye(64), Z.T @ X).T
    decoders = step_decoders(model, digits).decoders
    np.testing.assert_allclose(decoders[2], ridge, rtol=1e-4, atol=1e-5)
    lsq = np.linalg.lstsq(Z, X, rcond=None)[0].T  # and the ridge barely moves it off plain least squares
    fit = lambda Dt: ((X - Z @ Dt.T) ** 2).sum()  # noqa: E731
    assert fit(decoders[2].astype(np.float64)) <= fit(lsq) * (1 + 1e-4)
    kind = t["kind"]
    checked = 0
    for g in ("categorical", "part"):
        units = np.flatnonzero(kind == g)
        if len(units) > 1:
            block = S[np.ix_(units, units)]
            assert abs(a.s_blocks[(g, g)] - block[~np.eye(len(units), dtype=bool)].mean()) < 1e-12
            checked += 1
    assert checked  # the tiny model has at least one group of two or more units
    s = summary(a)
    assert sum(s["counts"].values()) == 64 and s["n_digits"] == 1500


def test_late_share_pools_the_activations_of_a_set_of_units():
    from models.analysis.activity import late_share

    hist = np.array([[3, 1, 0], [0, 0, 4], [5, 0, 0]])  # per unit: samples on at T by the step it switched on
    assert late_share(hist, np.array([True, True, False])) == pytest.approx(1 - 3 / 8)  # not the mean of 1/4, 1
    assert late_share(hist, np.array([False, False, True])) == 0.0
    assert np.isnan(late_share(np.zeros((2, 3)), np.array([True, True])))


def test_report_states_each_claim(tiny_run, mnist_small):
    model, _ = load_model(tiny_run[0])
    digits = mnist_small.test.head(1000)
    rows = claims(model, analyse(model, digits), digits)
    assert len(rows) >= 8 and all(isinstance(r["holds"], (bool, np.bool_)) for r in rows)
    text = render(str(tiny_run[0]), model, digits, "test digits")
    claims_part, rep_part = text.split("## The code as a representation, step by step")
    rep_part, rest = rep_part.split("## Composition")
    assert "## Staged learning" in rest and "settle" in rest  # the tiny run recorded its angles
    ablated = [line.split(" | ") for line in rest.splitlines() if line.startswith("| all ")]
    assert [r[0] for r in ablated] == ["| all categorical units", "| all intermediate units", "| all part units"]
    sa = set_ablations(model, digits, model.trained_unroll, kind_sets(unit_table(model).kind))
    assert [float(r[2]) for r in ablated] == [round(sa.set_error[k], 2) for k in ("categorical", "intermediate", "part")]
    assert claims_part.count("\n| ") == len(rows) + 1 and "claims hold" in claims_part
    steps = [line.split(" | ") for line in rep_part.splitlines() if line[:3] in {f"| {t}" for t in range(1, 10)}]
    assert [int(r[0][2:]) for r in steps] == list(range(1, model.trained_unroll + 1))
    r = representation(model, digits, model.trained_unroll)
    assert [float(s[1]) for s in steps] == [round(v, 1) for v in r.l0]  # the table prints these numbers


def test_units_cli_json_parses(tiny_run):
    res = subprocess.run([sys.executable, "-m", "models", "units", str(tiny_run[0]), "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert len(d["units"]) == 64 and sum(d["counts"].values()) == 64
    u = d["units"][5]
    for k in ("angle", "kind", "s_minus_i_norm", "s_self", "c_norm", "c_class", "first_step_mean", "p_late_start",
              "recon_share", "selectivity", "first_step_hist"):
        assert k in u
