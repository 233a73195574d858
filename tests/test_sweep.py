"""Sparsity sweeps (models/services/sweep.py, the job registry's queue, `train sweep`, the Sweep page)."""
import json
import os
import signal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from models import cli
from models.domains import spec
from models.families import get
from models.services import catalog, jobs, sweep
from models.training import run_folder as runs
from models.training.config import TrainConfig, train_config
from tests.test_app import ROOT, server_navigation, settle
from tests.test_jobs import MC, wait_for
from ui.text import plain

TINY = ["--hidden", "16", "--unroll", "2", "--limit", "3000", "--pretrain-epochs", "0", "--epochs", "2"]


def test_values_and_grid():
    assert sweep.values("0.05, 0.1,0.05", float, "λ") == [0.05, 0.1]
    for bad, says in [("a,b", "comma-separated numbers"), (" , ", "at least one value")]:
        with pytest.raises(ValueError, match=says):
            sweep.values(bad, float, "λ")
    family = get("drsae")
    configs = sweep.grid(family, {"hidden": 16, "unroll": 2}, {"epochs": 3}, [0.05, 0.1], [0, 1, 2])
    assert [(m.sparsity, t.seed) for m, t in configs] == [(lam, s) for lam in (0.05, 0.1) for s in (0, 1, 2)]
    assert all(m.hidden == 16 and t.epochs == 3 and t.lr == train_config(family).lr for m, t in configs)
    with pytest.raises(ValueError, match="at most 100"):
        sweep.grid(family, {}, {}, [0.01 * k for k in range(1, 12)], list(range(10)))
    with pytest.raises(ValueError):  # a λ outside the setting's bounds
        sweep.grid(family, {}, {}, [-1.0], [0])


def entry(key, lam, seed, hidden=16, state="done"):
    settings = {"model.hidden": hidden, "model.sparsity": lam, "train.seed": seed, "train.epochs": 2,
                "data.source": f"/somewhere/{key}"}  # not a setting: never splits a curve
    return catalog.Entry(f"run:{key}", key, Path(key), "drsae", hidden, 2, lam, state, spec(), settings)


def test_series_pool_seeds_and_name_what_differs():
    es = [entry("a", 0.1, 0), entry("b", 0.1, 1), entry("c", 0.2, 0), entry("d", 0.2, 1), entry("e", 0.1, 0, hidden=32)]
    numbers = {"run:a": (10.0, 5.0, 0.4), "run:b": (14.0, 7.0, 0.2), "run:c": (4.0, 9.0, 0.5),
               "run:d": (4.0, 11.0, None), "run:e": (20.0, 3.0, 0.1)}
    small, big = sweep.series(es, numbers)
    assert small.label == "runs · hidden 16" and big.label == "runs · hidden 32"
    assert small.sparsity == [0.1, 0.2] and small.seeds == [2, 2]
    assert small.mean["l0"] == [12.0, 4.0] and small.mean["error"] == [6.0, 10.0]
    assert small.spread["error"] == pytest.approx([2 ** 0.5, 2 ** 0.5])  # sample std of (5, 7) and (9, 11)
    assert small.mean["recon"] == pytest.approx([0.3, 0.5]) and small.spread["recon"][1] == 0.0  # one value known
    assert big.mean["l0"] == [20.0] and big.spread["l0"] == [0.0]
    assert [r.seed for r in small.runs] == [0, 1, 0, 1]


def test_a_sweep_queues_runs_to_completion_and_the_page_shows_them(tmp_path, monkeypatch, capsys):
    """Two λ on 3,000 digits, one trainer at a time: the second starts when the first trainer exits (no app)."""
    monkeypatch.delenv("SPARSELAB_MAX_TRAINERS", raising=False)
    root = tmp_path / "runs"
    rc = cli.main(["train", "sweep", "--sparsity", "0.05,0.1", *TINY, "--trainers", "1", "--runs", str(root),
                   "--wait"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "2 runs in" in out and "1 train at once" in out and "running 1 · queued 1" in out
    done = jobs.list_jobs(root)
    assert sorted(j.config["model"]["sparsity"] for j in done) == [0.05, 0.1] and {j.state for j in done} == {"done"}
    logs = " ".join((j.run / runs.LOG).read_text() for j in done)
    assert "queue: started" in logs  # the first trainer started the second as it exited
    assert json.loads((root / jobs.REGISTRY).read_text()) == {"max_trainers": 1}

    server_navigation(monkeypatch)
    monkeypatch.setattr(jobs, "RUNS_ROOT", root)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/sweep.py").run()
    assert not at.exception, at.exception
    settle(at)  # the models measured on the worker
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    runs_trace = [d for d in spec["data"] if d.get("customdata") and str(d["customdata"][0]).startswith("run:")]
    assert len(runs_trace) == 1 and len(runs_trace[0]["x"]) == 2  # both runs, clickable
    assert sorted(at.dataframe[0].value["λ"]) == [0.025, 0.05, 0.05, 0.1, 0.1]  # three embedded, two runs


def test_the_queue_goes_on_after_everything_was_killed(tmp_path, monkeypatch):
    """A machine restart kills the trainer without a word: the app's poll (jobs.dispatch) puts it back to train (a
    sweep finishes its runs), and the queue goes on after it."""
    monkeypatch.delenv("SPARSELAB_MAX_TRAINERS", raising=False)
    jobs.set_max_trainers(1, tmp_path)
    long = TrainConfig(pretrain_epochs=1, epochs=30, limit=2000, batch_size=10)
    first = jobs.enqueue(MC, long, tmp_path)
    second = jobs.enqueue(get("drsae").config(hidden=16, unroll=2, sparsity=0.2),
                          TrainConfig(pretrain_epochs=0, epochs=1, limit=1000), tmp_path)
    assert first.state == "running" and second.state == "queued"
    assert jobs.enqueue(MC, long, tmp_path).pid == first.pid  # queued twice: one run
    os.kill(first.pid, signal.SIGKILL)
    assert wait_for(lambda: jobs.job(first.run).state == "interrupted")
    assert jobs.job(second.run).state == "queued"  # nobody freed the place yet
    assert jobs.dispatch(tmp_path) == [first.name]  # the poll: a queued run killed goes back in, oldest first
    assert runs.read_status(first.run)["restarts"] == 1
    jobs.stop(first.run)  # a user's stop is not undone by the queue
    assert wait_for(lambda: jobs.job(first.run).state == "stopped")
    assert wait_for(lambda: jobs.job(second.run).state == "done")  # the stopping trainer started it as it exited
    assert jobs.job(first.run).state == "stopped"


def test_a_queued_run_can_leave_the_queue(tmp_path, monkeypatch):
    monkeypatch.delenv("SPARSELAB_MAX_TRAINERS", raising=False)
    jobs.set_max_trainers(1, tmp_path)
    long = TrainConfig(pretrain_epochs=1, epochs=30, limit=2000, batch_size=10)
    first = jobs.enqueue(MC, long, tmp_path)
    second = jobs.enqueue(get("drsae").config(hidden=16, unroll=2, sparsity=0.2), long, tmp_path)
    jobs.stop(second.run)
    assert jobs.job(second.run).state == "stopped"
    jobs.stop(first.run)
    assert wait_for(lambda: jobs.job(first.run).state == "stopped")
    assert jobs.job(second.run).state == "stopped"  # the first's exit did not start it
    with pytest.raises(jobs.JobError, match="outside"):
        jobs.set_max_trainers(0, tmp_path)


def test_training_page_queues_a_sweep(tmp_path, monkeypatch):
    server_navigation(monkeypatch)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path)
    monkeypatch.setattr(jobs, "dispatch", lambda *a, **k: [])  # no trainer here: the runs stay queued
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/training.py").run()
    at.text_input(key="sweep-lams").set_value("0.05, 0.1")
    at.text_input(key="sweep-seeds").set_value("0")
    next(b for b in at.button if b.label == "Queue the sweep").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [done] = [s.value for s in at.success]
    assert done.startswith("Sweep of 2 runs (about ") and "minutes of training on this machine" in done
    assert done.endswith(": 2 queued. The Sweep page plots them as they finish.")
    queued = jobs.list_jobs(tmp_path)
    assert sorted(j.config["model"]["sparsity"] for j in queued) == [0.05, 0.1]
    assert {j.state for j in queued} == {"queued"} and all(j.config["model"]["hidden"] == 400 for j in queued)
    at.text_input(key="sweep-lams").set_value("0.05, lots")
    next(b for b in at.button if b.label == "Queue the sweep").click().run()
    assert [e.value for e in at.error] == [plain("λ values '0.05, lots': give comma-separated numbers")]
    assert len(jobs.list_jobs(tmp_path)) == 2  # nothing more
