"""The benchmark's measurements on constructed cases with known answers (sparse probing, absorption, consistency
across seeds, feature splitting, the claims), then `python -m models benchmark` end to end on a tiny synthetic
hierarchy (trained through the job registry; a second call trains nothing) and its page through AppTest."""
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models.analysis.absorption import absorption, model_absorption
from models.analysis.consistency import seed_match, split_tree
from models.analysis.probing import balanced_error, sparse_probing, top_latents
from models.services import benchmark, jobs
from tests.test_app import server_navigation

ROOT = Path(__file__).resolve().parent.parent


def test_balanced_error_weighs_both_sides_alike():
    truth = np.array([True] * 2 + [False] * 8)
    assert balanced_error(truth, np.zeros(10, bool)) == 50.0  # "never the class": half wrong, not 20 %
    assert balanced_error(truth, truth) == 0.0
    predicted = truth.copy()
    predicted[0] = True
    predicted[2] = True  # one false alarm among 8
    assert balanced_error(truth, predicted) == pytest.approx(100 * (0 + 1 / 8) / 2)


def test_sparse_probing_finds_the_latent_that_carries_a_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    z = rng.random((600, 10)) * 0.1  # noise latents
    for c in range(3):
        z[:, 2 * c + 1] += (y == c) * 1.0  # latent 2c + 1 fires for class c
    assert top_latents(z, y == 1, 1).tolist() == [3]
    p = sparse_probing(z[:300], y[:300], z[300:], y[300:], ks=(1, 2))
    assert p.error[1] == 0.0 and p.error[2] == 0.0
    noise = sparse_probing(rng.random((300, 10)), y[:300], rng.random((300, 10)), y[300:], ks=(1,))
    assert 35 < noise.error[1] < 65  # no latent knows the class: about chance (50 %)


def test_absorption_counts_a_child_firing_without_its_parent():
    parents = {0: (1, 2), 3: (4, 5)}
    true = np.zeros((8, 6))
    true[:4, 0] = 1  # parent 0 with child 1 (samples 0, 1) or child 2 (2, 3)
    true[[0, 1], 1] = true[[2, 3], 2] = 1
    true[4:, 3] = 1
    true[4:, 4] = 1
    codes = np.zeros((8, 6))
    codes[:, [1, 2, 4, 5]] = true[:, [1, 2, 4, 5]]  # every child's unit fires with its child
    codes[[0, 2], 0] = 1  # parent 0's unit fires on 2 of its 4 samples
    codes[4:, 3] = 1  # parent 3's always
    a = absorption(codes, true, parents, np.arange(6), np.ones(6))
    assert a.rate == pytest.approx(2 / 8) and a.recall == pytest.approx(6 / 8) and a.samples == 8
    assert a.per_parent == {0: 0.5, 3: 0.0}
    # the same through the decoders: units permuted, matched back by the Hungarian pairing
    D = np.linalg.qr(np.random.default_rng(1).standard_normal((10, 6)))[0]  # (d, K) orthonormal atoms
    perm = np.array([3, 0, 5, 1, 4, 2])  # unit perm[k] draws atom k
    decoder = np.zeros((6, 10))
    decoder[perm] = D.T
    m = model_absorption(codes[:, np.argsort(perm)], decoder, D, true, parents)
    assert m.rate == pytest.approx(2 / 8) and m.parent_cosine == pytest.approx(1.0)


def test_seed_match_of_a_permuted_scaled_copy_is_perfect():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((20, 30))
    perm = rng.permutation(20)
    b = a[perm] * rng.uniform(0.5, 2.0, (20, 1))
    m = seed_match(a, b)
    assert m.mcc == pytest.approx(1.0) and m.shared == 1.0
    assert (perm[m.pairs[:, 1]] == np.arange(20)).all()  # each unit found its copy
    far = seed_match(rng.standard_normal((20, 400)), rng.standard_normal((20, 400)))
    assert far.mcc < 0.25 and far.shared == 0.0


def test_split_tree_hangs_each_unit_under_its_closest_parent():
    rng = np.random.default_rng(3)
    small = np.eye(3, 8)
    large = np.stack([small[0], small[0], small[1], small[1], small[1], small[2]]) + 0.05 * rng.standard_normal((6, 8))
    tree = split_tree([small, large])
    lv = tree.levels[0]
    assert tree.sizes == [3, 6] and lv.parent.tolist() == [0, 0, 1, 1, 1, 2]
    assert lv.split_share(3, 0.5) == pytest.approx(2 / 3) and set(lv.children(1)) == {2, 3, 4}


def test_claims_compare_families_at_equal_l0():
    runs = []
    for family, fvus in (("topk-sae", (0.30, 0.20, 0.10)), ("relu-sae", (0.35, 0.25, 0.12))):
        for l0, f in zip((8, 16, 32), fvus):
            runs.append({"family": family, "short": family, "symbol": "k", "sparsity": l0, "seed": 0, "hidden": 8,
                         "role": "grid", "state": "done", "l0": float(l0), "fvu": f})
    c = benchmark.claims({"runs": runs})
    assert c[0]["claim"].startswith("TopK") and c[0]["holds"] is True and "L0 16.0: 0.2000 vs 0.2500" in c[0]["ours"]
    assert benchmark.at_l0(benchmark.aggregate(runs), "topk-sae", "fvu", np.sqrt(8 * 16)) == pytest.approx(0.25)
    assert benchmark.at_l0(benchmark.aggregate(runs), "topk-sae", "fvu", 64) is None  # outside its range
    for r in runs:
        if r["family"] == "relu-sae":
            r["l0"] *= 10  # no overlap
    assert benchmark.claims({"runs": runs})[0]["holds"] is None


def test_sparsity_values_are_parsed_per_family():
    fams = benchmark.families_of(["topk-sae", "relu-sae"])
    got = benchmark.parse_sparsity(["topk-sae=4,8", "relu-sae=0.1"], fams)
    assert got == {"topk-sae": [4, 8], "relu-sae": [0.1]}
    assert benchmark.parse_sparsity(None, fams)["topk-sae"] == [8, 16, 32]  # the family's own values
    with pytest.raises(ValueError, match="whole number"):
        benchmark.parse_sparsity(["topk-sae=2.5"], fams)
    with pytest.raises(ValueError, match="not among --families"):
        benchmark.parse_sparsity(["jumprelu-sae=0.1"], fams)
    with pytest.raises(ValueError, match="no a sparsity setting|cannot be benchmarked"):
        benchmark.families_of(["rg-vae"])


TINY = ["--domain", "synthetic", "--parents", "2", "--atoms", "16", "--dimension", "12", "--samples", "1500",
        "--families", "batchtopk-sae,matryoshka-sae", "--sparsity", "2,3", "--seeds", "0,1", "--hidden", "16",
        "--sizes", "8,16,32", "--epochs", "3", "--batch-size", "64"]


@pytest.fixture(scope="module")
def tiny_benchmark(tmp_path_factory):
    """The CLI on a tiny hierarchy: 2 families × 2 k × 2 seeds and a chain of 8, 16, 32 units (12 runs)."""
    from models.cli import main

    root = tmp_path_factory.mktemp("bench")
    runs, out = root / "runs", root / "runs" / "benchmark-tiny"
    code = main(["benchmark", "--out", str(out), "--runs", str(runs), *TINY])
    return code, runs, out


def test_the_benchmark_command_trains_measures_and_writes(tiny_benchmark, capsys):
    code, runs, out = tiny_benchmark
    assert code == 0
    result = json.loads((out / benchmark.RESULT).read_text())
    grid = [r for r in result["runs"] if r["role"] == "grid"]
    assert len(grid) == 8 and all(r["state"] == "done" for r in result["runs"]) and len(result["runs"]) == 12
    for r in grid:
        assert 0 < r["l0"] <= 16 and 0 <= r["fvu"] < 1.5 and 0 <= r["absorption"] <= 1 and 0 <= r["mcc"] <= 1
    assert {(p["family"], p["sparsity"]) for p in result["pairs"]} == {(f, k) for f in ("batchtopk-sae",
                                                                                        "matryoshka-sae") for k in (2, 3)}
    split = {s["family"]: s for s in result["splitting"]}
    assert split["batchtopk-sae"]["sizes"] == [8, 16, 32] and len(split["batchtopk-sae"]["levels"][1]["parent"]) == 32
    assert all(m["better"] for m in result["metrics"].values())  # every number says which way is better
    saved = benchmark.read(out)
    assert saved.decoders[split["batchtopk-sae"]["runs"][0]].shape == (8, 12)
    md = (out / benchmark.TABLE).read_text()
    assert "| BatchTopK SAE | k 2 | 16 | 2 |" in md and "lower is better" in md and "Matryoshka lowers absorption" in md
    assert (out / "frontier-fvu.html").is_file() and (out / "plotly.min.js").is_file()
    stamps = {p: (p / "checkpoint.pt").stat().st_mtime for p in runs.iterdir() if (p / "checkpoint.pt").is_file()}
    from models.cli import main

    capsys.readouterr()
    assert main(["benchmark", "--out", str(out), "--runs", str(runs), *TINY]) == 0  # everything is there already
    assert {p: (p / "checkpoint.pt").stat().st_mtime for p in stamps} == stamps  # nothing trained again
    assert "done 12" in capsys.readouterr().out


def test_a_bad_benchmark_request_fails_in_one_line(tmp_path, capsys):
    from models.cli import main

    assert main(["benchmark", "--out", str(tmp_path / "b"), "--families", "rg-vae"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "cannot be benchmarked" in err and "\n" not in err
    assert main(["benchmark", "--out", str(tmp_path / "b"), "--sparsity", "topk-sae=x"]) == 2
    assert "comma-separated numbers" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.fixture
def bench_app(monkeypatch, tiny_benchmark):
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tiny_benchmark[1])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    return at


def test_the_benchmark_page_shows_frontier_table_tree_and_pairs(bench_app, tiny_benchmark):
    at = bench_app
    at.switch_page("pages/benchmark.py").run()
    assert not at.exception, at.exception
    folders = [s for s in at.selectbox if s.label == "Benchmark"][0]
    assert "yours · benchmark-tiny" in folders.options
    folders.set_value(str(tiny_benchmark[2])).run()
    assert not at.exception and not at.error
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    frontier = specs[0]
    keys = [k for t in frontier["data"] for k in (t.get("customdata") or [])]
    assert len(keys) == 8 and all(k.startswith("run:") for k in keys)  # each grid run, clickable
    table = at.dataframe[0].value
    assert list(table["family"]) == ["BatchTopK SAE"] * 2 + ["Matryoshka SAE"] * 2 and "absorption" in table.columns
    assert at.query_params["benchmark"] == "benchmark-tiny"
    unit = [n for n in at.number_input if n.label.startswith("Unit of the 8-unit")][0]
    unit.set_value(3).run()
    assert not at.exception and at.query_params["parent"] == "3"
    captions = [c for el in at.get("image") for c in el.captions]
    assert "unit 3 (8 units)" in captions  # the parent, then its children at 16 units
    assert any(c.startswith("unit ") and "cos" in c for c in captions)
    pair = [s for s in at.selectbox if s.label == "Family and sparsity"][0]
    assert len(pair.options) == 4
    assert any(m.label.startswith("Matched cosine") for m in at.metric)
