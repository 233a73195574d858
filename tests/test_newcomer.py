"""What a newcomer tripped over (#35), each with its regression test: readable log axes, heatmaps whose colours do
not leave most cells blank, a unit picker that takes exactly the typed units, T kept across λ, one colour per kind, a
new run in the model picker without a reload, the same notice for every model with nothing composed, a probability
without a change's arrow, and LISTA measured by Gregor & LeCun's own code error."""
import json
import shutil

import numpy as np
import pytest

from models.families.drsae import DrSAEConfig
from models.services import catalog, jobs
from tests.test_app import get, open_app, settle
from tests.test_composition_pages import array
from ui.text import plain


@pytest.fixture
def app(monkeypatch, tmp_path):
    return open_app(monkeypatch, tmp_path / "runs")


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_log_axes_tick_1_2_5_and_the_training_curves_use_them(app):
    from models.services.figures import log_ticks

    assert log_ticks(np.array([1.2, 90.0]))["ticktext"] == ["1", "2", "5", "10", "20", "50", "100"]
    assert log_ticks(np.array([0.06, 0.3]))["tickvals"] == [0.05, 0.1, 0.2]
    assert log_ticks(np.array([0.0, -1.0])) == {}
    # less than a decade: ticks where the data is (a loss between 0.22 and 0.45 had none it could show)
    assert log_ticks(np.array([0.22, 0.45]))["ticktext"] == ["0.3", "0.4"]
    narrow = log_ticks(np.array([0.31, 0.36]))["tickvals"]
    assert len(narrow) >= 2 and all(0.3 <= t <= 0.37 for t in narrow)
    app.switch_page("pages/training.py").run()
    logs = [c["layout"]["yaxis"] for c in specs(app) if c["layout"].get("yaxis", {}).get("type") == "log"]
    assert logs and all(set(str(t)[0] for t in y["ticktext"]) <= {"1", "2", "5", "0"} for y in logs)
    assert all(y.get("title", {}).get("text") for y in logs)  # every axis has its title


def test_the_heatmaps_colours_span_the_99th_percentile(app):
    app.switch_page("pages/filters.py").run()
    heat = [c for c in specs(app) if c["data"][0]["type"] == "heatmap" and "Recurrent" in c["layout"]["title"]["text"]]
    z = array(heat[0]["data"][0]["z"])
    assert heat[0]["data"][0]["zmax"] == pytest.approx(np.percentile(np.abs(z), 99), rel=1e-4)
    assert heat[0]["data"][0]["zmax"] < np.abs(z).max()  # a few large weights saturate: the rest is visible


def test_typing_a_unit_number_adds_exactly_that_unit_and_the_cap_is_said(app):
    app.switch_page("pages/units.py").run()
    before = list(app.session_state["u-sel"])
    get(app, "text_input", "Add units by number").input("5").run()
    assert app.session_state["u-sel"] == before + [5]  # not 50, 51…
    get(app, "text_input", "Add units by number").input("1 2 3 4 6 7 9").run()
    assert len(app.session_state["u-sel"]) == 8
    assert any("at most 8 units" in w.value.lower() and "left out" in w.value for w in app.warning)
    get(app, "text_input", "Add units by number").input("5000").run()
    assert any("no unit 5000" in w.value.lower() for w in app.warning)


def test_changing_lambda_keeps_t(app):
    get(app, "slider", "Unroll steps").set_value(5).run()
    app.sidebar.select_slider[0].set_value(0.05).run()
    assert not app.exception
    assert get(app, "slider", "Unroll steps").value == 5


def test_one_colour_per_kind_everywhere(app):
    from ui.figures import KIND_COLORS

    app.switch_page("pages/training.py").run()
    units = [c for c in specs(app) if c["layout"]["title"]["text"] == "Units over the epochs"][0]
    colours = {t["name"]: t["line"]["color"] for t in units["data"]}
    assert colours["categorical"] == KIND_COLORS["categorical"] and colours["part"] == KIND_COLORS["part"]
    others = [c for name, c in colours.items() if name not in KIND_COLORS]
    assert others and not set(others) & set(KIND_COLORS.values()) and len(set(others)) == len(others)
    app.switch_page("pages/composition.py").run()
    bars = [c for c in specs(app) if c["layout"]["title"]["text"] == "Units of each kind"]
    for c in bars:
        assert {t["name"]: t["marker"]["color"] for t in c["data"]} == {k: KIND_COLORS[k] for k in KIND_COLORS}


def test_a_new_run_reaches_the_model_picker_without_a_reload(tiny_run, monkeypatch, tmp_path):
    from ui import sidebar

    at = open_app(monkeypatch, tmp_path / "runs")
    shown = set(at.session_state["sidebar-listed"])
    assert not sidebar.missing_runs(shown)
    shutil.copytree(tiny_run[0], jobs.RUNS_ROOT / "fresh")  # a run's first checkpoint lands
    assert sidebar.missing_runs(shown) == {"run:fresh"}  # the Training page's poll redraws the app for it
    at.run()
    assert "run:fresh" in at.session_state["sidebar-listed"]


def test_nothing_composed_gets_one_notice_for_lista_and_ista_has_no_kinds_to_compose(monkeypatch, tmp_path):
    from models.families import get
    from ui import nav

    ista = get("ista").capabilities
    assert not ista.kinds and "pages/composition.py" not in {p.path for p in nav.offered(ista)}  # a tied encoder
    for key in ("default:lista-400x11",):
        at = open_app(monkeypatch, tmp_path / "runs")
        at.switch_page("pages/composition.py")
        at.session_state["model-group"] = next(e for e in catalog.entries() if e.key == key).group
        at.run()
        assert not at.exception
        assert any(i.value.startswith("Nothing is composed here") for i in at.info), key
        assert not [c for c in specs(at) if "Part units exciting" in c["layout"]["title"]["text"]]


def test_a_probability_has_no_arrow(app):
    app.switch_page("pages/dynamics.py").run()
    pred = [m for m in app.metric if m.label.startswith("Prediction after step")][0]
    direction = pred.proto.DESCRIPTOR.fields_by_name["direction"].enum_type.values_by_number[pred.proto.direction]
    assert pred.delta.startswith("p = ") and direction.name == "NONE"  # no arrow: a level, not a change


def test_lista_is_measured_by_its_code_error_too():
    import torch

    from models.analysis.compare import code_errors, compare_model
    from models.assets import MODELS
    from models.checkpoint import load_model
    from models.domains import spec
    from models.families.recurrent import sparse_codes

    x = spec().domain.test_samples(spec().cfg).arrays.split().x[:300]
    ista, _ = load_model(MODELS / "ista-400x11")
    D = ista.D.detach().float()
    z_star = sparse_codes(D, x, ista.sparsity, 300)
    ist = code_errors(D, x, ista.sparsity, z_star, 50)
    fist = code_errors(D, x, ista.sparsity, z_star, 50, momentum=True)
    assert ist[0] > ist[-1] and fist[-1] < ist[-1]  # FISTA closes in faster
    c = compare_model(ista, x, torch.zeros(len(x), dtype=torch.long), reference_digits=300)
    assert abs(c.equivalent_ista_code - ista.trained_unroll) <= 2  # ISTA is worth its own steps
    lista, _ = load_model(MODELS / "lista-400x11")
    cl = compare_model(lista, x, torch.zeros(len(x), dtype=torch.long), reference_digits=300)
    assert cl.equivalent_ista_code > 10 * lista.trained_unroll and cl.equivalent_fista_code < cl.equivalent_ista_code


def test_the_confusion_page_opens_on_the_most_frequent_confusion(app):
    from models.analysis.steps import step_stats
    from models.assets import default_model_path
    from models.checkpoint import load_model
    from models.domains import spec

    app.switch_page("pages/confusion.py").run()
    true, pred = app.session_state["cf-true"], app.session_state["cf-pred"]
    assert not any(i.value.startswith("No test digit") for i in app.info)  # not an empty cell
    model, _ = load_model(default_model_path())
    split = spec().domain.test_samples(spec().cfg).arrays.split()
    stats = step_stats(model, split, model.trained_unroll)
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (stats.labels, stats.preds[-1]), 1)
    np.fill_diagonal(cm, 0)
    assert cm[true, pred] == cm.max() > 0


def test_a_link_to_a_page_the_model_lacks_says_so(monkeypatch, tmp_path):
    from ui.nav import asked_for
    from models.families import get as family

    assert asked_for("http://127.0.0.1:8501/dynamics?model=default:rg-vae", family("rg-vae").capabilities).title \
        == "Dynamics"
    assert asked_for("http://127.0.0.1:8501/dynamics", family("drsae").capabilities) is None
    assert asked_for("http://127.0.0.1:8501/", family("rg-vae").capabilities) is None


def test_sweep_and_compare_say_why_a_generative_model_is_not_there(app):
    at = app
    group = next(e for e in catalog.entries() if e.key == "default:rg-vae").group
    at.session_state["model-group"] = group
    at.switch_page("pages/sweep.py").run()
    assert any("no sparsity setting to sweep" in i.value for i in at.info)
    at.switch_page("pages/compare.py").run()
    assert any("cannot be compared here" in i.value for i in at.info)


def test_training_without_data_says_why_in_the_form_and_starts_nothing(monkeypatch, tmp_path):
    from models.domains import digits

    at = open_app(monkeypatch, tmp_path / "runs")
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(digits, "CACHE_DIR", tmp_path / "empty-cache")
    monkeypatch.setattr(digits, "MIRROR", ("127.0.0.1", 9))  # nothing listens there: as without internet
    digits._probed.clear()
    at.switch_page("pages/training.py").run()
    at.button[[b.label for b in at.button].index("Start training")].click().run()
    assert not at.exception
    assert any(plain("No digits to train on") in e.value and plain("SPARSELAB_DATA") in e.value for e in at.error), \
        [e.value for e in at.error]
    assert not any("running" in s.value for s in at.success)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run folder
    # a folder that lacks a file is named before anything starts too
    (tmp_path / "half").mkdir()
    with pytest.raises(jobs.JobError, match="does not hold"):
        jobs.fitted(DrSAEConfig(hidden=8, unroll=1), None, str(tmp_path / "half"))


def test_a_click_adds_with_the_toggle_and_a_seen_selection_is_not_taken_again():
    from ui.state import clicked, with_picked

    state = {}
    ev = {"selection": {"points": [{"customdata": 7}, {"customdata": 3}, {"x": 1}]}}
    assert clicked("s", ev, state) == [3, 7]
    assert clicked("s", ev, state) == []  # the chart still holds it: a unit taken out of the picker stays out
    assert clicked("s", {"selection": {"points": [{"customdata": 9}]}}, state) == [9]
    assert with_picked([1, 2], [2, 9], adding=True, most=8) == ([1, 2, 9], [])
    assert with_picked([1, 2], [9], adding=False, most=8) == ([9], [])
    assert with_picked(list(range(7)), [20, 21, 22], adding=True, most=8) == ([0, 1, 2, 3, 4, 5, 6, 20], [21, 22])


def test_held_units_follow_the_pages_choice(app):
    at = app
    at.switch_page("pages/units.py").run()
    at.session_state["u-sel"] = [1, 2]
    at.run()
    assert at.session_state["u-iv-units"] == [1, 2]
    at.session_state["u-sel"] = [5]
    at.run()
    assert not at.exception and at.session_state["u-iv-units"] == [5]


def test_a_setting_out_of_range_is_said_when_the_form_is_sent(app):
    at = app
    at.switch_page("pages/training.py").run()
    hidden = [n for n in at.number_input if n.label == "Hidden units"][0]
    hidden.set_value(0)
    at.button[[b.label for b in at.button].index("Start training")].click().run()
    assert any(plain("--hidden must be in [1, 4096], got 0") in e.value for e in at.error), \
        [e.value for e in at.error]


def test_a_run_has_a_name_and_a_note_the_picker_and_tables_show(tiny_run, monkeypatch, tmp_path):
    from models.training import run_folder
    from ui.compute import _run_row

    at = open_app(monkeypatch, tmp_path / "runs")
    run = jobs.RUNS_ROOT / "fresh"
    shutil.copytree(tiny_run[0], run)
    jobs.describe(run, "  wide decoder ", "to see strokes")
    assert run_folder.read_about(run) == {"name": "wide decoder", "note": "to see strokes"}
    entry = next(e for e in catalog.entries() if e.key == "run:fresh")
    assert (entry.title, entry.note) == ("wide decoder", "to see strokes") and "wide decoder (fresh)" in entry.label
    row = _run_row("run:fresh", "fresh", "run", run_folder.read_config(run), "done", run_folder.read_metrics(run),
                   run_folder.read_about(run))
    assert row.values["name"] == "wide decoder" and row.values["note"] == "to see strokes"
    at.run()
    at.selectbox(key="model-group").set_value(entry.group).run()
    assert any("wide decoder" in m.value for m in at.sidebar.markdown)
    # a name that cannot be shown is refused in one line, before any folder is made
    with pytest.raises(jobs.JobError, match="one line of at most 60"):
        jobs.start(DrSAEConfig(hidden=8, unroll=1), None, root=tmp_path / "other", title="a\nb")
    assert not (tmp_path / "other").exists()
    (run / run_folder.ABOUT).write_text("[not an object")  # a damaged label costs the label, not the run
    assert run_folder.read_about(run) == {"name": "", "note": ""}
    assert any(e.key == "run:fresh" for e in catalog.entries())


def test_the_unit_browser_filters_sorts_opens_and_links_a_unit(app):
    from models.analysis.codes import SparseCodes
    from models.analysis.unit_index import unit_index

    at = app
    at.switch_page("pages/unit_browser.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    sel = table["selectivity"].to_numpy()
    assert (sel[:-1] >= sel[1:]).all() and (table["density"] > 0).all()  # most selective first, dead units hidden
    get(at, "multiselect", "Kinds").set_value(["categorical"]).run()
    assert set(at.dataframe[0].value["kind"]) == {"categorical"}
    get(at, "selectbox", "Sort by").set_value("density").run()
    dens = at.dataframe[0].value["density"].to_numpy()
    assert (dens[:-1] >= dens[1:]).all()
    at.number_input(key="ub-unit").set_value(5).run()
    assert at.query_params["units"] == ["5"] or at.query_params["units"] == "5"
    assert any("drive unit 5 most" in c.value for c in at.caption)
    # the index itself, on a constructed case: unit 0 fires on class 1 only, unit 1 on everything alike, unit 2 never
    z = np.array([[0, 1, 0], [2, 1, 0], [0, 1, 0], [3, 1, 0]], dtype=float)
    y = np.array([0, 1, 0, 1])
    ix = unit_index(SparseCodes.of(z), y, top=3)
    assert ix.density.tolist() == [0.5, 1.0, 0.0] and ix.mean.tolist() == [2.5, 1.0, 0.0]
    assert ix.selectivity.tolist() == [1.0, 0.0, 0.0] and ix.preferred[0] == 1
    assert ix.top[0].tolist() == [3, 1, -1] and ix.top[2].tolist() == [-1, -1, -1]


def test_the_per_step_decoders_are_solved_only_when_asked(app):
    from ui import background

    at = app
    at.switch_page("pages/units.py").run()
    assert not any(c["layout"]["title"]["text"].startswith("Optimal decoders") for c in specs(at))
    assert not [k for k in background._TASKS if k[0] == "step decoders"]  # not started by opening the page
    at.toggle(key="u-stepdec-on").set_value(True).run()
    assert not at.exception
    settle(at)  # solved on the worker
    assert any(c["layout"]["title"]["text"] == "Optimal decoders of unit " + str(at.session_state["u-dec-unit"]) +
               " at steps 1..11" for c in specs(at))


def test_the_catalog_builds_each_entry_once_and_follows_the_files(tiny_run, tmp_path):
    """The sidebar lists every model on every rerun: an entry is rebuilt only when its files or state change."""
    from models.services import catalog
    from models.training import run_folder

    root = tmp_path / "runs"
    shutil.copytree(tiny_run[0], root / "tiny")
    first = {e.key: e for e in catalog.entries(root)}
    again = {e.key: e for e in catalog.entries(root)}
    assert again["run:tiny"] is first["run:tiny"] and again["default:drsae-400x11"] is first["default:drsae-400x11"]
    run_folder.write_about(root / "tiny", "strokes", "why")
    named = {e.key: e for e in catalog.entries(root)}["run:tiny"]
    assert named is not first["run:tiny"] and named.title == "strokes" and "strokes (tiny)" in named.label
    run_folder.write_status(root / "tiny", state="stopped")
    assert {e.key: e for e in catalog.entries(root)}["run:tiny"].state == "stopped"
    shutil.rmtree(root / "tiny")
    assert "run:tiny" not in {e.key for e in catalog.entries(root)}
    assert not [k for k in catalog._BUILT if k[0] == root / "tiny"]  # a deleted run's entry is not kept
