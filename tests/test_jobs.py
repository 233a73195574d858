"""The background job registry and the polling the Training page does (AppTest does not run fragments)."""
import os
import signal
import time

import pytest

from models.services import jobs
from models.training import run_folder as runs
from models.checkpoint import load_model
from models.domains import spec
from models.families import get
from models.families.drsae import DrSAEConfig
from models.training.config import TrainConfig

MC = DrSAEConfig(hidden=16, unroll=2, sparsity=0.1)


def wait_for(pred, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_job_runs_in_background_and_is_polled_to_done(tmp_path):
    tc = TrainConfig(pretrain_epochs=1, epochs=2, limit=1000, sup_weight=0.5, train_on="all")
    mc = DrSAEConfig(hidden=16, unroll=2, sparsity=0.1, c_bound="unit")  # not the default: the trainer must get it
    j = jobs.start(mc, tc, root=tmp_path)
    assert j.state == "running" and j.pid
    seen = []
    assert wait_for(lambda: seen.append(jobs.job(j.run)) or seen[-1].state == "done")
    progress = [s.progress for s in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    rows = runs.read_metrics(j.run)
    assert [r["epoch"] for r in rows] == [0, 1, 2] and rows[-1]["val_error"] < 90
    assert [x.name for x in jobs.list_jobs(tmp_path)] == [j.name]
    model, _ = load_model(j.run)
    assert model.cfg == get("drsae").fit(mc, spec().layout()) and model.C.norm(dim=0).max() <= 5 + 1e-4
    assert runs.read_config(j.run)["data"]["n_train"] == 2000  # train_on reached the trainer
    with pytest.raises(jobs.JobError, match="already finished"):
        jobs.start(mc, tc, root=tmp_path)


def test_same_settings_never_start_two_trainers(tmp_path):
    tc = TrainConfig(pretrain_epochs=1, epochs=30, limit=2000, batch_size=10)
    a = jobs.start(MC, tc, root=tmp_path)
    b = jobs.start(MC, tc, root=tmp_path)
    assert a.run == b.run and a.pid == b.pid
    other = jobs.start(DrSAEConfig(hidden=16, unroll=2, sparsity=0.2), tc, root=tmp_path)
    assert other.run != a.run
    for j in (a, other):
        jobs.stop(j.run)
    assert wait_for(lambda: all(jobs.job(j.run).state == "stopped" for j in (a, other)))


def test_stop_resume_and_interrupted(tmp_path):
    tc = TrainConfig(pretrain_epochs=1, epochs=30, limit=2000, batch_size=10, checkpoint_every=0.5)
    j = jobs.start(MC, tc, root=tmp_path)
    assert wait_for(lambda: runs.has_checkpoint(j.run))
    jobs.stop(j.run)
    assert wait_for(lambda: jobs.job(j.run).state == "stopped")
    stopped_at = jobs.job(j.run).progress
    r = jobs.resume(j.run)
    assert r.state == "running" and r.pid != j.pid
    assert wait_for(lambda: jobs.job(j.run).progress > stopped_at)
    assert "resuming" in (j.run / runs.LOG).read_text()
    os.kill(r.pid, signal.SIGKILL)  # a crash: no status update from the trainer
    assert wait_for(lambda: jobs.job(j.run).state == "interrupted")
    again = jobs.resume(j.run)
    assert again.state == "running"
    jobs.stop(j.run)
    assert wait_for(lambda: jobs.job(j.run).state == "stopped")


def test_bad_names_are_refused(tmp_path):
    with pytest.raises(jobs.JobError, match="run name"):
        jobs.start(MC, TrainConfig(), root=tmp_path, name="../escape")


def test_finished_steady_run_trains_longer_and_cosine_run_refuses(tmp_path):
    tc = TrainConfig(pretrain_epochs=1, epochs=2, limit=1000)
    j = jobs.start(MC, tc, root=tmp_path)
    assert wait_for(lambda: jobs.job(j.run).state == "done")
    assert jobs.extendable(j.run) == 2
    before = (j.run / runs.METRICS).read_text()
    with pytest.raises(jobs.JobError, match="already has 2"):
        jobs.extend(j.run, 2)
    with pytest.raises(jobs.JobError, match="already finished; open it from the model list or train it longer"):
        jobs.start(MC, tc, root=tmp_path)
    e = jobs.extend(j.run, 4)
    assert e.state == "running" and e.total_epochs == 5
    with pytest.raises(jobs.JobError, match="still running"):
        jobs.extend(j.run, 6)
    assert wait_for(lambda: jobs.job(j.run).state == "done")
    rows = runs.read_metrics(j.run)
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4]
    assert (j.run / runs.METRICS).read_text().startswith(before)  # the first epochs are kept, not retrained
    assert runs.read_config(j.run)["train"]["epochs"] == 4 and jobs.extendable(j.run) == 4
    assert jobs.job(j.run).progress == 1.0

    cos = jobs.start(MC, TrainConfig(pretrain_epochs=0, epochs=1, limit=1000, min_lr_ratio=0.02), root=tmp_path)
    assert wait_for(lambda: jobs.job(cos.run).state == "done")
    assert jobs.extendable(cos.run) is None
    with pytest.raises(jobs.JobError, match="cosine"):
        jobs.extend(cos.run, 5)
    assert runs.read_config(cos.run)["train"]["epochs"] == 1  # refused: nothing written


def test_trainers_are_capped_and_each_gets_its_share_of_the_cores(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSELAB_MAX_TRAINERS", "1")
    tc = TrainConfig(pretrain_epochs=1, epochs=30, limit=2000, batch_size=10)
    a = jobs.start(MC, tc, root=tmp_path)
    assert "--threads" in jobs._command(a.run, None) and jobs._command(a.run, None)[-1] == str(os.cpu_count() or 1)
    with pytest.raises(jobs.JobError, match="the most at once"):
        jobs.start(DrSAEConfig(hidden=16, unroll=2, sparsity=0.2), tc, root=tmp_path)
    assert len(jobs.list_jobs(tmp_path)) == 1  # refused: no folder was made
    assert jobs.start(MC, tc, root=tmp_path).pid == a.pid  # the running one is still returned
    jobs.stop(a.run)
    assert wait_for(lambda: jobs.job(a.run).state == "stopped")
