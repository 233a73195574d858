"""Background training jobs: one registry on disk, so a refresh, a second tab or a restarted server
sees the same jobs, and two tabs asking for the same run never start two trainers.

Each job is a `python -m models train --config RUN/config.json` process in its own session (closing the
browser does not stop it) writing into its run folder; its status.json and pid say how it is doing. A sweep's runs
wait "queued" until a trainer is free: whoever frees or asks for one (a trainer exiting, a new queue entry, the app's
poll) starts the oldest, so a queue goes on without the app and after a restart.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models import text
from models.data import DataError
from models.domains import DataSpec, spec as data_spec, spec_of
from models.families import of_config, of_saved
from models.training import run_folder as runs
from models.training.config import TrainConfig
from models.training.run_folder import run_config

ROOT = Path(__file__).resolve().parents[2]  # the checkout: the trainer runs from it
RUNS_ROOT = Path(os.environ.get("SPARSELAB_RUNS", ROOT / "runs"))
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class JobError(RuntimeError):
    pass


def fitted(mc, data: DataSpec | None, data_dir: str | None = None):
    """The data (default: digits), and the model's settings with its input size and classes from that data; data a
    trainer could not get (no folder, no internet), bad data or a family that cannot model it raise JobError in one
    line, before anything starts."""
    data = data or data_spec()
    try:
        _ready(data, data_dir)
        return data, of_config(mc).fit(mc, data.layout())
    except (ValueError, DataError) as e:  # a missing file, values the family cannot model...
        raise JobError(str(e)) from None


def _ready(data: DataSpec, data_dir: str | None) -> None:
    if data.domain.ready is not None:
        data.domain.ready(data.cfg, data_dir)


def run_name(mc, tc: TrainConfig, data: DataSpec | None = None) -> str:
    """The same settings always name the same folder: that is what stops duplicate runs. (Runs on digits keep the
    names they had before domains.)"""
    family = of_config(mc)
    on_digits = data is None or data.domain.name == data_spec().domain.name
    parts = [mc.to_dict(), tc.to_dict()] + ([] if on_digits else [data.to_dict()])
    digest = hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:6]
    size = re.sub(r"[^A-Za-z0-9_.-]+", "-", family.describe(mc).replace("×", "x").replace(" λ ", "-l"))
    on = "" if on_digits else f"{data.domain.name}-"
    return f"{family.name}-{on}{size}-e{tc.pretrain_epochs}_{tc.epochs}-{digest}"


PID_MAX = 1 << 22  # Linux's largest pid: a status file's pid beyond it is garbage, not a process
STARTING = 120.0  # seconds a launched trainer may take to take its run folder's lock


def pid_alive(pid) -> bool:
    """Whether `pid` (any value a status file may hold) is a live process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:
        return True
    try:  # a finished child of this server stays a zombie until reaped: reap it, it is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _starting(st: dict) -> bool:
    """A trainer just launched (its status says so) that has not taken its folder's lock yet."""
    updated = st.get("updated")
    return (st.get("message") == "starting" and pid_alive(st.get("pid")) and isinstance(updated, (int, float))
            and time.time() - updated < STARTING)


@dataclass
class Job:
    run: Path
    state: str  # running | queued | stopped | done | failed | interrupted | new | damaged (message says why)
    epoch: int
    total_epochs: int
    frac: float
    eta: float | None
    message: str
    pid: int | None
    config: dict | None = None  # the run's config.json as read (settings checked usable); None if none or damaged
    config_stamp: tuple | None = None  # that file's run_folder.stamp when it was read: what the catalog keys on

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def progress(self) -> float:
        return min(1.0, (self.epoch + self.frac) / max(self.total_epochs, 1))


_CHECKED: dict[Path, tuple[tuple, dict | None]] = {}  # each run's settings as last read and checked, by file stamp


def _checked_config(run: Path) -> tuple[dict | None, tuple | None]:
    """The run's config.json, read and checked usable (a known family, values in bounds) once per version of the
    file, and that version's stamp: the sidebar lists every run on every rerun, and reading and checking them all was
    most of a rerun's time under ten tabs with 168 runs (docs/results.md). Callers only read it."""
    key = runs.stamp(run / runs.CONFIG)
    seen = _CHECKED.get(run)
    if key is not None and seen is not None and seen[0] == key:
        return seen[1], key
    cfg = runs.read_config(run)
    if cfg is not None:
        try:
            of_saved(cfg).config.from_dict(cfg["model"]), TrainConfig.from_dict(cfg["train"]), spec_of(cfg)
        except (TypeError, ValueError) as e:
            raise runs.DamagedRun(f"{run / runs.CONFIG} holds settings that cannot be used: {e}") from None
    _CHECKED[run] = (key, cfg)
    return cfg, key


STATES = ("new", "queued", "running", "done", "stopped", "failed")  # what a status file may say ("interrupted" and
# "damaged" are read from the files, never written)


def job(run: Path) -> Job:
    """The run's state from its files; a run whose files cannot be read is "damaged", with the reason."""
    try:
        cfg, cfg_stamp = _checked_config(Path(run))
        st = runs.read_status(run)
        state = st.get("state", "new")
        if state not in STATES:
            raise runs.DamagedRun(f"{run / runs.STATUS} names a state this version does not know")
        pid = st.get("pid")
        if state == "running" and not runs.trainer_running(run) and not _starting(st):
            state = "interrupted"  # killed without a word (machine restart, kill -9), or a pid reused: resumable
        return Job(Path(run), state, int(st.get("epoch", 0)), int(st.get("total_epochs", 0) or 0),
                   float(st.get("frac", 0.0)), st.get("eta"), text.printable(str(st.get("message", "")),
                                                                              text.MESSAGE_MAX), pid, cfg, cfg_stamp)
    except (runs.DamagedRun, TypeError, ValueError) as e:  # a ValueError: a field of the wrong kind
        reason = str(e) if isinstance(e, runs.DamagedRun) else f"{run / runs.STATUS} has a field of the wrong kind ({e})"
        return Job(Path(run), "damaged", 0, 0, 0.0, None, reason, None)


def list_jobs(root: Path | None = None) -> list[Job]:
    return [job(r) for r in runs.list_runs(root or RUNS_ROOT)]


@contextmanager
def _locked(root: Path):
    try:
        root.mkdir(parents=True, exist_ok=True)
        f = open(root / ".jobs.lock", "w")
    except OSError as e:
        raise JobError(f"the runs folder {root} cannot be written ({e.strerror or e}): starting or queueing runs "
                       "needs a folder you can write; the models already there still open") from None
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)  # one start at a time across tabs and server processes
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


REGISTRY = "registry.json"  # the registry's own settings: {"max_trainers": n}


def max_trainers(root: Path | None = None) -> int:
    """How many trainers may run at once: $SPARSELAB_MAX_TRAINERS, else the registry's setting (the Training page's
    or `train sweep --trainers`), else one per two cores."""
    try:
        return max(1, int(os.environ.get("SPARSELAB_MAX_TRAINERS", "")))
    except ValueError:
        pass
    try:
        return max(1, int(json.loads((Path(root or RUNS_ROOT) / REGISTRY).read_text())["max_trainers"]))
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: the default
        return max(1, (os.cpu_count() or 2) // 2)


def set_max_trainers(n: int, root: Path | None = None) -> None:
    root = Path(root or RUNS_ROOT)
    if not 1 <= int(n) <= 64:
        raise JobError(f"trainers at once: {n} is outside 1 – 64")
    try:
        root.mkdir(parents=True, exist_ok=True)
        runs.write_json(root / REGISTRY, {"max_trainers": int(n)})
    except OSError as e:
        raise JobError(f"the runs folder {root} cannot be written ({e.strerror or e})") from None


def _command(run: Path, data_dir: str | None, epochs: int | None = None) -> list[str]:
    """The trainer reads the run's own config.json; only a longer run's epochs come as a flag. Its threads are
    its share of the cores, so the trainers allowed at once do not fight over them."""
    threads = max(1, (os.cpu_count() or 1) // max_trainers(run.parent))
    cmd = [sys.executable, "-m", "models", "train", "--config", str(run / runs.CONFIG), "--out", str(run),
           "--threads", str(threads)]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    return cmd


def _folder(run: Path, cfg: dict) -> None:
    """The run's folder and its config, so the run is listed before a trainer has started (OSError if not)."""
    run.mkdir(parents=True, exist_ok=True)
    if not (run / runs.CONFIG).is_file():
        runs.write_json(run / runs.CONFIG, cfg)


def _launch(run: Path, cfg: dict, data_dir: str | None, total_epochs: int, epochs: int | None = None,
            exiting: Path | None = None) -> Job:
    """Start the trainer for `cfg` on `run` (the caller holds the lock and has checked the state). `exiting`: a
    trainer that is ending (its status may still say running) and does not count."""
    running = [j.name for j in list_jobs(run.parent) if j.state == "running" and j.run != exiting]
    if len(running) >= max_trainers(run.parent):
        raise JobError(f"{len(running)} trainer{'s are' if len(running) > 1 else ' is'} running ({', '.join(running)}), "
                       f"the most at once ({max_trainers(run.parent)}; the Training page's 'Trainers at once' or "
                       "SPARSELAB_MAX_TRAINERS): stop one, wait, or queue it in a sweep")
    try:
        _folder(run, cfg)
        (run / runs.STOP).unlink(missing_ok=True)
        with open(run / runs.LOG, "ab") as log:
            proc = subprocess.Popen(_command(run, data_dir, epochs), cwd=ROOT, stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        threading.Thread(target=proc.wait, daemon=True).start()  # reaped the moment it exits: no zombie
        # Claim the run at once so a second click or tab sees it running before the trainer starts.
        runs.write_status(run, state="running", pid=proc.pid, message="starting", total_epochs=total_epochs)
    except OSError as e:
        raise JobError(f"cannot write in {run} ({e.strerror or e})") from None
    return job(run)


TITLE_MAX, NOTE_MAX = text.NAME_MAX, text.NOTE_MAX


def checked_about(title: str | None, note: str | None) -> tuple[str, str]:
    """A run's name and note as the user typed them, trimmed; JobError in one line when they cannot be shown."""
    title, note = (title or "").strip(), (note or "").strip()
    if len(title) > TITLE_MAX or not text.is_printable(title, TITLE_MAX):
        raise JobError(f"a run's name is one line of at most {TITLE_MAX} printable characters")
    if len(note) > NOTE_MAX:
        raise JobError(f"a run's note holds at most {NOTE_MAX} characters ({len(note)} given)")
    if not text.is_printable(note, NOTE_MAX, lines=True):
        raise JobError("a run's note holds characters that cannot be shown (controls, bidi or zero-width marks, "
                       "a lone surrogate)")
    return title, note


def describe(run: Path, title: str | None, note: str | None) -> None:
    """Give a run a name and a note to show (its folder keeps the name its settings give it)."""
    title, note = checked_about(title, note)
    try:
        runs.write_about(run, title, note)
    except OSError as e:
        raise JobError(f"cannot write in {run} ({e.strerror or e})") from None


def start(mc, tc: TrainConfig, root: Path | None = None, data_dir: str | None = None,
          name: str | None = None, data: DataSpec | None = None, title: str | None = None,
          note: str | None = None, queue: bool = False) -> Job:
    """Start (or resume) the run for these settings on `data` (default: digits); if it is already running, return
    it untouched. `title` and `note`: what the user calls it and why (shown beside its folder's name). `queue`:
    while every trainer is busy, queue the run (it starts when one is free) instead of refusing it."""
    about = checked_about(title, note) if title or note else None  # refused before anything starts
    data, mc = fitted(mc, data, data_dir)
    root = Path(root or RUNS_ROOT)
    name = name or run_name(mc, tc, data)
    if not NAME_RE.match(name):
        raise JobError(f"run name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    run = root / name
    with _locked(root):
        current = job(run)
        if current.state == "running":
            return current
        if current.state == "damaged":
            raise JobError(f"{name} is damaged: {current.message}")
        if current.state == "done":
            more = " or train it longer" if extendable(run) else ""
            raise JobError(f"{name} has already finished; open it from the model list{more}.")
        cfg = runs.read_config(run) or run_config(mc, tc, data)
        total = tc.total_epochs if current.state == "new" else current.total_epochs
        busy = sum(j.state == "running" for j in list_jobs(root))
        if queue and busy >= max_trainers(root):
            _queue(run, cfg, data_dir, total, root)
            launched = job(run)
        else:
            launched = _launch(run, cfg, data_dir, total)
    if about:
        describe(run, *about)
    return launched


MAX_QUEUED = 200  # runs waiting at once: ten clicks of a big sweep should not queue a thousand


def enqueue(mc, tc: TrainConfig, root: Path | None = None, data_dir: str | None = None,
            data: DataSpec | None = None) -> Job:
    """Queue the run for these settings: it starts when a trainer is free. A run already queued, running or done
    is returned untouched; a stopped or interrupted one goes back in the queue to resume."""
    data, mc = fitted(mc, data, data_dir)
    root = Path(root or RUNS_ROOT)
    run = root / run_name(mc, tc, data)
    with _locked(root):
        current = job(run)
        if current.state == "damaged":
            raise JobError(f"{run.name} is damaged: {current.message}")
        if current.state in ("running", "queued", "done"):
            return current
        _queue(run, run_config(mc, tc, data), data_dir, current.total_epochs or tc.total_epochs, root)
    dispatch(root)
    return job(run)


def _queue(run: Path, cfg: dict, data_dir: str | None, total_epochs: int, root: Path) -> None:
    """Mark the run queued (the caller holds the lock); refused in one line when the queue is full."""
    waiting = sum(j.state == "queued" for j in list_jobs(root))
    if waiting >= MAX_QUEUED:
        raise JobError(f"{waiting} runs wait in the queue already, the most it holds ({MAX_QUEUED}): let some "
                       "finish, or take some out")
    try:
        _folder(run, cfg)
        runs.write_status(run, state="queued", queued_at=time.time(), data_dir=data_dir, pid=None,
                          total_epochs=total_epochs, message="waiting for a trainer")
    except OSError as e:
        raise JobError(f"cannot write in {run} ({e.strerror or e})") from None


def dispatch(root: Path | None = None, exiting: Path | None = None) -> list[str]:
    """Start queued runs, oldest first, while fewer trainers run than allowed; returns the names started. Called
    when a run is queued, by a trainer as it exits (`exiting`: its own run, no longer counted) and by the app's
    poll."""
    root = Path(root or RUNS_ROOT)
    if not root.is_dir():
        return []
    started = []
    with _locked(root):
        all_jobs = list_jobs(root)
        busy = sum(j.state == "running" and j.run != exiting for j in all_jobs)
        queued = sorted((j for j in all_jobs if j.state == "queued" or _back_in_queue(j)),
                        key=lambda j: runs.read_status(j.run).get("queued_at") or 0)
        for j in queued[:max(0, max_trainers(root) - busy)]:
            st = runs.read_status(j.run)
            if j.state == "interrupted":  # a queued run killed without a word: the queue finishes it
                runs.write_status(j.run, restarts=int(st.get("restarts") or 0) + 1)
            _launch(j.run, j.config, st.get("data_dir"), j.total_epochs, exiting=exiting)
            started.append(j.name)
    return started


RESTARTS = 3  # times a queued run that was killed without a word goes back in the queue


def _back_in_queue(j: Job) -> bool:
    """An interrupted run that came through the queue (a sweep's, a benchmark's) and has not used its restarts."""
    if j.state != "interrupted":
        return False
    st = runs.read_status(j.run)
    restarts = st.get("restarts") or 0
    return "queued_at" in st and isinstance(restarts, int) and restarts < RESTARTS


def poll(root: Path | None = None) -> list[Job]:
    """The runs as the Training page shows them, after starting what the queue holds (a trainer killed without a word
    frees its place here); a runs folder that cannot be written is only read."""
    all_jobs = list_jobs(root)
    if any(j.state == "queued" or _back_in_queue(j) for j in all_jobs):
        try:
            if dispatch(root):
                all_jobs = list_jobs(root)
        except JobError:
            pass
    return all_jobs


def in_registry(run: Path) -> bool:
    """A run folder inside a job registry (whose queue its trainer's exit may move on)."""
    return (Path(run).parent / ".jobs.lock").is_file()


def _steady_epochs(cfg: dict) -> int | None:
    tc = TrainConfig.from_dict(cfg.get("train", {}))
    return tc.epochs if tc.extendable else None


def extendable(run: Path) -> int | None:
    """The supervised epochs of a run that more epochs would continue (a steady lr: min_lr_ratio 1), else None.
    A cosine lr is laid out over the run's length, so a longer one is another run, not a continuation."""
    try:
        cfg = runs.read_config(run)
        return None if cfg is None else _steady_epochs(cfg)
    except ValueError:  # a damaged config (DamagedRun), or settings out of bounds
        return None


def _config(run: Path) -> dict:
    """The run's config, or a JobError saying why there is none to use."""
    try:
        cfg = runs.read_config(run)
    except runs.DamagedRun as e:
        raise JobError(f"{Path(run).name} is damaged: {e}") from None
    if cfg is None:
        raise JobError(f"{Path(run).name} has no config.json: nothing to train")
    return cfg


def extend(run: Path, epochs: int, data_dir: str | None = None) -> Job:
    """Train a finished or stopped run on to `epochs` supervised epochs. The trainer continues from the
    checkpoint to the weights a run asked for that length from the start would have reached."""
    run = Path(run)
    with _locked(run.parent):
        cfg = _config(run)
        have = _steady_epochs(cfg)
        if have is None:
            raise JobError(f"{run.name} cannot be extended: its lr follows a cosine laid out over its length; "
                           "start a longer run instead")
        if job(run).state == "running":
            raise JobError(f"{run.name} is still running: stop it first, or wait until it is done")
        if int(epochs) <= have:
            raise JobError(f"{run.name} already has {have} supervised epochs: ask for more than that")
        longer = TrainConfig.from_dict({**cfg["train"], "epochs": int(epochs)})  # the trainer rewrites config.json
        try:
            _ready(spec_of(cfg), data_dir)
        except (ValueError, DataError) as e:
            raise JobError(str(e)) from None
        return _launch(run, cfg, data_dir, longer.total_epochs, epochs=int(epochs))


def resume(run: Path, data_dir: str | None = None) -> Job:
    cfg = _config(run)
    try:
        mc, tc = of_saved(cfg).config.from_dict(cfg["model"]), TrainConfig.from_dict(cfg["train"])
        data = spec_of(cfg)
    except ValueError as e:
        raise JobError(f"{Path(run).name} cannot be resumed: {e}") from None
    return start(mc, tc, Path(run).parent, data_dir, name=Path(run).name, data=data)


def note_unit(run: Path, unit: int, note: str, units: int) -> None:
    """Keep a note on one of a run's `units` units (an empty note drops it); JobError in one line when it cannot be
    kept or shown."""
    note = (note or "").strip()
    if not 0 <= unit < units:
        raise JobError(f"unit {unit} is not one of the run's {units} units")
    if len(note) > NOTE_MAX or not text.is_printable(note, NOTE_MAX, lines=True):
        raise JobError(f"a unit's note holds at most {NOTE_MAX} printable characters")
    try:
        runs.write_unit_note(run, unit, note)
    except OSError as e:
        raise JobError(f"cannot write in {run} ({e.strerror or e})") from None


def cancel(root: Path | None = None, names: list[str] | None = None) -> tuple[int, int]:
    """A sweep or a benchmark cancelled: every queued run of the registry at `root` (or those `names`) taken out of
    the queue first, so that no trainer that ends starts the next, then every running one asked to stop (it
    checkpoints; Resume trains it on). Returns (taken out of the queue, asked to stop)."""
    root = Path(root or RUNS_ROOT)
    chosen = [j.run for j in list_jobs(root) if names is None or j.name in names]
    with _locked(root):  # what the queue holds now (a trainer that ended may have just started one)
        now = [job(r) for r in chosen]
        waiting = [j for j in now if j.state == "queued" or _back_in_queue(j)]
        for j in waiting:
            runs.write_status(j.run, state="stopped", message="taken out of the queue; resume to train it")
    running = [j for j in now if j.state == "running"]
    for j in running:
        stop(j.run)
    return len(waiting), len(running)


def stop(run: Path) -> None:
    """Ask the trainer to checkpoint and exit at its next batch. A file rather than a signal: it works
    from any process, and a trainer still starting up (no signal handler yet) sees it too. A queued run leaves
    the queue."""
    with _locked(Path(run).parent):
        state = job(run).state
        if state == "queued":
            runs.write_status(run, state="stopped", message="taken out of the queue; resume to train it")
    if state == "running":
        (Path(run) / runs.STOP).touch()
