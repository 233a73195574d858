"""Reliability, round two (#34): whatever a run file holds, the registry and the pages say "damaged" or "interrupted"
with the reason and never raise; one run folder has one trainer (a lock held for its life, not a pid); a queued run
killed without a word goes back in the queue; a trainer that fails while starting ends "failed" with its reason; a
read-only runs folder is said in one line; a link's text is never read as markdown."""
import os
import shutil
from dataclasses import fields
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from models.checkpoint import CHECKPOINT, PREVIOUS
from models.families import all_families, get
from models.services import catalog, jobs
from models.training import run_folder as runs
from models.training.config import TrainConfig
from tests.test_app import ROOT, server_navigation
from tests.test_bad_input import one_line, run_cli

SMALL = ["--hidden", "16", "--unroll", "2", "--pretrain-epochs", "0", "--epochs", "1", "--limit", "500"]


@pytest.fixture
def registry(tiny_run, tmp_path, monkeypatch):
    """A runs folder holding a copy of a finished run, the app's and the CLI's registry."""
    root = tmp_path / "runs"
    root.mkdir()
    (root / ".jobs.lock").touch()
    shutil.copytree(tiny_run[0], root / "finished")
    monkeypatch.setattr(jobs, "RUNS_ROOT", root)
    return root


@pytest.mark.parametrize("pid", [2147483648, 2**70, -1, 0, "12", True, 3.5, None, 1, os.getpid()])
def test_any_pid_a_status_file_holds_gives_a_state_not_a_traceback(registry, pid):
    run = registry / "finished"
    runs.write_status(run, state="running", pid=pid, message="")
    j = jobs.job(run)
    assert j.state == "interrupted"  # no trainer holds the folder: a pid of init, or of this very process, is not one
    assert [e.key for e in catalog.entries(registry) if e.key == "run:finished"]  # the sidebar's list survives
    assert jobs.dispatch(registry) == []


def test_a_run_is_running_while_its_trainer_holds_the_lock_and_a_second_trainer_is_refused(registry, capsys):
    run = registry / "finished"
    runs.write_status(run, state="running", pid=1, message="")
    with runs.trainer_lock(run):
        assert jobs.job(run).state == "running" and runs.trainer_running(run)
        before = (run / runs.METRICS).read_bytes()
        code, err = run_cli(["train", "--config", str(run / runs.CONFIG), "--out", str(run), "--epochs", "6"], capsys)
        assert code == 2 and "another trainer" in one_line(err) and f"pid {os.getpid()}" in err
        assert (run / runs.METRICS).read_bytes() == before
        assert runs.read_status(run)["state"] == "running"  # the refused one leaves the status to the owner
    assert not runs.trainer_running(run) and jobs.job(run).state == "interrupted"


def test_a_stale_running_status_does_not_hold_a_trainer_slot(registry, monkeypatch):
    """A status that says running (pid 1: alive, but no trainer) neither counts as a trainer nor stops the queue."""
    monkeypatch.setenv("SPARSELAB_MAX_TRAINERS", "1")
    runs.write_status(registry / "finished", state="running", pid=1, message="")
    mc = get("drsae").config(hidden=8, unroll=1)
    tc = TrainConfig(pretrain_epochs=0, epochs=1, limit=200, batch_size=50)
    j = jobs.enqueue(mc, tc, registry)
    assert j.state == "running"  # the one slot was free: the stale run does not hold it
    deadline = time.time() + 120
    while jobs.job(j.run).state == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert jobs.job(j.run).state == "done", (j.run / runs.LOG).read_text()[-500:]


def test_a_queued_run_killed_without_a_word_goes_back_in_the_queue(registry):
    run = registry / "finished"
    runs.write_status(run, state="running", pid=None, queued_at=time.time(), message="", restarts=0)
    j = jobs.job(run)
    assert j.state == "interrupted" and jobs._back_in_queue(j)
    runs.write_status(run, restarts=jobs.RESTARTS)
    assert not jobs._back_in_queue(jobs.job(run))  # a run that keeps dying is not restarted for ever
    st = {**runs.read_status(run), "restarts": 0}
    del st["queued_at"]
    runs.write_json(run / runs.STATUS, st)
    assert not jobs._back_in_queue(jobs.job(run))  # started by hand, not by the queue: left to the user


DAMAGED = [
    (runs.METRICS, bytes(range(256)) * 4),
    (runs.METRICS, b'{"epoch": 0, "val_error": "high", "val_recon": [1], "phase": 3}\n{"epoch": "x"}\n[1, 2]\n'),
    (runs.METRICS, b'{"epoch": 0, "unit_angles": ["a"], "val_kl_1": "x", "train_unsup": null}\n'),
    (runs.CONFIG, b'{"model": {"hidden": 64, "unroll": 5, "sparsity": 0.1}, "train": {}, "data": "x"}'),
    (runs.CONFIG, bytes(range(256))),
    (runs.STATUS, b'{"state": "running", "pid": 2147483648, "epoch": 3, "total_epochs": 6}'),
    (runs.STATUS, bytes(range(256))),
    (CHECKPOINT, b"\x00garbage"),  # and the one before it: nothing to fall back on
]


@pytest.mark.parametrize("name, content", DAMAGED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DAMAGED)])
def test_every_page_survives_a_damaged_run_file(registry, monkeypatch, name, content):
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    (registry / "finished" / name).write_bytes(content)
    if name == CHECKPOINT:
        (registry / "finished" / PREVIOUS).write_bytes(content)
    rows = runs.read_metrics(registry / "finished")
    assert all(isinstance(r.get("val_error"), (int, float, type(None))) for r in rows)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    if name == CHECKPOINT:  # the damaged run in the sidebar: its model cannot be opened, and the page says so
        at.query_params["model"] = "run:finished"
    for page in ("pages/training.py", "pages/sweep.py", "pages/compare.py", "pages/composition.py",
                 "pages/overview.py", "pages/benchmark.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])


def test_the_cli_survives_damaged_metrics(registry, capsys):
    run = registry / "finished"
    (run / runs.METRICS).write_bytes(bytes(range(256)) + b'\n{"epoch": 0, "val_error": "high"}\n')
    for argv in (["evaluate", str(run)], ["units", str(run)], ["export", str(run), "--out", str(registry / "e")]):
        code, err = run_cli(argv, capsys)
        assert code == 0 and "Traceback" not in err, (argv, err)


def test_a_trainer_that_fails_while_starting_ends_failed_with_its_reason(tmp_path, monkeypatch):
    """No data folder and no internet: the run says why, instead of 'running / starting' for ever."""
    monkeypatch.setenv("SPARSELAB_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("SPARSELAB_CACHE", str(tmp_path / "cache"))
    mc = get("drsae").config(hidden=8, unroll=1)
    j = jobs.start(mc, TrainConfig(pretrain_epochs=0, epochs=1, limit=100), tmp_path / "runs")
    deadline = time.time() + 120
    while jobs.job(j.run).state == "running" and time.time() < deadline:
        time.sleep(0.5)
    done = jobs.job(j.run)
    assert done.state == "failed" and "nowhere" in done.message and "\n" not in done.message, done


def test_a_read_only_runs_folder_is_said_in_one_line(registry, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    shutil.copytree(registry / "finished", ro / "finished")
    os.chmod(ro, 0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("this user writes anywhere (root): the folder cannot be made read-only")
        with pytest.raises(jobs.JobError, match="cannot be written"):
            jobs.enqueue(get("drsae").config(hidden=8, unroll=1), TrainConfig(epochs=1), ro)
        with pytest.raises(jobs.JobError, match="cannot be written"):
            jobs.set_max_trainers(2, ro)
        assert [j.name for j in jobs.poll(ro)] == ["finished"]  # still read
    finally:
        os.chmod(ro, 0o755)


def test_a_locked_folder_the_registry_cannot_write_is_said_in_one_line(tmp_path):
    """As root a read-only mode is ignored: a file where the folder should be fails the same way."""
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    with pytest.raises(jobs.JobError, match="cannot be written"):
        jobs.enqueue(get("drsae").config(hidden=8, unroll=1), TrainConfig(epochs=1), blocked)
    with pytest.raises(jobs.JobError, match="cannot be written"):
        jobs.set_max_trainers(2, blocked)


def test_a_link_is_never_read_as_markdown(monkeypatch, tmp_path):
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["model"] = "x`![x](http://127.0.0.1:9/x.png)`[t](http://e.example)<img src=x>"
    at.run()
    assert not at.exception
    text = at.warning[0].value
    assert "![x](" not in text and "](http" not in text and "<img" not in text
    assert r"\!\[x\]\(http\:" in text  # shown character for character


TINY = {"hidden": 12, "unroll": 2, "layers": "12,6", "width": 16, "fit_iterations": 10}


@pytest.mark.parametrize("name", [f.name for f in all_families()])
def test_every_family_resumes_bit_for_bit_after_a_stop_mid_epoch(name, tmp_path):
    """Stopped in the middle of its second epoch and run again, a run ends with the weights, the numbers and the
    gradient statistics of the same run left alone: every generator it draws from is in the checkpoint."""
    import torch

    from models.checkpoint import load_training_state
    from models.training.config import train_config
    from models.training.loop import train

    family = get(name)
    names = {f.name for f in fields(family.config)}
    mc = family.config(**{k: v for k, v in TINY.items() if k in names})
    tc = train_config(family, pretrain_epochs=1 if train_config(family).pretrain_epochs else 0,
                      epochs=1 if train_config(family).pretrain_epochs else 2, limit=300, batch_size=50)
    whole = train(mc, tc, tmp_path / "whole", device="cpu")
    calls = {"n": 0}

    def stop_once():  # in the second epoch's fourth batch (300 samples: 6 batches an epoch)
        calls["n"] += 1
        return calls["n"] == 10

    first = train(mc, tc, tmp_path / "cut", device="cpu", should_stop=stop_once)
    assert len(first) == 1 and runs.read_status(tmp_path / "cut")["state"] == "stopped"
    resumed = train(mc, tc, tmp_path / "cut", device="cpu")
    a = load_training_state(tmp_path / "whole" / CHECKPOINT)
    b = load_training_state(tmp_path / "cut" / CHECKPOINT)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), (name, k)
    timing = {"epoch_time", "elapsed"}
    for ra, rb in zip(whole, resumed):
        assert {k: v for k, v in ra.items() if k not in timing} == {k: v for k, v in rb.items() if k not in timing}
    assert resumed[-1]["grad_norm_n"] == 6  # the cut epoch's statistics cover all its updates
