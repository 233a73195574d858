"""Models on the new domains in the app (AppTest): every page they can fill renders, with their own samples, and the
pages they cannot fill are not offered."""
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models.domains import spec
from models.families import get
from models.services import catalog, jobs
from models.training.config import train_config
from models.training.loop import train
from tests.test_app import ROOT, charts, server_navigation, settle
from ui.text import plain

TINY = dict(pretrain_epochs=1, epochs=1)


@pytest.fixture(scope="module")
def domain_runs(tmp_path_factory):
    """An ISTA on 8 × 8 patches, a DrSAE (so without its classifier) on synthetic data with a hierarchy, and an ISTA
    on a vectors file with labels: tiny, shared by this module's tests."""
    root = tmp_path_factory.mktemp("domain-runs")
    vectors = root / "acts.npz"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 20)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    np.savez(vectors, x=x, labels=labels)
    runs = {
        "patches": ("ista", dict(hidden=16, unroll=5, sparsity=0.1), spec("patches", patch_size=8, patches=2000)),
        "synthetic": ("drsae", dict(hidden=16, unroll=4, sparsity=0.05),
                      spec("synthetic", atoms=12, dimension=10, active=2, parents=2, children=2, samples=2000)),
        "vectors": ("ista", dict(hidden=12, unroll=3, sparsity=0.05), spec("vectors", vectors=str(vectors))),
    }
    out = {}
    for name, (fam, settings, data) in runs.items():
        family = get(fam)
        folder = root / f"{name}-run"
        train(family.config(**settings), train_config(family, **TINY), folder, device="cpu", spec=data)
        out[name] = folder
    return out


def open_run(monkeypatch, tmp_path, folder):
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs")
    shutil.copytree(folder, jobs.RUNS_ROOT / folder.name)
    entry = next(e for e in catalog.entries() if e.key == f"run:{folder.name}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.selectbox(key="model-group").set_value(entry.group).run()
    assert not at.exception, at.exception
    return at, entry


@pytest.mark.parametrize("name, pages, absent", [
    ("patches", ["overview", "filters", "dynamics", "reconstructions", "units", "representation"],
     ["confusion", "ground_truth", "samples", "composition"]),  # ISTA: its encoder is its decoder's, no kinds
    ("synthetic", ["overview", "filters", "dynamics", "reconstructions", "units", "representation", "composition",
                   "ground_truth"], ["confusion", "samples"]),
    ("vectors", ["overview", "filters", "dynamics", "reconstructions", "confusion", "units", "representation"],
     ["ground_truth", "samples", "composition"]),
])
def test_every_page_a_domain_model_fills_renders(domain_runs, monkeypatch, tmp_path, name, pages, absent):
    from models.checkpoint import load_model
    from ui import nav

    at, entry = open_run(monkeypatch, tmp_path, domain_runs[name])
    model, _ = load_model(entry.path)
    caps = get(entry.architecture).capabilities_of(model.cfg).with_data(entry.data.layout())
    titles = {p.path.split("/")[-1][:-3] for p in nav.offered(caps)}
    assert set(pages) <= titles and not set(absent) & titles, titles
    for page in pages:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
        text = " ".join(str(c.value) for c in at.caption) + " ".join(str(m.value) for m in at.markdown)
        assert "digit" not in text.lower(), (page, [t for t in text.split(". ") if "digit" in t.lower()][:3])


def test_the_patches_model_shows_patches_and_its_gabors(domain_runs, monkeypatch, tmp_path):
    at, _ = open_run(monkeypatch, tmp_path, domain_runs["patches"])
    at.switch_page("pages/filters.py").run()
    assert not at.exception
    settle(at)  # the Gabor fits, on the worker
    assert any("8 × 8 image" in c.value for c in at.caption)
    labels = [m.label for m in at.metric]
    assert any("Fitted well" in label for label in labels)  # 64-pixel filters: fitted on opening the page
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert "R² of each unit's Gabor" in titles
    at.switch_page("pages/dynamics.py").run()
    assert [r.label for r in at.radio][0] == "Patch" and at.radio[0].options == ["By number"]  # no labels, no draw


def test_the_synthetic_model_shows_what_it_recovered(domain_runs, monkeypatch, tmp_path):
    from models.analysis.recovery import recovery
    from models.checkpoint import load_model
    from models.domains import test_set

    at, entry = open_run(monkeypatch, tmp_path, domain_runs["synthetic"])
    at.switch_page("pages/ground_truth.py").run()
    assert not at.exception and not at.error
    model, _ = load_model(entry.path)
    truth = test_set(entry.data).truth
    want = recovery(truth.dictionary, model.unit_weights().decoder, truth.parents)
    metrics = {m.label: m.value for m in at.metric}
    deltas = {m.label: m.delta for m in at.metric}
    assert metrics["MCC"] == f"{want.mcc:.3f}" and deltas["MCC"] == f"a random dictionary's: {want.chance_mcc:.3f}"
    assert deltas["Mean best cosine"] == f"a random dictionary's: {want.chance:.3f}"
    assert len(at.dataframe) >= 1 and "parent atom" in at.dataframe[0].value.columns  # the hierarchy's table
    assert any(c["layout"]["title"]["text"].startswith("Share of the true atoms recovered") for c in charts(at))
    at.switch_page("pages/overview.py").run()
    assert not [m for m in at.metric if m.label.startswith("Test error")]  # trained without labels: no classifier


def test_the_training_form_trains_on_another_domain(monkeypatch, tmp_path):
    server_navigation(monkeypatch)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/training.py").run()
    at.selectbox(key="train-family").set_value("ista").run()
    at.selectbox(key="train-domain").set_value("synthetic").run()
    at.number_input(key="train-data-synthetic-atoms").set_value(9)
    at.number_input(key="train-ista-hidden").set_value(8)
    at.number_input(key="train-ista-epochs").set_value(1)
    at.number_input(key="train-ista-pretrain_epochs").set_value(0)
    at.button[0].click().run()
    assert not at.exception and at.success, [e.value for e in at.error]
    run = jobs.list_jobs(tmp_path / "runs")[0]
    cfg = run.config
    assert cfg["domain"] == {"name": "synthetic", "settings": {**spec("synthetic").cfg.to_dict(), "atoms": 9}}
    assert cfg["model"]["n_input"] == 32 and cfg["model"]["n_classes"] == 0 and "synthetic" in run.name
    at.selectbox(key="train-family").set_value("rg-vae").run()
    at.selectbox(key="train-domain").set_value("patches").run()
    at.button[0].click().run()
    assert any(plain("values outside [0, 1]") in e.value for e in at.error)  # refused in one line, nothing started
    assert len(jobs.list_jobs(tmp_path / "runs")) == 1
