"""Bad settings and bad run files, as a clumsy or hostile user would give them: each gets one line of error, a
non-zero exit, and leaves every run folder as it was."""
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from models.checkpoint import CHECKPOINT, PREVIOUS
from models.cli import main
from models.services import jobs
from models.training import run_folder as runs
from tests.conftest import DATA_DIR
from tests.data import DIGITS

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--hidden", "16", "--unroll", "2", "--pretrain-epochs", "0", "--epochs", "1", "--limit", "500"]


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file()} if folder.exists() else {}


def run_cli(argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


BAD_SETTINGS = [
    (["--hidden", "0"], "--hidden must be in [1, 4096]"),
    (["--hidden", "-5"], "--hidden must be in"),
    (["--hidden", "100000"], "--hidden must be in"),
    (["--epochs", "0", "--pretrain-epochs", "0"], "at least 1"),
    (["--batch-size", "0"], "--batch-size must be in"),
    (["--batch-size", "-5"], "--batch-size must be in"),
    (["--limit", "0"], "--limit must be in"),
    (["--limit", "-10"], "--limit must be in"),
    (["--ema", "1"], "--ema must be in [0, 1)"),
    (["--epochs", "-3"], "--epochs must be in"),
    (["--sparsity", "-1"], "--sparsity must be in"),
    (["--sparsity", "1e9"], "--sparsity must be in"),
    (["--lr", "10"], "--lr must be in"),
    (["--unroll", "0"], "--unroll must be in"),
    (["--lr", "nan"], "finite"),
    (["--family", "ista", "--dictionary", "/nowhere/model.safetensors"], "No model at /nowhere"),
    (["--family", "lista", "--digit-clip", "1"], "--digit-clip works for DrSAE models only"),
    (["--family", "structured-drsae", "--residual-weight", "-1"], "--residual-weight must be in"),
    (["--family", "ista", "--unroll", "1001"], "--unroll must be in [1, 1000]"),
]


@pytest.mark.parametrize("flags, message", BAD_SETTINGS, ids=[" ".join(f) for f, _ in BAD_SETTINGS])
def test_bad_settings_are_refused_before_anything_is_written(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = run_cli(["train", "--out", str(out), *SMALL, *flags], capsys)
    assert code == 2 and message in one_line(err)
    assert not out.exists()


@pytest.fixture
def finished(tiny_run, tmp_path):
    """A copy of a finished run, and the CLI flags that name its settings."""
    src, _ = tiny_run
    run = tmp_path / "finished"
    shutil.copytree(src, run)
    return run, ["--config", str(run / runs.CONFIG), "--out", str(run)]


BAD_FILES = [
    ("config.json", "[1, 2]", "holds a JSON list, not an object"),
    ("config.json", "", "is not valid JSON (it is empty)"),
    ("config.json", '{"train": {}}', "has no model settings"),
    ("config.json", '{"model": {"hidden": "many"}, "train": {}}', "--hidden must be int"),
    (CHECKPOINT, b"\x00garbage", "is corrupt or not a sparselab checkpoint"),
]


@pytest.mark.parametrize("name, content, message", BAD_FILES, ids=[f"{n}={c!r}"[:40] for n, c, _ in BAD_FILES])
def test_bad_run_files_are_reported_and_left_alone(finished, name, content, message, capsys):
    run, argv = finished
    if name == CHECKPOINT:
        (run / PREVIOUS).unlink()  # no earlier checkpoint to fall back on
    path = run / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(run)
    # with the run's own settings (--config of a damaged config.json: the flags), and with other settings
    own = ["--out", str(run), "--hidden", "64", "--unroll", "5", "--sparsity", "0.1", "--pretrain-epochs", "2",
           "--epochs", "4", "--limit", "3000"] if name == "config.json" else argv
    for flags in (own, ["--out", str(run), *SMALL]):
        code, err = run_cli(["train", *flags], capsys)
        line = one_line(err)
        assert code == 2, line
        assert message in line or name == CHECKPOINT and "other settings" in line, line
        assert "weights_only=False" not in line and "run has 400" not in line
    assert snapshot(run) == before  # untouched
    job = jobs.job(run)
    assert job.state == ("damaged" if name == "config.json" else "done")


def test_a_status_file_that_is_not_an_object_shows_a_damaged_run(finished, monkeypatch, capsys):
    run, argv = finished
    (run / runs.STATUS).write_text("[1]")
    j = jobs.job(run)
    assert j.state == "damaged" and "holds a JSON list" in j.message
    with pytest.raises(jobs.JobError, match="damaged"):
        jobs.resume(run)
    (run / runs.STATUS).write_text('{"state": "running", "epoch": "many"}')
    assert jobs.job(run).state == "damaged"
    from models.services import catalog

    monkeypatch.setattr(jobs, "RUNS_ROOT", run.parent)
    assert all(e.folder != run for e in catalog.entries())  # not offered, and the rest still is
    assert catalog.entries()


def test_a_failed_rerun_never_corrupts_the_run(finished, capsys):
    """An empty config.json, then other settings on the same folder: refused, and the run still resumes."""
    run, argv = finished
    good = (run / runs.CONFIG).read_text()
    (run / runs.CONFIG).write_text("")
    before = snapshot(run)
    code, err = run_cli(["train", "--out", str(run), *SMALL], capsys)
    assert code == 2 and snapshot(run) == before
    (run / runs.CONFIG).unlink()  # without a config.json the checkpoint's own settings are the run's
    code, err = run_cli(["train", "--out", str(run), *SMALL], capsys)
    assert code == 2 and "other settings" in one_line(err) and "hidden: run has 64, asked 16" in err
    (run / runs.CONFIG).write_text(good)
    code, err = run_cli(["train", *argv], capsys)  # finished: read, not written
    assert code == 0 and "finished its 6 epochs already" in err


def test_a_finished_run_is_only_read(finished, capsys):
    run, argv = finished
    before = snapshot(run)
    code, err = run_cli(["train", *argv], capsys)
    assert code == 0 and snapshot(run) == before  # so a read-only disk serves it too


def test_an_unwritable_run_folder_gives_one_line(tmp_path, capsys, monkeypatch):
    import errno

    from models.training import loop

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "run" / runs.CONFIG))

    monkeypatch.setattr(loop.run_folder, "write_json", read_only)
    code, err = run_cli(["train", "--out", str(tmp_path / "run"), *SMALL, "--data-dir", str(DATA_DIR)], capsys)
    assert code == 2 and "Read-only file system" in one_line(err)


def test_a_damaged_latest_checkpoint_costs_one_interval(finished, capsys):
    run, argv = finished
    assert (run / PREVIOUS).is_file()  # the trainer keeps the one before
    (run / CHECKPOINT).write_bytes(b"\x00garbage")
    more = ["--config", str(run / runs.CONFIG), "--out", str(run), "--epochs", "5"]
    code, err = run_cli(["train", *more, "--data-dir", str(DATA_DIR)], capsys)
    assert code == 0, err
    assert "is damaged: resuming from" in err
    assert [r["epoch"] for r in runs.read_metrics(run)] == list(range(7))


def test_a_run_that_diverges_at_once_says_no_checkpoint_was_written(mnist_small, tmp_path):
    from models.families.drsae import DrSAEConfig
    from models.training.config import TrainConfig
    from models.training.loop import train
    from models.training.update import Diverged, Updater

    class Poisoned(Updater):
        def __call__(self, x, y, lr, supervised):
            super().__call__(x * float("nan"), y, lr, supervised)

    with pytest.raises(Diverged, match="No checkpoint was written"):
        train(DrSAEConfig(hidden=16, unroll=2), TrainConfig(pretrain_epochs=1, epochs=0, limit=200), tmp_path / "r",
              data=mnist_small, device="cpu", update=Poisoned)
    assert runs.read_status(tmp_path / "r")["state"] == "failed"


def test_a_run_that_learns_nothing_ends_failed_with_the_reason(mnist_small, tmp_path):
    from models.families.drsae import DrSAEConfig
    from models.training.config import TrainConfig
    from models.training.loop import Collapsed, train

    with pytest.raises(Collapsed, match="no unit is active"):  # a λ that silences every unit
        train(DrSAEConfig(hidden=16, unroll=2, sparsity=10.0), TrainConfig(pretrain_epochs=0, epochs=1, limit=300),
              tmp_path / "r", data=mnist_small, device="cpu")
    status = runs.read_status(tmp_path / "r")
    assert status["state"] == "failed" and "no unit is active" in status["message"]


def test_a_checkpoint_message_never_suggests_unsafe_loading(tmp_path):
    import pickle

    from models.checkpoint import CheckpointError, load_model

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"model": Evil(), "config": {}}))
    with pytest.raises(CheckpointError) as e:
        load_model(tmp_path / "evil.pt")
    assert "weights_only" not in str(e.value) and "never loaded" in str(e.value)


def test_the_server_is_local_by_default_and_refuses_big_uploads():
    from models.images import MAX_BYTES

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "localhost"
    assert cfg["server"]["maxUploadSize"] * 1e6 >= MAX_BYTES  # our own, clearer message below the server's limit
    assert cfg["server"]["maxUploadSize"] <= 2


def test_evaluate_warns_when_model_and_dataset_differ(tiny_run, tmp_path, capsys):
    from tests.test_data import make_dataset

    other = make_dataset(tmp_path / "other", n_train=10_050, n_test=50)
    code = main(["evaluate", str(tiny_run[0]), "--data-dir", str(other), "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and "trained with another dataset" in err
    assert json.loads(out)["warning"]
    code = main(["evaluate", str(tiny_run[0]), "--json"])  # its own dataset: no warning
    out, err = capsys.readouterr()
    assert code == 0 and not json.loads(out)["warning"] and "warning" not in err


def test_export_refuses_too_few_snapshot_units(finished, tmp_path, capsys):
    run, _ = finished
    code, err = run_cli(["export", str(run), "--out", str(tmp_path / "out"), "--snapshot-units", "2"], capsys)
    assert code == 2 and "--snapshot-units must be 0 or at least 3" in one_line(err)
    assert not (tmp_path / "out").exists()


def test_damaged_snapshots_and_angles_cost_only_their_own_views(finished, monkeypatch):
    """A snapshots file that cannot be read: a one-line warning on Filters; an epoch's angles cut short (a crash
    while appending them) are not read, nor angles that are not numbers in a metrics row (runs before the angles
    file), and the Composition page stages the units from the other epochs."""
    from streamlit.testing.v1 import AppTest

    from models.training import snapshots
    from tests.test_app import server_navigation

    run, _ = finished
    (run / snapshots.SNAPSHOTS).write_bytes(b"garbage")
    rows = runs.read_metrics(run)
    rows[2]["unit_angles"] = ["x"] * 64
    runs.write_metrics(run, rows)
    angles = run / runs.UNIT_ANGLES
    angles.write_bytes(angles.read_bytes()[:-3])  # the last epoch's row cut short
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", run.parent)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.selectbox(key="model-group").set_value(("run", "drsae", 64, 5, DIGITS)).run()
    at.switch_page("pages/filters.py").run()
    assert not at.exception
    assert any("The filter snapshots cannot be shown" in w.value for w in at.warning)
    assert at.get("plotly_chart")
    at.switch_page("pages/composition.py").run()
    assert not at.exception and not at.error
    read = runs.read_metrics(run)
    assert "unit_angles" not in read[2] and read[2]["epoch"] == 2  # the row kept, its angles dropped
    assert len(runs.read_unit_angles(run)) == len(rows) - 1
    assert not any("did not record its units' angles" in i.value for i in at.info)  # the others still stage
