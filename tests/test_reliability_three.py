"""Reliability, round three (#45, the items beside the text ones in test_hostile_text.py): TensorBoard files are a
by-product, so a full disk or an unwritable folder under them costs them alone; Ray failing to start, and a cancelled
sweep or benchmark, are said in one line."""
import errno

import pytest

from models.families.drsae import DrSAEConfig
from models.training import run_folder
from models.training.config import TrainConfig
from models.training.loop import train
from models.training.tensorboard import FOLDER

TINY = dict(pretrain_epochs=1, epochs=2, batch_size=50, limit=600)


def test_a_file_where_the_tensorboard_folder_belongs_costs_the_events_alone(tmp_path, mnist_small, capfd):
    out = tmp_path / "r"
    out.mkdir()
    (out / FOLDER).write_text("not a folder")  # as a read-only or missing mount would: the writer cannot start
    history = train(DrSAEConfig(hidden=16, unroll=2), TrainConfig(**TINY), out, data=mnist_small, device="cpu")
    assert len(history) == 3 and run_folder.read_status(out)["state"] == "done"
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if "TensorBoard files are not written" in line]
    assert len(warnings) == 1 and "Traceback" not in err and "b'" not in err, err


def test_a_full_disk_under_the_event_files_costs_the_events_alone(tmp_path, mnist_small, capfd, monkeypatch):
    from tensorboard.summary.writer import record_writer

    write = record_writer.RecordWriter.write
    calls = []

    def full(self, data):  # the disk fills up after the first epoch's events
        calls.append(1)
        if len(calls) > 40:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, data)

    monkeypatch.setattr(record_writer.RecordWriter, "write", full)
    out = tmp_path / "r"
    history = train(DrSAEConfig(hidden=16, unroll=2), TrainConfig(**TINY), out, data=mnist_small, device="cpu")
    assert len(history) == 3 and run_folder.read_status(out)["state"] == "done"  # every epoch, kept
    assert len(run_folder.read_metrics(out)) == 3
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if "TensorBoard files are not written" in line]
    assert len(warnings) == 1 and "No space left on device" in warnings[0] and "Traceback" not in err, err


def test_ray_failing_to_start_is_said_in_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray")
    from models import cli

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "a-file" / "x"))  # a folder Ray cannot make: it cannot start
    (tmp_path / "a-file").write_text("")
    code = cli.main(["train", "sweep", "--engine", "ray", "--family", "drsae", "--sparsity", "0.1", "--runs",
                     str(tmp_path / "runs"), "--hidden", "16", "--unroll", "2", "--epochs", "1", "--pretrain-epochs",
                     "0", "--limit", "300"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err


def settled(root, seconds: float = 60) -> list[str]:
    """The registry's states once no run is running (its trainers asked to stop have checkpointed and exited)."""
    import time

    from models.services import jobs

    end = time.time() + seconds
    while True:
        states = sorted(j.state for j in jobs.list_jobs(root))
        if "running" not in states or time.time() > end:
            return states
        time.sleep(0.1)


def test_a_sweep_is_cancelled_and_nothing_it_queued_starts_after(tmp_path, capsys, digits_in_cache, monkeypatch):
    """Three runs, one trainer: one trains and two wait; --cancel with the same flags takes both out of the queue
    and stops the one training (it checkpoints); nothing of the sweep runs afterwards, and Resume would go on."""
    import time

    from models import cli
    from models.services import jobs

    monkeypatch.setenv("SPARSELAB_MAX_TRAINERS", "1")
    flags = ["train", "sweep", "--family", "drsae", "--sparsity", "0.05,0.1,0.2", "--runs", str(tmp_path / "runs"),
             "--hidden", "16", "--unroll", "2", "--epochs", "200", "--pretrain-epochs", "0", "--limit", "2000",
             ]
    assert cli.main(flags) == 0
    root = tmp_path / "runs"
    for _ in range(300):  # until its trainer has started
        if any(j.state == "running" for j in jobs.list_jobs(root)):
            break
        time.sleep(0.1)
    capsys.readouterr()
    assert cli.main(flags + ["--cancel"]) == 0
    assert "2 of 3 runs taken out of the queue, 1 asked to stop" in capsys.readouterr().out
    states = settled(root)
    assert states == ["stopped", "stopped", "stopped"], states
    jobs.dispatch(root)  # whoever polls the registry next starts nothing of it
    time.sleep(1)
    assert sorted(j.state for j in jobs.list_jobs(root)) == ["stopped"] * 3


def test_a_benchmark_is_cancelled_by_the_same_flags(tmp_path, capsys, monkeypatch):
    """Its queued runs leave the queue (a driver stopped with Ctrl-C leaves them to start one another)."""
    import time
    from models import cli
    from models.services import jobs
    from tests.test_benchmark import TINY

    runs = tmp_path / "runs"
    planned = ["benchmark", "--out", str(tmp_path / "b"), "--runs", str(runs), *TINY]
    assert cli.main(planned + ["--cancel"]) == 0  # nothing queued yet: nothing to do, nothing written
    assert "0 of 12 runs taken out of the queue, 0 asked to stop" in capsys.readouterr().out
    from models.domains import DataSpec, get as domain
    from models.families import get
    from models.services import benchmark as bench

    monkeypatch.setenv("SPARSELAB_MAX_TRAINERS", "1")
    data = DataSpec(domain("synthetic"), domain("synthetic").config(parents=2, atoms=16, dimension=12, samples=1500))
    families = [get("batchtopk-sae"), get("matryoshka-sae")]
    plan = bench.plan(data, families, bench.parse_sparsity(["2,3"], families), [0, 1], runs, 16, (8, 16, 32),
                      {"epochs": 3, "batch_size": 64})
    for p in plan[:3]:  # as a driver stopped after queueing leaves them
        jobs.enqueue(p.mc, p.tc, runs, None, data)
    assert cli.main(planned + ["--cancel"]) == 0  # one trainer: one of the three trains, two wait
    assert "2 of 12 runs taken out of the queue, 1 asked to stop" in capsys.readouterr().out
    states = settled(runs)
    assert states in (["stopped"] * 3, ["done", "stopped", "stopped"]), states  # the first may end before it hears


def test_a_compressed_bomb_and_a_file_of_many_members_are_refused_in_one_short_line(tmp_path, capsys):
    """#45 items 6 and 7: x declared 1.1 GiB in a file of 1 MB is refused before anything is decompressed; an .npz of
    20,000 members without x is said in a line that names a few of them."""
    import time
    import zipfile

    import numpy as np

    from models import cli, store
    from models.data import DataError
    from models.domains import spec

    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, x=np.zeros((1 << 15, 9 << 10), np.float32))  # 1.1 GiB of zeros
    assert bomb.stat().st_size < 4 << 20
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=r"would decompress to 1\.1 GiB"):
        spec("vectors", vectors=str(bomb)).layout()
    assert time.perf_counter() - t0 < 5  # the header is read, not the 2 GiB
    many = tmp_path / "many.npz"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(20_000):
            z.writestr(f"m{i}.npy", b"")
    assert cli.main(["train", "--family", "relu-sae", "--domain", "vectors", "--vectors", str(many), "--out",
                     str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) < 600 and "and 19,99" in err, err
    assert store.MAX_LISTED < 20
