"""The rectified-Gaussian VAE in the app (AppTest): the pages it is offered, the Overview's bound, Samples' depth,
Hierarchy, Traversal and Layers, and links with bad values."""
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models.families.rg_vae.hierarchy import hierarchy
from models.families.rg_vae.likelihood import likelihood
from models.domains.digits import sample
from models.checkpoint import load_model
from models.data import intensities
from models.families import get as family
from models.services import jobs
from tests.test_app import ROOT, app, charts, get, server_navigation, settle, stepper_data  # noqa: F401  (app: the fixture)
from tests.test_composition_pages import titles
from ui import nav
from tests.data import DIGITS

GROUP = ("run", "rg-vae", 36, 1, DIGITS)


def open_vae(at, vae_run, name="vae"):
    shutil.copytree(vae_run[0], jobs.RUNS_ROOT / name)
    at.run()
    at.selectbox(key="model-group").set_value(GROUP).run()
    assert not at.exception, at.exception


def captions(at) -> list[list[str]]:
    return [list(i.captions) for i in at.get("image")]


def test_the_pages_a_generative_hierarchy_is_offered():
    titles_ = [p.title for p in nav.offered(family("rg-vae").capabilities)]
    assert titles_ == ["Overview", "Training", "Sweep", "Samples", "Hierarchy", "Traversal", "Layers", "Compare",
                       "Benchmark", "Runs"]
    assert not {"Samples", "Hierarchy"} & {p.title for p in nav.offered(family("drsae").capabilities)}


def test_overview_shows_the_bound(app, vae_run):
    open_vae(app, vae_run)
    settle(app)  # the bound, on the worker
    assert not app.error, [e.value for e in app.error]
    model, _ = load_model(vae_run[0])
    want = likelihood(model, sample().arrays.split(intensities), 100, 200)
    assert get(app, "metric", "Test ELBO").value == f"{want.elbo:.2f}"
    assert get(app, "metric", "Importance-weighted bound").value == f"{want.iwae:.2f}"
    table = app.dataframe[0].value
    assert list(table["units"]) == [24, 12] and list(table["KL (nats)"]) == [round(la.kl, 2) for la in want.layers]


def test_samples_page_depth(app, vae_run):
    open_vae(app, vae_run)
    app.switch_page("pages/samples.py").run()
    assert not app.exception and not app.error
    assert len(stepper_data(app)["panels"][0]["frames"][0]) == 24  # every depth's 24 samples in the page
    text = lambda: stepper_data(app)["panels"][0]["titles"][stepper_data(app)["step"] - 1]  # noqa: E731
    assert "Depth 1: layers 1 drawn afresh; layers 2 the digit's own code" in text()
    app.radio(key="smp-order").set_value("top").run()
    assert "Depth 1: layers 2 drawn afresh; layers 1 inferred from the digit given the layers above" in text()
    assert app.query_params["order"] == "top"
    app.session_state["smp-step"] = 3  # the browser let go at depth 2
    app.run()
    assert "Depth 2: layers 1, 2 drawn afresh; layers none" in text()
    assert app.query_params["depth"] == "2"
    app.radio(key="smp-mode").set_value("None: fresh samples").run()
    assert not app.exception and "depth" not in app.query_params
    assert len(captions(app)) == 1  # no digit: the samples alone


def test_hierarchy_page_layers_and_one_unit(app, vae_run):
    open_vae(app, vae_run)
    app.switch_page("pages/hierarchy.py").run()
    assert not app.exception and not app.error
    model, _ = load_model(vae_run[0])
    h = hierarchy(model, sample().arrays.split(intensities).x)
    top = h.layers[1]
    order = [int(u) for u in np.argsort(-top.activity, kind="stable")]  # most active first
    assert captions(app)[0] == [str(u) for u in order if not top.inactive[u]]  # the inactive ones hidden
    if top.inactive.any():
        app.toggle(key="hi-hide").set_value(False).run()
        assert captions(app)[0] == [str(u) for u in order if not top.inactive[u]] + \
            [str(u) for u in order if top.inactive[u]]  # or last
        app.toggle(key="hi-hide").set_value(True).run()
    app.radio(key="hi-layer").set_value(1).run()
    app.radio(key="hi-sort").set_value("index").run()
    assert captions(app)[0] == [str(u) for u in range(24) if not h.layers[0].inactive[u]]
    app.number_input(key="hi-unit-1").set_value(7).run()
    assert get(app, "metric", "P(exactly 0)").value == f"{h.layers[0].p_zero[7]:.2f}"
    assert captions(app)[1][2].startswith(f"digit {h.layers[0].top_digits[7, 0]} ")
    app.toggle(key="hi-diff").set_value(True).run()
    assert not app.exception


def test_traversal_and_layers_pages(app, vae_run):
    open_vae(app, vae_run)
    app.switch_page("pages/traversal.py").run()
    assert not app.exception and not app.error
    unit = app.selectbox(key="trv-unit")
    assert len(unit.options) == 12
    data = stepper_data(app)
    assert data["steps"] == 11 and data["panels"][0]["captions"][10][0].startswith(f"unit {unit.value} = ")
    app.session_state["trv-at"] = 11
    app.run()
    assert not app.exception and stepper_data(app)["step"] == 11
    app.switch_page("pages/layers.py").run()
    assert not app.exception and not app.error
    assert [t.split(":")[0] for t in titles(app)] == ["Layer 1", "Layer 2"]
    app.number_input(key="lay-digit").set_value(5).run()
    assert captions(app)[0][0].startswith("test digit no. 5, a ")  # its number, then its class
    app.radio(key="lay-mode").set_value("Draw").run()
    assert any("Draw one digit" in i.value for i in app.info)


@pytest.mark.parametrize("params, warning", [({"depth": "9"}, "depth `9`"), ({"order": "up"}, "order `up`"),
                                             ({"layer": "0"}, "layer `0`")])
def test_links_with_bad_values_fall_back(monkeypatch, tmp_path, vae_run, params, warning):
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs")
    shutil.copytree(vae_run[0], jobs.RUNS_ROOT / "vae")
    page = "pages/hierarchy.py" if "layer" in params else "pages/samples.py"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"model": "run:vae", **params})
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert any(warning in w.value for w in at.warning), [w.value for w in at.warning]


def test_training_page_trains_a_vae_with_its_recipe(app, monkeypatch):
    import time

    from models.training import run_folder
    from tests.conftest import DATA_DIR

    if DATA_DIR:  # the trainer reads the dataset (the app itself shows the embedded digits)
        monkeypatch.setenv("SPARSELAB_DATA", DATA_DIR)
    app.switch_page("pages/training.py").run()
    app.selectbox(key="train-family").set_value("rg-vae").run()
    get(app, "text_input", "Stochastic layers").set_value("12,6")
    get(app, "number_input", "Block width").set_value(16)
    get(app, "number_input", "Training epochs").set_value(1)  # no classifier: no "supervised" epochs
    get(app, "number_input", "Samples per split").set_value(300)
    get(app, "button", "Start training").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    run = jobs.list_jobs(jobs.RUNS_ROOT)[0].run
    cfg = run_folder.read_config(run)
    assert cfg["architecture"] == "rg-vae" and cfg["model"]["layers"] == "12,6"
    assert cfg["train"]["optimizer"] == "adamax" and cfg["train"]["batch_size"] == 100  # the family's recipe
    end = time.time() + 120
    while run_folder.read_status(run).get("state") not in ("done", "failed") and time.time() < end:
        time.sleep(0.5)
    assert run_folder.read_status(run)["state"] == "done", run_folder.read_status(run)
    row = run_folder.read_metrics(run)[0]
    assert row["val_elbo"] < 0 and {"val_kl_1", "val_kl_2", "val_active_1"} <= set(row)


def test_the_embedded_vae_shows_how_it_was_trained(app):
    app.switch_page("pages/training.py").run()
    app.selectbox(key="tr-embedded").set_value("default:rg-vae").run()
    assert not app.exception
    assert titles(app) == ["Negative ELBO (nats)", "KL of each layer (nats)", "Units not exactly 0, per sample"]
    command = app.code[0].value
    assert "--family rg-vae" in command and "--train-on all" in command
    kl = [c for c in charts(app) if c["layout"]["title"]["text"].startswith("KL")][0]
    assert [d["name"] for d in kl["data"]] == ["layer 1", "layer 2", "layer 3", "layer 4"]
