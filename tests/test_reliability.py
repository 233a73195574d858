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
from tests.test_app import ROOT, open_app, server_navigation
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
    (runs.CONFIG, b'{"model": {"hidden": 64, "unr'),  # truncated
    (runs.METRICS, b'{"epoch": 0, "val_error": 3.1}\n{"epoch": 1, "val_err'),  # cut mid-append
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
    """No data folder: refused before anything starts. A trainer that fails before training anyway (a dictionary
    that is not a model): the run says why, instead of 'running / starting' for ever."""
    monkeypatch.setenv("SPARSELAB_DATA", str(tmp_path / "nowhere"))
    mc = get("drsae").config(hidden=8, unroll=1)
    with pytest.raises(jobs.JobError, match="nowhere does not exist"):
        jobs.start(mc, TrainConfig(pretrain_epochs=0, epochs=1, limit=100), tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    monkeypatch.undo()
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    mc = get("ista").config(hidden=8, unroll=1, dictionary=str(tmp_path / "junk.safetensors"))
    j = jobs.start(mc, TrainConfig(pretrain_epochs=0, epochs=1, limit=100), tmp_path / "runs")
    deadline = time.time() + 120
    while jobs.job(j.run).state == "running" and time.time() < deadline:
        time.sleep(0.5)
    done = jobs.job(j.run)
    assert done.state == "failed" and "junk" in done.message and "\n" not in done.message, done


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
    assert text.count("`") == 2  # one code span: nothing inside it is read as markdown or HTML
    span = text.split("`")[1]
    assert span.startswith("xˋ![x](http://127.0.0.1:9/x.png)ˋ[t]")  # the link's text, character for character


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


def training_page(monkeypatch, root: Path) -> AppTest:
    """The app on an empty runs folder, on its Training page."""
    return open_app(monkeypatch, root).switch_page("pages/training.py").run()


def test_a_tiny_file_declaring_a_huge_model_is_refused_without_building_it(tmp_path, capsys):
    """104 KB declaring a 4096-wide RG-VAE of eight layers: refused in one line, no gigabytes allocated."""
    import json as json_
    import resource

    import torch
    from safetensors.torch import save_file

    from models.checkpoint import CheckpointError, load_model

    cfg = get("rg-vae").config(n_input=784, layers=",".join(["4096"] * 8), width=4096).to_dict()
    path = tmp_path / "crafted.safetensors"
    save_file({"x": torch.zeros(5000, 5)}, str(path), metadata={"architecture": "rg-vae", "config": json_.dumps(cfg),
                                                                 "meta": "{}"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="do not fit the model the file declares"):
        load_model(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KB: far below the 3.5 GB of old
    code, err = run_cli(["evaluate", str(path)], capsys)
    assert code == 2 and "do not fit" in one_line(err)


def test_bit_rot_in_a_checkpoint_is_found_and_the_one_before_it_is_used(tiny_run, tmp_path):
    """30 random 16-byte overwrites of checkpoint.pt: none loads silently with other weights."""
    import numpy as np

    from models.checkpoint import digest, load_training_state

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    good = (run / CHECKPOINT).read_bytes()
    want = digest({k: v for k, v in load_training_state(run / CHECKPOINT).items() if k != "restored_from"})
    rng = np.random.default_rng(0)
    fell_back = 0
    for _ in range(30):
        bad = bytearray(good)
        at = int(rng.integers(0, len(bad) - 16))
        bad[at:at + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        (run / CHECKPOINT).write_bytes(bytes(bad))
        st = load_training_state(run / CHECKPOINT)  # the previous checkpoint is intact: never an error here
        if "restored_from" in st:
            fell_back += 1
        else:  # the bytes hit nothing that is read (zip padding, a name's case): the same state
            assert digest({k: v for k, v in st.items() if k != "restored_from"}) == want
    assert fell_back >= 20


def test_ista_on_a_fixed_dictionary_pretrains_and_its_form_picks_a_model(tiny_run, tmp_path, monkeypatch):
    """A dictionary from a trained model: the phases with nothing to learn pass (they used to end in 'element 0 of
    tensors does not require grad'), and the Training form offers the models here instead of a path on the server."""
    import torch

    from models.checkpoint import load_model
    from models.training.config import train_config
    from models.training.loop import train

    ista = get("ista")
    mc = ista.config(hidden=64, unroll=3, dictionary=str(tiny_run[0]), fit_iterations=10)
    history = train(mc, train_config(ista, epochs=1, limit=300), tmp_path / "fixed", device="cpu")
    assert [r["phase"] for r in history] == ["pretrain"] * 3 + ["supervised"]
    model, _ = load_model(tmp_path / "fixed")
    source, _ = load_model(tiny_run[0])
    want = torch.from_numpy(source.unit_weights().decoder.T.copy()).float()
    assert torch.allclose(model.D, want / want.norm(dim=0, keepdim=True), atol=1e-6)  # fixed: never learned

    at = training_page(monkeypatch, tmp_path / "runs")
    [w for w in at.selectbox if w.label == "Model family"][0].set_value("ista").run()
    assert not [w for w in at.text_input if w.label == "Dictionary from"]  # no path typed into the server's disk
    picker = [w for w in at.selectbox if w.label == "Dictionary from"][0]
    assert picker.value is None and any("ISTA" in o for o in picker.options)


def test_the_form_bounds_the_work_one_click_starts(monkeypatch, tmp_path, digits_in_cache):
    """4096 units × 100 steps × 100,000 epochs is refused with its estimate; a run of hours needs a second press;
    trainers at once are at most the cores; the queue holds a bounded number of runs."""
    at = training_page(monkeypatch, tmp_path / "runs")

    def number(label):
        return [w for w in at.number_input if w.label == label][0]

    assert number("Trainers at once").max == (os.cpu_count() or 1)
    number("Hidden units").set_value(4096)
    number("Unroll T").set_value(100)
    number("Supervised epochs (L_U + L_S)").set_value(100_000)
    at.button[0].click().run()  # Start training
    assert not at.exception
    assert any("more than the Training form starts" in e.value and "years" not in e.value for e in at.error)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    number("Hidden units").set_value(400)
    number("Unroll T").set_value(11)
    number("Supervised epochs (L_U + L_S)").set_value(1000)
    at.button[0].click().run()
    assert any("press the button again" in w.value for w in at.warning)  # hours: asked twice
    assert not jobs.list_jobs(tmp_path / "runs")

    monkeypatch.setattr(jobs, "MAX_QUEUED", 2)
    tc = TrainConfig(pretrain_epochs=0, epochs=1, limit=100)
    monkeypatch.setenv("SPARSELAB_MAX_TRAINERS", "1")
    for h in (4, 5, 6, 7):  # one trains, two wait: the queue is full
        if h == 7:
            with pytest.raises(jobs.JobError, match="the most it holds"):
                jobs.enqueue(get("drsae").config(hidden=h, unroll=1), tc, tmp_path / "q")
        else:
            jobs.enqueue(get("drsae").config(hidden=h, unroll=1), tc, tmp_path / "q")
    for j in jobs.list_jobs(tmp_path / "q"):
        jobs.stop(j.run)


def test_a_run_estimate_follows_its_size():
    from models.domains import spec
    from models.training.config import train_config
    from models.training.cost import estimate, flops_per_sample

    f = get("drsae")
    cfg = f.fit(f.config(hidden=10, unroll=3), spec().layout())
    assert flops_per_sample(f, cfg) == 6 * 10 * (2 * 784 + 2 * 10)  # E and D once, S twice, forward and backward
    sae = get("topk-sae")
    small = sae.fit(sae.config(hidden=8), spec().layout())
    params = 8 * 784 * 2 + 8 + 784  # W_e, W_d, b_e, b_d
    assert flops_per_sample(sae, small) == 6 * params
    tc = train_config(f, pretrain_epochs=1, epochs=1, limit=1000)
    ops, seconds = estimate(f, cfg, tc, 50_000)
    assert ops == pytest.approx(flops_per_sample(f, cfg) * 1000 * 2 * 1.2) and seconds > 0


def test_a_killed_writers_temporary_files_are_tidied_and_a_caught_checkpoint_kept(tiny_run, tmp_path):
    from models.checkpoint import load_training_state, tidy

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    (run / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (run / ".status.json.def456.tmp").write_text("{")
    assert sorted(tidy(run)) == [".checkpoint.pt.abc123.tmp: removed", ".status.json.def456.tmp: removed"]
    good = (run / CHECKPOINT).read_bytes()
    (run / CHECKPOINT).rename(run / ".checkpoint.pt.xyz789.tmp")  # killed between atomic_write's two renames
    assert tidy(run) == [".checkpoint.pt.xyz789.tmp: the newest checkpoint, put in place"]
    assert (run / CHECKPOINT).read_bytes() == good and "restored_from" not in load_training_state(run / CHECKPOINT)
    assert not list(run.glob(".*.tmp"))


def test_snapshots_keep_to_their_budget_and_frames_of_the_wrong_size_are_refused(tmp_path):
    import numpy as np

    from models.training import snapshots

    w = np.zeros((4096, 784), dtype=np.float32)
    for epoch in (0, 1):
        snapshots.record(tmp_path, epoch, 1, w, w)
    assert (tmp_path / snapshots.SNAPSHOTS).stat().st_size <= snapshots.BUDGET  # two frames of 1,583 units
    assert len(snapshots.read(tmp_path).units) == snapshots.kept_units(4096, 784) == 1583
    import torch
    from safetensors.torch import save_file

    save_file({"units": torch.arange(3), "encoder.0": torch.zeros(3, 5), "decoder.0": torch.zeros(4, 5)},
              str(tmp_path / snapshots.SNAPSHOTS))
    with pytest.raises(snapshots.SnapshotError, match="frames of other sizes"):
        snapshots.read(tmp_path)


def test_a_decompression_bomb_is_called_too_large_and_an_upload_is_decoded_once(monkeypatch):
    import io

    from PIL import Image

    from models.domains import get as domain
    from models.images import ImageError, prepare_upload
    from ui import own_sample

    buf = io.BytesIO()
    Image.new("L", (20_000, 20_000)).save(buf, format="PNG")  # 400 M pixels in a few hundred KB
    with pytest.raises(ImageError, match="too large"):
        prepare_upload(buf.getvalue(), domain("digits").own_input)
    calls = []
    monkeypatch.setattr(own_sample, "prepare_upload", lambda raw, frame: calls.append(1) or prepare_upload(raw, frame))
    small = io.BytesIO()
    picture = Image.new("L", (4096, 4096), 255)
    picture.paste(0, (1500, 1000, 2500, 3000))  # a dark bar on white paper: a "1"
    picture.save(small, format="PNG")
    own_sample._framed_upload.clear()
    first = own_sample._framed_upload(small.getvalue(), "digits")
    again = own_sample._framed_upload(small.getvalue(), "digits")  # a slider move: the same bytes
    assert first.shape == (28, 28) and (again == first).all() and len(calls) == 1


def test_the_app_answers_only_to_this_machines_names(monkeypatch):
    from ui.hosts import allowed

    monkeypatch.delenv("SPARSELAB_ALLOWED_HOSTS", raising=False)
    for host in ("127.0.0.1:8501", "localhost:8501", "[::1]:8501", "LOCALHOST", ""):
        assert allowed(host, "localhost"), host
    assert not allowed("evil.example:8621", "localhost")  # DNS rebinding: another name for this machine
    assert allowed("lab.example:8501", "localhost", extra="lab.example")  # shared on purpose
    assert allowed("10.0.0.5:8501", "10.0.0.5")  # started on that address


def test_bit_rot_in_an_exported_model_is_found(tiny_run, tmp_path):
    from models.checkpoint import CheckpointError, export_model, load_model

    model, _ = load_model(tiny_run[0])
    path = tmp_path / "m.safetensors"
    export_model(model, path)
    data = bytearray(path.read_bytes())
    data[-100:-84] = bytes(16)  # inside the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(path)
