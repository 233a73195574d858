"""The centrepiece, seen (issue #42): the Dynamics heatmap's rows by kind, the S − I matrix drawn as a matrix, the
class prototypes under their classes, the Units page starting on a sample its first unit answers; and the smaller
items, each on the embedded default through AppTest or on a constructed case."""
import numpy as np
import pytest
import torch

from models.analysis.recovery import by_epoch
from models.analysis.units import unit_table
from models.assets import default_model_path
from models.checkpoint import load_model
from models.kinds import KINDS
from models.training.validate import evaluate_split
from models.data import Split
from tests.test_app import app, charts, stepper_data  # noqa: F401  (app: the fixture)


def test_the_dynamics_heatmap_groups_its_rows_by_kind_and_names_each_unit(app):  # noqa: F811
    app.switch_page("pages/dynamics.py").run()
    assert not app.exception
    heat = next(p for p in stepper_data(app)["panels"] if p["kind"] == "heatmap")
    model, _ = load_model(default_model_path())
    kind = unit_table(model).kind
    units, groups = heat["units"], heat["groups"]
    assert heat["rows"] == [str(u) for u in units] and groups == [str(kind[u]) for u in units]
    rank = [KINDS.index(g) for g in groups]
    assert rank == sorted(rank) and len(set(groups)) >= 2  # categorical, then intermediate, then part: together
    assert heat["scale"] == "row" and "click a row to open the unit" in heat["caption"]


def test_the_recurrent_weights_are_drawn_as_a_matrix(app):  # noqa: F811
    app.switch_page("pages/filters.py").run()
    s = next(c for c in charts(app) if c["layout"]["title"]["text"].startswith("Recurrent weights S − I"))
    x, y = s["data"][0]["x"], s["data"][0]["y"]
    z = s["data"][0]["z"]
    assert x == y and z["shape"] == f"{len(x)}, {len(x)}"  # rows and columns: the same units, in the same order
    assert s["layout"]["yaxis"]["type"] == "category" and s["layout"]["yaxis"]["autorange"] == "reversed"
    assert s["layout"]["xaxis"]["type"] == "category"  # equal cells, the first unit at the top left


def test_each_categorical_decoder_sits_under_its_class_mean_and_the_units_page_starts_on_its_class(app):  # noqa: F811
    app.switch_page("pages/units.py").run()
    assert not app.exception
    protos = next(c for c in charts(app) if c["layout"]["title"]["text"].startswith("Class means (first row)"))
    labels = protos["data"][1]["text"]
    model, _ = load_model(default_model_path())
    t = unit_table(model)
    cats = np.flatnonzero(t.kind == "categorical")
    named = [s for s in labels if s.startswith("unit ")]
    assert len(named) == len(cats)  # every categorical unit, not the first 40
    for i, s in enumerate(labels[10:]):  # below the means: row by row, a class a column
        if s.startswith("unit "):
            assert int(s.rsplit("class ", 1)[1]) == i % 10, s
    chosen = app.session_state["u-sel"][0]
    digit = app.number_input(key="u-digit").value
    assert int(app.session_state["u-digit"]) == digit
    from ui.compute import samples_of
    from models.services import catalog

    entry = next(e for e in catalog.entries() if e.key == "default:drsae-400x11")
    labels_of = samples_of(str(entry.path), entry.version(), entry.data.key).split.y.numpy()
    assert labels_of[digit] == t.c_class[chosen]  # a sample of the class its first unit answers


def test_quartiles_of_epochs_are_said_once_an_epoch():
    assert by_epoch([1, 1, 1]) == "three quarters of them by epoch 1"
    assert by_epoch([1, 2, 4]) == "a quarter of them by epoch 1, half by epoch 2, three quarters by epoch 4"
    assert by_epoch([1, 1, 3]) == "half of them by epoch 1, three quarters by epoch 3"
    from ui.figures import histogram

    fig = histogram(np.array([1, 1, 2, 3]), "t", "epoch", bins=4, whole=True)
    assert fig.layout.xaxis.tickformat == "d" and fig.data[0].xbins.size == 1 and fig.data[0].xbins.start == 0.5


def test_a_code_cost_that_is_not_l1_is_named_as_such():
    class L0Model(torch.nn.Module):
        """A 'model' whose code cost counts active units (as JumpReLU's does)."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.unsup_weight = 1.0

        def forward(self, x, unroll=None):
            return x.clamp_min(0), x, None

        def code_cost(self, z):
            return (z > 0).float().sum(1)

    x = torch.tensor([[2.0, 0.0, 3.0], [0.5, 0.0, 0.0]])
    r = evaluate_split(L0Model(), Split(x))
    assert r["l1"] == pytest.approx(1.5) and r["l1_norm"] == pytest.approx(2.75) and r["active"] == 1.5


def test_a_second_start_while_every_trainer_is_busy_is_queued(app, monkeypatch, digits_in_cache):  # noqa: F811
    from models.services import jobs
    from tests.test_app import get

    monkeypatch.setenv("SPARSELAB_MAX_TRAINERS", "1")
    app.switch_page("pages/training.py").run()
    get(app, "number_input", "Hidden units").set_value(16)
    get(app, "number_input", "Samples per split").set_value(300)
    get(app, "number_input", "Supervised epochs").set_value(200)
    get(app, "button", "Start training").click().run()
    assert any("running" in s.value for s in app.success), [e.value for e in app.error]
    get(app, "number_input", "Supervised epochs").set_value(201)  # another run, while the first trains
    get(app, "button", "Start training").click().run()
    assert not app.error, [e.value for e in app.error]
    assert any("is queued: it starts as soon as a trainer is free" in s.value for s in app.success)
    runs = {j.state: j.run for j in jobs.list_jobs(jobs.RUNS_ROOT)}
    assert sorted(runs) == ["queued", "running"], runs
    jobs.stop(runs["queued"])  # out of the queue first, so that the trainer's exit starts nothing
    jobs.stop(runs["running"])
