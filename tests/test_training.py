import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from models.training import run_folder as runs
from models.checkpoint import CHECKPOINT, load_model, load_training_state
from models.families.drsae import DrSAEConfig
from models.training.validate import evaluate_split
from models.training.config import TrainConfig
from models.training.loop import RunConflict, check_config, train
from models.training.update import Diverged, Updater

ROOT = Path(__file__).resolve().parent.parent
MC = DrSAEConfig(hidden=48, unroll=4, sparsity=0.1)


def test_short_training_lowers_both_losses_and_beats_chance(tiny_run):
    out, history = tiny_run
    assert [r["epoch"] for r in history] == list(range(6))
    pre, sup = history[:2], history[2:]
    assert {r["phase"] for r in pre} == {"pretrain"} and {r["phase"] for r in sup} == {"supervised"}
    assert pre[-1]["val_unsup"] < pre[0]["val_unsup"]  # pre-training lowers L_U
    assert pre[-1]["val_sup"] > 2.0  # L_S untrained: near log(10)
    assert sup[-1]["val_sup"] < sup[0]["val_sup"] < 0.5 * pre[-1]["val_sup"]  # supervised training lowers L_S
    assert history[-1]["val_error"] < 20.0  # chance is 90 %
    assert 1 < history[-1]["val_active"] < 64
    assert runs.read_status(out)["state"] == "done"
    assert runs.read_metrics(out) == history  # the file holds exactly the returned rows


def test_constraints_hold_after_every_step(mnist_small, tmp_path, monkeypatch):
    from models.families import drsae

    seen = []
    orig = drsae.DrSAE.project_

    def checked(self):
        orig(self)
        seen.append((self.D.norm(dim=0).max().item(), self.E.norm(dim=1).max().item(), self.C.norm(dim=drsae.C_BOUNDS[self.cfg.c_bound]).max().item()))

    monkeypatch.setattr(drsae.DrSAE, "project_", checked)
    mc = DrSAEConfig(hidden=32, unroll=3, sparsity=0.05)
    train(mc, TrainConfig(pretrain_epochs=1, epochs=1, batch_size=100, lr=2e-2, limit=1000), tmp_path / "r",
          data=mnist_small, device="cpu")
    assert len(seen) == 2 * 20  # after each of the 20 updates: the model, and the average of its weights
    d, e, c = map(max, zip(*seen))
    assert d <= 1 + 1e-5 and e <= 1.25 / 2 + 1e-5 and c <= 5 + 1e-4


@pytest.mark.parametrize("ema", [0.0, 0.95])
def test_stopped_run_resumes_to_the_same_weights(mnist_small, tmp_path, ema):
    tc = TrainConfig(pretrain_epochs=1, epochs=2, batch_size=100, limit=1000, ema=ema)
    full = train(MC, tc, tmp_path / "a", data=mnist_small, device="cpu")
    calls = {"n": 0}

    def stop_mid_second_epoch():
        calls["n"] += 1
        return calls["n"] == 15  # epoch 1 has 10 batches: stop in the middle of epoch 2

    part = train(MC, tc, tmp_path / "b", data=mnist_small, device="cpu", should_stop=stop_mid_second_epoch)
    assert len(part) == 1 and runs.read_status(tmp_path / "b")["state"] == "stopped"
    assert load_training_state(tmp_path / "b" / CHECKPOINT)["progress"]["batch"] == 4
    resumed = train(MC, tc, tmp_path / "b", data=mnist_small, device="cpu")
    assert [r["epoch"] for r in resumed] == [0, 1, 2]
    sa, sb = (load_training_state(tmp_path / r / CHECKPOINT) for r in "ab")
    for part in ("model", "average") if ema else ("model",):
        for k in sa[part]:
            torch.testing.assert_close(sa[part][k], sb[part][k], rtol=1e-5, atol=1e-6)
    if ema:  # the run's result, validated and loaded, is the average
        model, _ = load_model(tmp_path / "b")
        torch.testing.assert_close(model.E, sb["average"]["E"])
        assert not torch.equal(sb["average"]["E"], sb["model"]["E"])
        assert evaluate_split(model, mnist_small.val.head(1000))["error"] == pytest.approx(resumed[-1]["val_error"])
    assert resumed[-1]["val_error"] == pytest.approx(full[-1]["val_error"], abs=0.11)


def test_other_settings_in_the_same_folder_are_refused(mnist_small, tmp_path):
    tc = TrainConfig(pretrain_epochs=1, epochs=0, limit=500)
    train(MC, tc, tmp_path / "r", data=mnist_small, device="cpu")
    with pytest.raises(RunConflict, match="sparsity"):
        train(DrSAEConfig(hidden=48, unroll=4, sparsity=0.3), tc, tmp_path / "r", data=mnist_small, device="cpu")


def test_steady_lr_run_extends_to_the_same_weights_as_a_longer_run(mnist_small, tmp_path):
    """More --epochs continue a finished steady-lr run: the same run as one asked for that length at the start."""
    short, long = (TrainConfig(pretrain_epochs=1, epochs=n, batch_size=100, limit=1000) for n in (2, 3))
    straight = train(MC, long, tmp_path / "a", data=mnist_small, device="cpu")
    train(MC, short, tmp_path / "b", data=mnist_small, device="cpu")
    assert runs.read_status(tmp_path / "b")["state"] == "done"
    extended = train(MC, long, tmp_path / "b", data=mnist_small, device="cpu")
    assert [r["epoch"] for r in extended] == [0, 1, 2, 3] and runs.read_status(tmp_path / "b")["state"] == "done"
    assert runs.read_config(tmp_path / "b")["train"]["epochs"] == 3  # the folder now says what it holds
    sa, sb = (load_training_state(tmp_path / r / CHECKPOINT) for r in "ab")
    for part in ("model", "average"):
        for k in sa[part]:
            torch.testing.assert_close(sa[part][k], sb[part][k], rtol=1e-5, atol=1e-6)
    assert extended[-1]["val_error"] == pytest.approx(straight[-1]["val_error"], abs=0.11)
    with pytest.raises(RunConflict, match="epochs: run has 3, asked 2"):  # shortening is not a continuation
        train(MC, short, tmp_path / "b", data=mnist_small, device="cpu")
    cosine = TrainConfig(pretrain_epochs=1, epochs=1, batch_size=100, limit=500, min_lr_ratio=0.1)
    train(MC, cosine, tmp_path / "c", data=mnist_small, device="cpu")
    with pytest.raises(RunConflict, match="can be extended"):  # its lr depends on the length
        train(MC, TrainConfig(**{**asdict(cosine), "epochs": 2}), tmp_path / "c", data=mnist_small, device="cpu")


def test_runs_from_before_a_new_setting_resume_and_keep_its_old_value(tmp_path):
    tc = asdict(TrainConfig(limit=500))
    cfg = {"model": MC.to_dict(), "train": dict(tc)}
    del cfg["model"]["c_bound"]  # as written before the settings existed (those runs bound C per class
    del cfg["train"]["train_on"]  # and trained on the 50k split
    del cfg["train"]["ema"]  # with no average of the weights)
    runs.write_json(tmp_path / runs.CONFIG, cfg)

    def check(wanted):
        return check_config(runs.read_config(tmp_path), wanted, tmp_path / runs.CONFIG)

    with pytest.raises(RunConflict, match="ema"):  # today's default averages: not what that run did
        check({"architecture": "drsae", "model": MC.to_dict(), "train": tc})
    assert TrainConfig.from_dict(cfg["train"]).ema == 0.0
    tc = asdict(TrainConfig.from_dict(cfg["train"]))  # what resuming it asks for (jobs.resume does this)
    check({"architecture": "drsae", "model": MC.to_dict(), "train": tc})
    with pytest.raises(RunConflict, match="c_bound"):
        check({"architecture": "drsae",
                                "model": DrSAEConfig(hidden=48, unroll=4, sparsity=0.1, c_bound="unit").to_dict(),
                                "train": tc})
    with pytest.raises(RunConflict, match="train_on"):
        check({"architecture": "drsae", "model": MC.to_dict(), "train": {**tc, "train_on": "all"}})


def test_final_fit_trains_on_the_validation_digits_too(mnist_small, tmp_path):
    tc = TrainConfig(pretrain_epochs=0, epochs=1, batch_size=100, limit=500, train_on="all")
    history = train(MC, tc, tmp_path / "all", data=mnist_small, device="cpu")
    data = runs.read_config(tmp_path / "all")["data"]
    assert data["n_train"] == 1000 and data["n_val"] == 500 and data["val_held_out"] is False
    assert len(history) == 1 and history[0]["val_error"] < 50
    # the same seed on the split alone draws other batches: a different model
    split = train(MC, TrainConfig(pretrain_epochs=0, epochs=1, batch_size=100, limit=500), tmp_path / "split",
                  data=mnist_small, device="cpu")
    assert runs.read_config(tmp_path / "split")["data"]["n_train"] == 500
    assert split[0]["train_sup"] != history[0]["train_sup"]
    with pytest.raises(ValueError, match="train-on"):
        TrainConfig(train_on="test")
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)


def test_divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint(mnist_small, tmp_path):
    tc = TrainConfig(pretrain_epochs=1, epochs=2, batch_size=100, limit=500)
    out = tmp_path / "r"
    train(MC, tc, out, data=mnist_small, device="cpu", should_stop=lambda: len(runs.read_metrics(out)) == 1)
    good = (out / CHECKPOINT).read_bytes()

    class Poisoned(Updater):  # the loop takes its update as an argument: no patching
        def __call__(self, x, y, lr, supervised):
            super().__call__(x * float("nan"), y, lr, supervised)

    with pytest.raises(Diverged, match="last good checkpoint is kept"):
        train(MC, tc, out, data=mnist_small, device="cpu", update=Poisoned)
    assert (out / CHECKPOINT).read_bytes() == good
    assert runs.read_status(out)["state"] == "failed"


def _cli(out, *extra):
    return [sys.executable, "-m", "models", "train", "--out", str(out), "--hidden", "48", "--unroll", "4",
            "--pretrain-epochs", "1", "--epochs", "3", "--limit", "3000", "--batch-size", "20", *extra]


def test_killed_cli_run_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "killed"
    cmd = _cli(out, "--epochs", "30")  # long enough that the kill surely lands mid-run
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(runs.read_metrics(out)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    done_before = load_training_state(out / CHECKPOINT)["progress"]["epoch"]
    assert 1 <= done_before < 31
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"resuming {out} at epoch {done_before + 1}" in res.stderr
    assert [r["epoch"] for r in runs.read_metrics(out)] == list(range(31))
    assert json.loads((out / runs.CONFIG).read_text())["train"]["epochs"] == 30


def test_sigterm_checkpoints_mid_epoch_and_exits(tmp_path):
    out = tmp_path / "term"
    # many epochs, so the signal surely lands mid-training however fast this machine is
    proc = subprocess.Popen(_cli(out, "--checkpoint-every", "1000", "--epochs", "500"), cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not runs.read_metrics(out) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert runs.read_status(out)["state"] == "stopped"
    state = load_training_state(out / CHECKPOINT)
    assert state["progress"]["epoch"] < 501 and len(state["history"]) >= 1
