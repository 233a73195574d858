"""Every page through Streamlit's AppTest: renders, and the sidebar's sliders reach the figures."""
import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from models.services import jobs
from models.training import run_folder as runs
from tests.data import DIGITS

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/overview.py", "pages/training.py", "pages/sweep.py", "pages/filters.py", "pages/dynamics.py",
         "pages/reconstructions.py", "pages/confusion.py", "pages/units.py", "pages/unit_browser.py",
         "pages/representation.py", "pages/composition.py"]


def server_navigation(monkeypatch):
    """AppTest looks for a pages/ folder before every run and, finding one, reruns the last page alone (the old
    multipage mode), without app.py and its sidebar. The server stops looking once st.navigation has run: do the
    same here."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def no_pages_folder(self, *a, **kw):
        init(self, *a, **kw)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", no_pages_folder)


def open_app(monkeypatch, root: Path) -> AppTest:
    """The app, without a data folder (its embedded samples), on the runs folder `root`, after its first run."""
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", root)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    return at


@pytest.fixture
def app(monkeypatch, tmp_path):
    """The app on the embedded default and its 1,000 sample digits, with an empty runs folder."""
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def get(at, kind, label):
    found = [w for w in at.get(kind) if label in (getattr(w, "label", "") or "")]
    assert found, f"no {kind} labelled {label!r}: {[getattr(w, 'label', '') for w in at.get(kind)]}"
    return found[0]


def settle(at, timeout: float = 300):
    """Wait for the worker's slow optional work (ui/background.py), then rerun the page: in the browser the page's
    progress bar polls and reruns it; AppTest does not run that fragment."""
    from ui import background

    for task in list(background._TASKS.values()):
        task.future.exception(timeout)
    at.run()
    assert not at.exception, at.exception
    return at


def stepper_data(at, index: int = 0) -> dict:
    """The data the index-th stepper (ui/stepper.py: frames the browser steps through) on the page was sent."""
    found = [e for e in at.main if getattr(e.proto, "component_name", "") == "sparselab_stepper"]
    return json.loads(found[index].proto.json)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def metric(at, label):
    return get(at, "metric", label).value


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app, page):
    app.switch_page(page).run()
    assert not app.exception, app.exception
    settle(app)  # what a page leaves to the worker (the Sweep's models measured), then the page again
    assert not app.error, [e.value for e in app.error]
    if page != "pages/training.py":  # a Plotly chart, or frames the browser steps through (ui/stepper.py)
        assert app.get("plotly_chart") or any(getattr(e.proto, "component_name", "") == "sparselab_stepper"
                                              for e in app.main), f"{page} shows no figure"


def test_unroll_slider_reaches_overview_figures(app):
    before = metric(app, "Reconstruction")
    get(app, "slider", "Unroll steps").set_value(1).run()
    assert not app.exception
    assert metric(app, "Test error at T = 1")
    assert metric(app, "Reconstruction") != before
    # the dotted marker on the error curve moved to the new T
    shapes = charts(app)[0]["layout"]["shapes"]
    assert shapes[0]["x0"] == 1


def test_unroll_slider_reaches_dynamics_and_reconstructions(app):
    app.switch_page("pages/dynamics.py").run()
    get(app, "slider", "Unroll steps").set_value(4).run()
    data = stepper_data(app)
    assert data["steps"] == 4 and len(next(p for p in data["panels"] if p["name"] == "z")["z"][0]) == 4
    get(app, "slider", "Unroll steps").set_value(20).run()
    assert stepper_data(app)["steps"] == 20
    app.switch_page("pages/reconstructions.py").run()
    titles = [a["text"] for a in charts(app)[0]["layout"]["annotations"]]
    assert titles[-1] == "residual (T=20)"


def test_sparsity_slider_switches_model(app):
    lam = get(app, "select_slider", "Sparsity")
    options = [float(o) for o in lam.options]
    assert len(options) >= 2
    before = metric(app, "Active units")
    other = next(o for o in options if o != lam.value)
    lam.set_value(other).run()
    assert not app.exception
    assert metric(app, "Active units") != before
    assert f"λ = {other:g}" in " ".join(c.value for c in app.caption)
    app.switch_page("pages/filters.py").run()  # the choice holds on every page
    assert get(app, "select_slider", "Sparsity").value == other


def test_filters_respond_to_kind_and_angle(app):
    app.switch_page("pages/filters.py").run()
    n_all = len(charts(app)[0]["data"][1]["text"])  # one hover label per tile
    get(app, "slider", "angle").set_value((0.0, 0.6)).run()
    assert not app.exception
    caption = next(c.value for c in app.caption if "units match" in c.value)
    shown = int(caption.split(" of ")[0])
    from models.assets import default_model_path
    from models.checkpoint import load_model
    from models.analysis.units import unit_table

    model, _ = load_model(default_model_path())
    assert shown == int((unit_table(model).angle <= 0.6).sum())
    assert len(charts(app)[0]["data"][1]["text"]) == shown < n_all


def test_confusion_cell_shows_its_digits(app):
    app.switch_page("pages/confusion.py").run()
    get(app, "selectbox", "True class").set_value(4).run()
    get(app, "selectbox", "Predicted class").set_value(4).run()
    spec = charts(app)[-1]
    assert "digits of class 4 predicted as 4" in spec["layout"]["title"]["text"]
    matrix = charts(app)[0]["data"][0]
    assert matrix["type"] == "heatmap"
    get(app, "toggle", "Normalize").set_value(True).run()
    assert not app.exception


def test_units_page_compares_selected_units(app):
    app.switch_page("pages/units.py").run()
    pick = get(app, "multiselect", "Units to compare")
    pick.set_value([3, 7]).run()
    md = " ".join(m.value for m in app.markdown)
    assert "**Unit 3**" in md and "**Unit 7**" in md
    first = [json.dumps(c["data"]) for c in charts(app)]
    get(app, "multiselect", "Units to compare").set_value([5]).run()
    md = " ".join(m.value for m in app.markdown)
    assert "**Unit 5**" in md and "**Unit 3**" not in md
    assert [json.dumps(c["data"]) for c in charts(app)] != first


def test_dynamics_misclassified_mode(app):
    app.switch_page("pages/dynamics.py").run()
    get(app, "radio", "Digit").set_value("Misclassified").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    label = int(text.split("label ")[1].split(",")[0].rstrip("."))
    predicted = int(text.split("predicted ")[1].split()[0].rstrip("."))
    assert label != predicted


def test_training_page_starts_one_run_for_two_clicks(app, tmp_path, digits_in_cache):
    app.switch_page("pages/training.py").run()
    get(app, "number_input", "Hidden units").set_value(16)
    get(app, "number_input", "Unroll T").set_value(2)
    get(app, "number_input", "Supervised epochs").set_value(1)
    get(app, "number_input", "Pre-training epochs").set_value(0)
    get(app, "number_input", "Samples per split").set_value(1000)
    get(app, "selectbox", "‖C‖ ≤ 5 bounds").set_value("unit")
    get(app, "selectbox", "Train on").set_value("all")
    get(app, "number_input", "Weight average").set_value(0.99)
    get(app, "button", "Start training").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    started = jobs.list_jobs(jobs.RUNS_ROOT)
    assert len(started) == 1
    cfg = json.loads((started[0].run / "config.json").read_text())
    assert cfg["model"]["c_bound"] == "unit" and cfg["model"]["hidden"] == 16 and cfg["train"]["train_on"] == "all"
    assert cfg["train"]["ema"] == 0.99
    get(app, "button", "Start training").click().run()  # a second click (or tab) must not start a second trainer
    again = jobs.list_jobs(jobs.RUNS_ROOT)
    assert len(again) == 1 and again[0].pid == started[0].pid
    jobs.stop(started[0].run)


def test_corrupt_run_shows_an_error_for_that_run_alone(app, tiny_run):
    run, _ = tiny_run
    bad = jobs.RUNS_ROOT / "broken"
    shutil.copytree(run, bad)
    (bad / "checkpoint.pt").write_bytes(b"\x00garbage")  # the latest checkpoint damaged: the one before opens
    app.run()
    app.selectbox(key="model-group").set_value(("run", "drsae", 64, 5, DIGITS)).run()
    assert not app.exception and any("the one before it" in w.value for w in app.warning)
    assert app.get("plotly_chart")
    (bad / "checkpoint.prev.pt").write_bytes(b"\x00garbage")  # both damaged: that run alone cannot be opened
    app.run()
    app.selectbox(key="model-group").set_value(("run", "drsae", 64, 5, DIGITS)).run()
    assert not app.exception
    assert any("cannot be opened" in e.value for e in app.error)
    app.selectbox(key="model-group").set_value(("default", "drsae", 400, 11, DIGITS)).run()
    assert not app.exception and not app.error
    assert app.get("plotly_chart")


def test_sidebar_trains_the_model_at_another_lambda(app, digits_in_cache):
    get(app, "number_input", "λ").set_value(0.4)
    get(app, "button", "Train in the background").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    started = jobs.list_jobs(jobs.RUNS_ROOT)
    assert len(started) == 1
    cfg = json.loads((started[0].run / "config.json").read_text())
    assert cfg["model"]["sparsity"] == 0.4 and cfg["model"]["hidden"] == 400
    jobs.stop(started[0].run)


@pytest.mark.parametrize("page", PAGES[2:])
def test_pages_at_one_step_and_at_three_times_t(app, page):
    app.switch_page(page).run()
    for t in (1, 33):
        get(app, "slider", "Unroll steps").set_value(t).run()
        assert not app.exception, (page, t, app.exception)


def test_training_page_trains_a_finished_run_longer(app, tiny_run, monkeypatch):
    from tests.conftest import DATA_DIR
    from tests.test_jobs import wait_for

    run, _ = tiny_run
    if DATA_DIR:  # the trainer is a new process: it needs the digits (else it downloads them)
        monkeypatch.setenv("SPARSELAB_DATA", DATA_DIR)
    copy = jobs.RUNS_ROOT / "tiny-copy"
    shutil.copytree(run, copy)
    assert jobs.job(copy).state == "done" and jobs.extendable(copy) == 4
    app.switch_page("pages/training.py").run()
    get(app, "number_input", "Supervised epochs in all").set_value(5)
    get(app, "button", "Train longer").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert wait_for(lambda: jobs.job(copy).state == "done" and len(runs.read_metrics(copy)) == 7)
    assert runs.read_config(copy)["train"]["epochs"] == 5


def test_a_unit_selection_does_not_outlive_a_switch_to_a_smaller_model(app, tiny_run):
    run, _ = tiny_run
    shutil.copytree(run, jobs.RUNS_ROOT / "small")
    app.run()
    app.switch_page("pages/units.py").run()
    get(app, "multiselect", "Units to compare").set_value([132, 350]).run()
    assert not app.exception
    app.selectbox(key="model-group").set_value(("run", "drsae", 64, 5, DIGITS)).run()  # 64 units: 132 and 350 are gone
    assert not app.exception, app.exception
    assert all(u < 64 for u in get(app, "multiselect", "Units to compare").value)


def test_runs_that_differ_in_seed_or_length_can_each_be_opened(app, tiny_run):
    run, _ = tiny_run
    for name, change in (("seed0", {}), ("seed1", {"seed": 1}), ("longer", {"epochs": 9})):
        shutil.copytree(run, jobs.RUNS_ROOT / name)
        cfg = runs.read_config(jobs.RUNS_ROOT / name)
        cfg["train"].update(change)
        runs.write_json(jobs.RUNS_ROOT / name / runs.CONFIG, cfg)
    app.run()
    app.selectbox(key="model-group").set_value(("run", "drsae", 64, 5, DIGITS)).run()
    labels = get(app, "selectbox", "Run").options  # what the picker shows: what differs
    assert sorted(labels) == ["epochs 4 · seed 0", "epochs 4 · seed 1", "epochs 9 · seed 0"], labels
    for name in ("seed1", "longer", "seed0"):
        get(app, "selectbox", "Run").set_value(f"run:{name}").run()
        assert not app.exception
        assert f"run · {name}" in " ".join(c.value for c in app.caption)  # the page shows that run


def test_a_model_from_another_dataset_gets_a_warning(app, tiny_run):
    run, _ = tiny_run
    shutil.copytree(run, jobs.RUNS_ROOT / "other-data")
    cfg = runs.read_config(jobs.RUNS_ROOT / "other-data")
    cfg["data"]["test_fingerprint"] = "0123456789ab"
    runs.write_json(jobs.RUNS_ROOT / "other-data" / runs.CONFIG, cfg)
    app.run()
    assert not app.warning  # the embedded default on the embedded digits: they match
    app.selectbox(key="model-group").set_value(("run", "drsae", 64, 5, DIGITS)).run()
    assert any("another dataset" in w.value for w in app.warning)
