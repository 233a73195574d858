"""Sweeps on a real local Ray (no mocks): a 2 × 2 grid with ASHA stopping some trials early, its driver killed and the
same command run again finishing it without training the finished runs again, the trials on the Sweep page; Ray's
errors in one line. And every run's TensorBoard event files read back against metrics.jsonl."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models.checkpoint import CHECKPOINT
from models.services import jobs
from models.training import run_folder as runs

ray = pytest.importorskip("ray", reason="Ray is installed by `make test` (requirements-ray.txt)")
ROOT = Path(__file__).resolve().parent.parent
GRID = ["--sparsity", "0.05,5", "--seeds", "0,1", "--hidden", "8", "--unroll", "2", "--pretrain-epochs", "0",
        "--epochs", "25", "--limit", "1000"]


def sweep_command(root: Path) -> list[str]:
    return [sys.executable, "-m", "models", "train", "sweep", "--engine", "ray", "--early-stop", "asha",
            "--grace-epochs", "1", *GRID, "--runs", str(root)]


def states(root: Path) -> dict[str, str]:
    return {j.name: j.state for j in jobs.list_jobs(root)}


@pytest.fixture(scope="module")
def ray_sweep(tmp_path_factory):
    """The sweep killed once its first trial has trained a few epochs, then run to its end by the same command."""
    root = tmp_path_factory.mktemp("ray") / "runs"
    driver = subprocess.Popen(sweep_command(root), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and driver.poll() is None:
        if any(j.epoch >= 3 and j.state == "running" for j in jobs.list_jobs(root)):
            break
        time.sleep(0.2)
    killed = driver.poll() is None
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started: a machine's restart
    driver.wait()
    deadline = time.time() + 120  # Ray's workers stop once they find their driver gone: then no trainer holds a run
    while time.time() < deadline and any(s == "running" for s in states(root).values()):
        time.sleep(0.5)
    before = states(root)
    finished = {n: (root / n / CHECKPOINT).stat().st_mtime for n, s in before.items() if s == "done"}
    second = subprocess.run(sweep_command(root), cwd=ROOT, capture_output=True, text=True, timeout=600)
    return root, killed, before, finished, second


def test_a_ray_sweep_stops_trials_early_and_resumes_after_its_driver_is_killed(ray_sweep):
    root, killed, before, finished, second = ray_sweep
    assert killed, "the sweep ended before it could be killed"
    assert any(s == "interrupted" for s in before.values()), before  # a trial cut off by the kill
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    after = states(root)
    assert len(after) == 4 and set(after.values()) <= {"done", "stopped"}, after
    early = [n for n in after if runs.read_status(root / n).get("early_stopped")]
    assert early and all(runs.read_status(root / n)["message"].startswith("stopped early at epoch") for n in early)
    for name, stamp in finished.items():  # finished before the kill: read, not trained again
        assert (root / name / CHECKPOINT).stat().st_mtime == stamp
    for name, state in after.items():  # every epoch once, in order, however often its trial was cut
        epochs = [r["epoch"] for r in runs.read_metrics(root / name)]
        assert epochs == list(range(len(epochs))) and (state != "done" or len(epochs) == 25)
    assert "Ray started in" in second.stdout and "4 runs in" in second.stdout


def test_the_sweep_page_shows_a_ray_sweeps_trials(ray_sweep, monkeypatch):
    from tests.test_app import open_app, settle

    root = ray_sweep[0]
    at = open_app(monkeypatch, root)
    at.switch_page("pages/sweep.py").run()
    assert not at.exception, at.exception
    settle(at)  # the models measured on the worker
    runs_ = [n for n in at.dataframe[0].value["run"] if n in states(root)]
    assert sorted(runs_) == sorted(states(root))  # every trial, as a local run
    at.switch_page("pages/training.py").run()
    assert not at.exception


def test_ray_errors_end_in_one_line(tmp_path):
    from tests.test_bad_input import one_line

    res = subprocess.run([*sweep_command(tmp_path / "runs"), "--address", "127.0.0.1:1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "no Ray cluster at 127.0.0.1:1" in one_line(res.stderr)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing written


def test_tensorboard_event_files_hold_the_metrics_exactly(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from models.training.tensorboard import FOLDER

    run, _ = tiny_run
    ea = EventAccumulator(str(run / FOLDER), size_guidance={"scalars": 0, "images": 0, "histograms": 0})
    ea.Reload()
    rows = runs.read_metrics(run)
    checked = 0
    for r in rows:
        for k, v in r.items():
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool):
                [event] = [e for e in ea.Scalars(k) if e.step == r["epoch"] + 1]
                assert event.value == np.float32(v), (k, r["epoch"])
                checked += 1
    assert checked > 100
    assert ea.Tags()["images"] == ["decoder filters"] and ea.Tags()["histograms"] == ["activation density"]
    densities = ea.Histograms("activation density")
    assert len(densities) == len(rows) and all(0 <= h.histogram_value.max <= 1 for h in densities)


def test_a_resumed_run_purges_the_events_after_its_checkpoint(tmp_path, mnist_small):
    """Stopped in its second epoch and resumed: one value an epoch in the events, as in metrics.jsonl."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from models.families.drsae import DrSAEConfig
    from models.training.config import TrainConfig
    from models.training.loop import train
    from models.training.tensorboard import FOLDER

    calls = {"n": 0}

    def stop_once():
        calls["n"] += 1
        return calls["n"] == 5

    mc, tc = DrSAEConfig(hidden=8, unroll=2), TrainConfig(pretrain_epochs=0, epochs=3, limit=150, batch_size=50)
    train(mc, tc, tmp_path / "r", data=mnist_small, device="cpu", should_stop=stop_once)
    train(mc, tc, tmp_path / "r", data=mnist_small, device="cpu")
    ea = EventAccumulator(str(tmp_path / "r" / FOLDER), size_guidance={"scalars": 0})
    ea.Reload()
    assert [e.step for e in ea.Scalars("val_recon")] == [1, 2, 3]
    assert [e.value for e in ea.Scalars("val_recon")] == [np.float32(r["val_recon"])
                                                          for r in runs.read_metrics(tmp_path / "r")]


def test_a_failing_trial_does_not_stop_the_others(tmp_path):
    """Two ISTA trials, one whose dictionary is not a model: it ends failed with its reason, the other trains."""
    from models.domains import spec
    from models.families import get
    from models.services import ray_sweep
    from models.training.config import train_config

    ista = get("ista")
    tc = train_config(ista, pretrain_epochs=0, epochs=1, limit=300)
    configs = [(ista.config(hidden=8, unroll=2, fit_iterations=5), tc),
               (ista.config(hidden=8, unroll=2, fit_iterations=5, dictionary=str(tmp_path / "nowhere")), tc)]
    lines = []
    got = ray_sweep.run(configs, tmp_path / "runs", spec(), log=lines.append)
    assert sorted(got.values()) == ["done", "failed"], got
    failed = next(n for n, s in got.items() if s == "failed")
    assert "nowhere" in runs.read_status(tmp_path / "runs" / failed)["message"]
    assert any(failed in line and "failed" in line for line in lines)
