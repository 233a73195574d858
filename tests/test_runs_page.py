"""The Runs page through AppTest on a constructed registry (three runs whose numbers are known): filter, sort, group,
and the overlaid curves smoothed as TensorBoard smooths them, against a hand-computed debiased moving average."""
import json

import numpy as np
import pytest

from models.analysis.smoothing import smooth
from models.families import get
from models.training import run_folder as runs
from models.training.config import TrainConfig
from tests.test_app import open_app
from tests.test_composition_pages import array

SERIES = {"a": [1.0, 0.5, 0.25, 0.2], "b": [2.0, 1.0, 0.8, 0.7], "c": [3.0, 2.5, 2.0, 1.9]}
LAMBDA = {"a": 0.05, "b": 0.1, "c": 0.2}


def test_smoothing_is_a_debiased_moving_average():
    w, v = 0.6, [1.0, 0.5, float("nan"), 0.25]
    by_hand = [1.0, (0.6 * 0.4 * 1.0 + 0.4 * 0.5) / (1 - 0.36), float("nan")]
    by_hand.append((0.36 * 0.4 * 1.0 + 0.6 * 0.4 * 0.5 + 0.4 * 0.25) / (1 - 0.6 ** 3))  # the NaN does not count
    got = smooth(v, w)
    assert np.allclose(got, by_hand, equal_nan=True)
    assert smooth([3.0, 4.0], 0.0) == [3.0, 4.0]
    with pytest.raises(ValueError):
        smooth([1.0], 1.0)


@pytest.fixture
def page(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    for name, ys in SERIES.items():
        mc = get("drsae").config(n_input=784, n_classes=10, hidden=8, unroll=2, sparsity=LAMBDA[name])
        cfg = {"architecture": "drsae", "domain": {"name": "digits", "settings": {}}, "model": mc.to_dict(),
               "train": TrainConfig(epochs=4, pretrain_epochs=0).to_dict()}
        (root / name).mkdir(parents=True)
        runs.write_json(root / name / runs.CONFIG, cfg)
        runs.write_metrics(root / name, [{"epoch": i, "phase": "supervised", "val_unsup": y, "val_error": 10 * y}
                                         for i, y in enumerate(ys)])
        runs.write_status(root / name, state="done", epoch=4, total_epochs=4)
    at = open_app(monkeypatch, root)
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    return at


def widget(at, kind, label):
    return [w for w in at.get(kind) if w.label == label][0]


def table(at):
    return at.dataframe[-1].value  # the runs' table (a grouped table comes before it)


def test_filter_sort_and_group(page):
    at = page
    everything = len(table(at))
    widget(at, "selectbox", "Filter 1").set_value("source").run()
    widget(at, "multiselect", "source").set_value(["'run'"]).run()
    assert list(table(at)["run"]) == ["a", "b", "c"] and everything > 3  # the embedded models filtered out
    widget(at, "selectbox", "Sort by").set_value("val_unsup").run()
    widget(at, "toggle", "Descending").set_value(True).run()
    assert list(table(at)["run"]) == ["c", "b", "a"]
    widget(at, "selectbox", "Filter 2").set_value("val_unsup").run()
    [s for s in at.slider if s.label == "val_unsup"][0].set_value((0.5, 1.0)).run()
    assert list(table(at)["run"]) == ["b"]  # only b ended between 0.5 and 1
    widget(at, "selectbox", "Filter 2").set_value(None).run()
    widget(at, "selectbox", "Group by").set_value("model.sparsity").run()
    groups = at.dataframe[0].value
    assert list(groups["runs"]) == [1, 1, 1] and sorted(groups["mean val_unsup"]) == [0.2, 0.7, 1.9]
    assert sorted(groups["model.sparsity"]) == ["0.05", "0.1", "0.2"]
    assert not at.exception


def test_the_selected_runs_curves_are_smoothed(page):
    at = page
    widget(at, "multiselect", "Runs to overlay").set_value(["a", "c"]).run()
    widget(at, "selectbox", "Number").set_value("val_unsup").run()
    widget(at, "slider", "Smoothing").set_value(0.5).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = {t["name"]: array(t["y"]) for t in spec["data"]}
    ema = lambda ys: [sum(0.5 ** (i - j) * 0.5 * ys[j] for j in range(i + 1)) / (1 - 0.5 ** (i + 1))  # noqa: E731
                      for i in range(len(ys))]
    assert np.allclose(lines["a"], ema(SERIES["a"])) and np.allclose(lines["c"], ema(SERIES["c"]))
    assert "b" not in lines
