"""Background training jobs: one registry on disk, so a refresh, a second tab or a restarted server
sees the same jobs, and two tabs asking for the same run never start two trainers.

Each job is a `python -m models train --config RUN/config.json` process in its own session (closing the
browser does not stop it) writing into its run folder; its status.json and pid say how it is doing.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.families import of_config, of_saved
from models.training import run_folder as runs
from models.training.config import TrainConfig
from models.training.loop import run_config

ROOT = Path(__file__).resolve().parents[2]  # the checkout: the trainer runs from it
RUNS_ROOT = Path(os.environ.get("SPARSELAB_RUNS", ROOT / "runs"))
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class JobError(RuntimeError):
    pass


def run_name(mc, tc: TrainConfig) -> str:
    """The same settings always name the same folder: that is what stops duplicate runs."""
    family = of_config(mc)
    digest = hashlib.sha1(json.dumps([mc.to_dict(), tc.to_dict()], sort_keys=True).encode()).hexdigest()[:6]
    size = family.describe(mc).replace("×", "x").replace(" λ ", "-l")
    return f"{family.name}-{size}-e{tc.pretrain_epochs}_{tc.epochs}-{digest}"


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child of this server stays a zombie until reaped: reap it, it is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


@dataclass
class Job:
    run: Path
    state: str  # running | stopped | done | failed | interrupted | new
    epoch: int
    total_epochs: int
    frac: float
    eta: float | None
    message: str
    pid: int | None

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def progress(self) -> float:
        return min(1.0, (self.epoch + self.frac) / max(self.total_epochs, 1))


def job(run: Path) -> Job:
    st = runs.read_status(run)
    state = st.get("state", "new")
    if state == "running" and not pid_alive(st.get("pid")):
        state = "interrupted"  # killed without a word (machine restart, kill -9): resumable
    return Job(Path(run), state, int(st.get("epoch", 0)), int(st.get("total_epochs", 0) or 0),
               float(st.get("frac", 0.0)), st.get("eta"), st.get("message", ""), st.get("pid"))


def list_jobs(root: Path | None = None) -> list[Job]:
    return [job(r) for r in runs.list_runs(root or RUNS_ROOT)]


@contextmanager
def _locked(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".jobs.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # one start at a time across tabs and server processes
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _command(run: Path, data_dir: str | None, epochs: int | None = None) -> list[str]:
    """The trainer reads the run's own config.json; only a longer run's epochs come as a flag."""
    cmd = [sys.executable, "-m", "models", "train", "--config", str(run / runs.CONFIG), "--out", str(run)]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    return cmd


def _launch(run: Path, cfg: dict, data_dir: str | None, total_epochs: int, epochs: int | None = None) -> Job:
    """Start the trainer for `cfg` on `run` (the caller holds the lock and has checked the state)."""
    run.mkdir(parents=True, exist_ok=True)
    if not (run / runs.CONFIG).is_file():  # so the run is listed before its trainer has started
        runs.write_json(run / runs.CONFIG, cfg)
    (run / runs.STOP).unlink(missing_ok=True)
    with open(run / runs.LOG, "ab") as log:
        proc = subprocess.Popen(_command(run, data_dir, epochs), cwd=ROOT, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    # Claim the run at once so a second click or tab sees it running before the trainer starts.
    runs.write_status(run, state="running", pid=proc.pid, message="starting", total_epochs=total_epochs)
    return job(run)


def start(mc, tc: TrainConfig, root: Path | None = None, data_dir: str | None = None,
          name: str | None = None) -> Job:
    """Start (or resume) the run for these settings; if it is already running, return it untouched."""
    root = Path(root or RUNS_ROOT)
    name = name or run_name(mc, tc)
    if not NAME_RE.match(name):
        raise JobError(f"run name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    run = root / name
    with _locked(root):
        current = job(run)
        if current.state == "running":
            return current
        if current.state == "done":
            more = " or train it longer" if extendable(run) else ""
            raise JobError(f"{name} has already finished; open it from the model list{more}.")
        cfg = runs.read_config(run) or run_config(mc, tc)
        return _launch(run, cfg, data_dir, tc.total_epochs if current.state == "new" else current.total_epochs)


def _steady_epochs(cfg: dict) -> int | None:
    tc = TrainConfig.from_dict(cfg.get("train", {}))
    return tc.epochs if tc.extendable else None


def extendable(run: Path) -> int | None:
    """The supervised epochs of a run that more epochs would continue (a steady lr: min_lr_ratio 1), else None.
    A cosine lr is laid out over the run's length, so a longer one is another run, not a continuation."""
    cfg = runs.read_config(run)
    return None if cfg is None else _steady_epochs(cfg)


def extend(run: Path, epochs: int, data_dir: str | None = None) -> Job:
    """Train a finished or stopped run on to `epochs` supervised epochs. The trainer continues from the
    checkpoint to the weights a run asked for that length from the start would have reached."""
    run = Path(run)
    with _locked(run.parent):
        cfg = runs.read_config(run)
        if cfg is None:
            raise JobError(f"{run.name} has no config.json: nothing to extend")
        have = _steady_epochs(cfg)
        if have is None:
            raise JobError(f"{run.name} cannot be extended: its lr follows a cosine laid out over its length; "
                           "start a longer run instead")
        if job(run).state == "running":
            raise JobError(f"{run.name} is still running: stop it first, or wait until it is done")
        if int(epochs) <= have:
            raise JobError(f"{run.name} already has {have} supervised epochs: ask for more than that")
        longer = TrainConfig.from_dict({**cfg["train"], "epochs": int(epochs)})  # the trainer rewrites config.json
        return _launch(run, cfg, data_dir, longer.total_epochs, epochs=int(epochs))


def resume(run: Path, data_dir: str | None = None) -> Job:
    cfg = runs.read_config(run)
    if cfg is None:
        raise JobError(f"{run} has no config.json: nothing to resume")
    return start(of_saved(cfg).config.from_dict(cfg["model"]), TrainConfig.from_dict(cfg["train"]), Path(run).parent,
                 data_dir, name=Path(run).name)


def stop(run: Path) -> None:
    """Ask the trainer to checkpoint and exit at its next batch. A file rather than a signal: it works
    from any process, and a trainer still starting up (no signal handler yet) sees it too."""
    if job(run).state == "running":
        (Path(run) / runs.STOP).touch()
