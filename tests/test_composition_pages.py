"""The pages of #20 parts 2 and 3 through AppTest: Composition, the Filters filmstrip, interventions on Dynamics and
Units, and the Confusion page's responsible units."""
import shutil

import numpy as np

from models.analysis.composition import composition
from models.analysis.intervene import kind_sets, set_ablations
from models.analysis.units import unit_table
from models.assets import default_model_path
from models.checkpoint import load_model
from models.services import jobs
from tests.test_app import stepper_data, app, charts, get, settle  # noqa: F401  (app: the fixture)
from tests.data import DIGITS

RUN_GROUP = ("run", "drsae", 64, 5, DIGITS)


def array(v) -> np.ndarray:
    """A plotly figure's array as JSON holds it: a list, or a typed array (dtype, base64 bytes, shape)."""
    if isinstance(v, dict):
        import base64

        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(n) for n in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.array(v, dtype=float)


def titles(at) -> list[str]:
    return [c["layout"].get("title", {}).get("text", "") for c in charts(at)]


def open_run(at, tiny_run, name="small"):
    shutil.copytree(tiny_run[0], jobs.RUNS_ROOT / name)
    at.run()
    at.selectbox(key="model-group").set_value(RUN_GROUP).run()
    assert not at.exception, at.exception


def test_composition_page_on_the_default(app):
    app.switch_page("pages/composition.py").run()
    assert not app.exception and not app.error, app.exception
    table = app.dataframe[0].value
    assert list(table["kind"]) == ["categorical", "intermediate", "part"]
    model, _ = load_model(default_model_path())
    by = composition(model.unit_weights(), unit_table(model).kind, (28, 28)).by_kind()
    assert list(table["radius, w² as mass (pixels) decoder"]) == [round(by[k]["decoder_radius"], 1) for k in table["kind"]]
    assert list(table["radius, |w| as mass (pixels) decoder"]) == [round(by[k]["decoder_radius_abs"], 1)
                                                                    for k in table["kind"]]
    assert list(table["units"]) == [by[k]["units"] for k in table["kind"]]
    md = " ".join(m.value for m in app.markdown)
    assert f"median radius {by['part']['decoder_radius']:.1f}" in md  # the page says what the numbers show
    assert any("Part units exciting each categorical unit" in t for t in titles(app))
    unit = get(app, "selectbox", "Categorical unit")
    other = unit.options[3]
    unit.set_value(int(other.split()[1])).run()
    assert not app.exception
    captions = app.get("image")[0].captions
    assert captions[0] == f"unit {other.split()[1]}" and captions[1].split(":")[1].startswith(" S +")
    md = " ".join(m.value for m in app.markdown)
    assert "The angle thresholds" in md  # kinds across the four embedded λ
    assert "Part units settle" in md  # the embedded default's run recorded its angles every epoch
    assert "Units in their final kind, by epoch" in titles(app)


def test_composition_page_shows_when_units_took_their_kinds(app, tiny_run):
    open_run(app, tiny_run)
    app.switch_page("pages/composition.py").run()
    assert not app.exception and not app.error
    md = " ".join(m.value for m in app.markdown)
    assert "Part units settle" in md or "nothing to compare" in md
    assert "Units in their final kind, by epoch" in titles(app)


def test_filters_filmstrip_sends_a_runs_snapshots(app, tiny_run):
    open_run(app, tiny_run)
    app.switch_page("pages/filters.py").run()
    data = stepper_data(app)
    assert data["named"] == ["start"] + [f"epoch {e}" for e in range(1, 7)] and data["step"] == 7
    assert [p["titles"][0] for p in data["panels"]] == ["Encoder rows at the start", "Decoder columns at the start"]
    app.session_state["flt-frame"] = 1  # let go at the first frame (Play and the keys run in the browser)
    app.run()
    assert not app.exception
    assert any(c.value.startswith("At the start (where the slider was let go)") for c in app.caption)


def test_dynamics_intervention_changes_the_codes(app):
    app.switch_page("pages/dynamics.py").run()
    get(app, "toggle", "Ablate or clamp").set_value(True).run()
    assert not app.exception and not app.error
    spec = next(c for c in charts(app) if c["layout"]["title"]["text"].startswith("z_t held − z_t untouched"))
    z = array(spec["data"][0]["z"])
    assert np.abs(z).max() > 0  # holding the categorical units (the default) changes the code
    get(app, "radio", "Hold").set_value("chosen units").run()
    get(app, "multiselect", "Units").set_value([5, 9]).run()
    get(app, "radio", "Held").set_value("at a value (clamp)").run()
    get(app, "number_input", "Value").set_value(0.8).run()
    get(app, "slider", "From step").set_value(4).run()
    assert not app.exception
    md = " ".join(m.value for m in app.markdown)
    assert "2 units held at 0.8 from step 4" in md


def test_units_page_ablations(app):
    app.switch_page("pages/units.py").run()
    table = app.dataframe[0].value
    names = list(table["ablated (held at 0 from step 1)"])
    assert names[:4] == ["nothing", "categorical", "intermediate", "part"]
    from models.domains.digits import sample

    model, _ = load_model(default_model_path())
    expect = set_ablations(model, sample().arrays.split(), 11, kind_sets(unit_table(model).kind))
    assert list(table["test error (%)"])[1] == round(expect.set_error["categorical"], 2)
    assert expect.set_error["categorical"] > expect.error  # the classifier needs its categorical units
    get(app, "button", "Rank every unit").click().run()
    assert not app.exception and not app.error
    if app.get("progress"):  # the worker ranks them: a bar, then the table
        assert "Ablating every unit alone" in app.get("progress")[0].proto.text and len(app.dataframe) == 1
    settle(app)
    ranked = app.dataframe[1].value
    assert len(ranked) == 20 and list(ranked["test error (%)"]) == sorted(ranked["test error (%)"], reverse=True)
    assert "What ablating each unit alone costs the classifier" in titles(app)


def test_confusion_cell_names_the_responsible_units(app):
    import torch

    from models.domains.digits import sample

    digits = sample().arrays.split()
    model, _ = load_model(default_model_path())
    with torch.no_grad():
        pred = model.classify(model.code(digits.x)).argmax(-1).numpy()
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (digits.y.numpy(), pred), 1)
    np.fill_diagonal(cm, 0)
    true, wrong = np.unravel_index(cm.argmax(), cm.shape)  # the commonest mistake
    app.switch_page("pages/confusion.py").run()
    get(app, "selectbox", "True class").set_value(int(true)).run()
    get(app, "selectbox", "Predicted class").set_value(int(wrong)).run()
    assert not app.exception and not app.error
    assert "Units whose ablation changes these digits' predictions most" in [h.value for h in app.subheader]
    t = app.dataframe[0].value
    changed = list(t.iloc[:, 2])
    assert changed == sorted(changed, reverse=True) and changed[0] > 0


def test_filters_filmstrip_on_the_default(app):
    app.switch_page("pages/filters.py").run()
    data = stepper_data(app)
    assert data["named"] == ["start", "epoch 1", "epoch 3", "epoch 6", "epoch 16", "epoch 41", "epoch 105"]
    assert data["step"] == 7
    assert any("keep 36 of 400 units" in c.value for c in app.caption)
    app.session_state["flt-frame"] = 5
    app.run()
    assert not app.exception and any(c.value.startswith("After epoch 16") for c in app.caption)

