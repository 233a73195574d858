"""Slow optional work on the worker (ui/background.py): started once per key, its progress and failure seen, and the
pages that use it open with a bar and fill in with the same numbers the analysis computes directly."""
import base64
import threading

import numpy as np
import pytest

from tests.test_app import app, charts, get, metric, settle  # noqa: F401  (app: the fixture)
from ui import background


def test_a_task_starts_once_per_key_and_reports_its_share():
    gate, calls = threading.Event(), []

    def work(report):
        calls.append(1)
        report(0.25)
        gate.wait(10)
        report(7)  # clamped
        return "done"

    key = ("test-once", object())
    first = background.start(key, "Working", work)
    assert background.start(key, "Working", work) is first  # a second tab asking waits on the same task
    for _ in range(30_000):  # the one worker may first finish what an earlier test left it
        if first.done_share == 0.25:
            break
        threading.Event().wait(0.01)
    assert first.done_share == 0.25 and not first.future.done()
    gate.set()
    assert background.wait(key, 10) == "done" and first.done_share == 1.0 and calls == [1]


def test_a_failed_task_says_why_and_starts_again_once_forgotten():
    key = ("test-fails",)
    task = background.start(key, "Failing", lambda report: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        background.wait(key, 10)
    assert isinstance(task.failed, ZeroDivisionError)
    assert background.start(key, "Failing", lambda report: 2) is task  # kept: the page shows the error
    background.forget(key)
    assert background.start(key, "Again", lambda report: 2) is not task and background.wait(key, 10) == 2


def test_finished_tasks_beyond_keep_are_dropped_oldest_first(monkeypatch):
    monkeypatch.setattr(background, "KEEP", 2)
    keys = [("test-keep", i) for i in range(4)]
    for k in keys:
        background.start(k, "Quick", lambda report: 0)
        background.wait(k, 10)
    background.start(("test-keep", "last"), "Quick", lambda report: 0)
    kept = [k for k in background._TASKS if k[0] == "test-keep"]
    assert keys[0] not in kept and keys[1] not in kept and keys[3] in kept


GATE = threading.Event()  # holds the worker in the bar's test

BAR_PAGE = """
import streamlit as st
import tests.test_background as here
from ui import background
first = background.start(("test-bar", "first"), "Blocking", lambda report: (report(0.5), here.GATE.wait(30), 1)[2])
second = background.start(("test-bar", "second"), "Behind", lambda report: 2)
st.write(f"before {background.shown(first)} {background.shown(second)}")
st.write("the rest of the page")
"""


def test_a_page_is_drawn_around_a_bar_that_says_how_far_the_work_is():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(BAR_PAGE, default_timeout=60).run()
    first = background._TASKS[("test-bar", "first")]
    for _ in range(500):
        if first.done_share == 0.5:
            break
        threading.Event().wait(0.01)
    at.run()
    bars = [p.proto.text for p in at.get("progress")]
    assert bars == [f"Blocking… 50% ({background.WAITING})", f"Behind… queued behind other work ({background.WAITING})"]
    assert [m.value for m in at.markdown][-1] == "the rest of the page"
    GATE.set()
    background.wait(("test-bar", "second"), 30)
    at.run()
    assert not at.get("progress") and at.markdown[0].value == "before 1 2"


def test_representation_opens_with_a_bar_then_shows_the_probe(app):
    from models.analysis.representation import probe_errors
    from models.services import catalog
    from ui import compute

    app.switch_page("pages/representation.py").run()
    assert not app.exception, app.exception
    if app.get("progress"):  # not fitted yet in this process: the line is there, empty, in its own colour
        probe_line = charts(app)[0]["data"][0]
        y = np.frombuffer(base64.b64decode(probe_line["y"]["bdata"]), dtype=probe_line["y"]["dtype"])
        assert probe_line["name"] == "linear probe on z_t" and np.isnan(y).all()
        assert metric(app, "Probe error") == "…"
    settle(app)
    assert not app.get("progress")
    entry = next(e for e in catalog.entries() if e.key == "default:drsae-400x11")  # the app's default
    model = compute.model_for(str(entry.path), entry.version())
    want = probe_errors(model, compute.samples_for(entry.data.key, entry.architecture).split, entry.unroll)
    assert metric(app, "Probe error") == f"{want[-1]:.1f} %"
    get(app, "slider", "Step t").set_value(1).run()
    assert metric(app, "Probe error") == f"{want[0]:.1f} %"


def test_compare_opens_with_a_bar_and_fills_its_table(app):
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    if app.get("progress"):  # the models' measurements are not cached yet: the page is drawn around the bar
        assert "Measuring each model" in app.get("progress")[0].proto.text
        assert not app.get("dataframe") and app.get("plotly_chart")
    settle(app)
    table = app.dataframe[0].value
    assert table.shape == (23, 5) and all(float(v) < 10 for v in table.iloc[0, 1:])  # test error (%)


def test_the_server_leaves_a_core_to_its_event_loop():
    """ui/server.py: torch uses one thread fewer than the cores the process may run on (at least one)."""
    import os

    import torch

    from ui import server

    server.tune()
    cores = len(os.sched_getaffinity(0))
    assert torch.get_num_threads() == max(1, cores - 1)
    server.tune()  # every run of app.py calls it: idempotent
    assert torch.get_num_threads() == max(1, cores - 1)


def test_ranking_units_on_the_unit_browser_runs_on_the_worker_and_the_units_page_shares_it(app):
    app.switch_page("pages/unit_browser.py").run()
    get(app, "button", "Rank by ablation").click().run()
    assert not app.exception, app.exception
    if app.get("progress"):  # not ranked yet in this process: the table is there, without the ablation column
        assert "Ablating every unit alone" in app.get("progress")[0].proto.text
        assert "error without it (%)" not in app.dataframe[0].value.columns
    settle(app)
    assert "error without it (%)" in app.dataframe[0].value.columns
    ranking = [t for k, t in background._TASKS.items() if k[0] == "unit ablations"]
    app.switch_page("pages/units.py").run()  # ranked already: its table at once, from the same task
    assert not app.get("progress") and len(app.dataframe) == 2
    assert [t for k, t in background._TASKS.items() if k[0] == "unit ablations"] == ranking
