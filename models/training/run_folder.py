"""The run folder: one place that knows its layout, for the trainer that writes it and the pages that poll it.

    runs/NAME/config.json     architecture (the family), domain (the data and its settings), model and training
                              settings (fixed at the start)
    runs/NAME/metrics.jsonl   one JSON object per finished epoch (runs before unit_angles.f32: with every unit's
                              encoder–decoder angle)
    runs/NAME/unit_angles.f32 every unit's encoder–decoder angle after each epoch, float32 (a row an epoch)
    runs/NAME/snapshots.safetensors   the filters at a few epochs (training/snapshots.py)
    runs/NAME/status.json     state (running/stopped/done/failed), progress, message; rewritten atomically
    runs/NAME/checkpoint.pt   full training state, rewritten atomically
    runs/NAME/train.log       the trainer's output when started in the background
    runs/NAME/about.json      a name and a note the user gave the run (the folder keeps its settings' name)
    runs/NAME/.trainer.lock   held (flock) by the one trainer writing the folder, for its whole life
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from models import text
from models.checkpoint import CHECKPOINT, atomic_write
from models.families import of_config

CONFIG, METRICS, STATUS, LOG, STOP = "config.json", "metrics.jsonl", "status.json", "train.log", "STOP"
ABOUT = "about.json"
JSON_MAX = 1 << 20  # bytes a run's config, status or about file may hold (a run writes a few KB)
TRAINER_LOCK = ".trainer.lock"
UNIT_ANGLES = "unit_angles.f32"
ANGLES_MAGIC = b"SLANGLE1"  # then the unit count (uint64), then a float32 row per epoch


class Busy(RuntimeError):
    """Another trainer holds the run folder."""


def _busy(run: Path, f) -> Busy:
    f.seek(0)
    who = f.read().strip()
    return Busy(f"another trainer{f' (pid {who})' if who.isdigit() else ''} is training {run}: wait for it, or stop "
                "it first")


@contextmanager
def trainer_lock(run: Path):
    """Own the run folder for as long as this trainer runs: an exclusive flock that the kernel drops when the process
    ends, however it ends. A second trainer (CLI, app, sweep, benchmark) is refused with Busy."""
    run = Path(run)
    f = open(run / TRAINER_LOCK, "a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(run, f) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        yield
    finally:
        f.close()  # closing releases the lock


def trainer_running(run: Path) -> bool:
    """Whether a trainer holds the run folder now (its lock, not a pid that may have been reused)."""
    try:
        check_free(run)
        return False
    except Busy:
        return True


def check_free(run: Path) -> None:
    """Busy (one line, with the owner's pid) if a trainer holds the run folder now: a second one is refused before it
    loads anything."""
    try:
        f = open(Path(run) / TRAINER_LOCK)
    except OSError:  # no lock file: no trainer has held this folder yet
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(run, f) from None
        fcntl.flock(f, fcntl.LOCK_UN)


def run_config(mc, tc, data) -> dict:
    """What a run folder's config.json holds before its data is loaded: the family, the data (a
    models.domains.DataSpec), the model's and the training settings."""
    return {"architecture": of_config(mc).name, "domain": data.to_dict(), "model": mc.to_dict(), "train": tc.to_dict()}


def write_json(path: Path, obj: dict) -> None:
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


class DamagedRun(ValueError):
    """A run file that is there but cannot be read: the run is shown as damaged, with this reason."""


def _read_object(path: Path) -> dict | None:
    """None when the file is missing; DamagedRun when it cannot be read or is not a JSON object."""
    try:
        with open(path, "rb") as f:
            raw = f.read(JSON_MAX + 1)
        if len(raw) > JSON_MAX:
            raise DamagedRun(f"{path} is larger than {JSON_MAX >> 20} MiB: not a file a run writes")
        body = raw.decode()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DamagedRun(f"{path} cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise DamagedRun(f"{path} holds bytes that are not text") from None
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        raise DamagedRun(f"{path} is not valid JSON" + (" (it is empty)" if not body.strip() else "")) from None
    if not isinstance(obj, dict):
        raise DamagedRun(f"{path} holds a JSON {type(obj).__name__}, not an object")
    return obj


def folder_of(source: str | Path) -> Path:
    """The run folder a model source lives in: the folder itself, or the one holding a model file."""
    source = Path(source)
    return source if source.is_dir() else source.parent


def read_config_file(path: Path) -> dict | None:
    """A run's settings: {"architecture"?, "model": {...}, "train": {...}, "data"?: {...}}."""
    cfg = _read_object(path)
    if cfg is not None:
        missing = [k for k in ("model", "train") if not isinstance(cfg.get(k), dict)]
        if missing:
            raise DamagedRun(f"{path} has no {' or '.join(missing)} settings")
        wrong = [k for k in ("data", "domain") if k in cfg and not isinstance(cfg[k], dict)]
        if wrong or not isinstance(cfg.get("architecture", ""), str):
            raise DamagedRun(f"{path} holds a {(wrong or ['architecture'])[0]} entry of the wrong kind")
    return cfg


def stamp(path: Path) -> tuple | None:
    """What tells a file's contents apart without reading it (None: missing): every file here is replaced whole
    (write_json writes a new file and renames it), so another inode, time or size is another content."""
    try:
        s = Path(path).stat()
    except OSError:
        return None
    return s.st_ino, s.st_mtime_ns, s.st_size


def read_config(run: Path) -> dict | None:
    return read_config_file(Path(run) / CONFIG)


def read_about(run: Path) -> dict:
    """{"name": ..., "note": ...} the user gave the run; empty strings where none (or the file is damaged: a
    label is not worth an error)."""
    try:
        about = _read_object(Path(run) / ABOUT) or {}
    except DamagedRun:
        about = {}
    return {"name": text.printable(about.get("name"), text.NAME_MAX),  # whatever the file holds: shown as given,
            "note": text.printable(about.get("note"), text.NOTE_MAX, lines=True)}  # bounded, printable


def write_about(run: Path, name: str, note: str) -> None:
    write_json(Path(run) / ABOUT, {"name": name, "note": note})


UNIT_NOTES = "unit_notes.json"  # {"12": "fires on loops", ...}: what the user noted of a unit


def read_unit_notes(run: Path) -> dict[int, str]:
    """The notes the user kept on the run's units (unit -> text), printable and bounded; none where the file is
    missing or damaged (a note is not worth an error)."""
    try:
        notes = _read_object(Path(run) / UNIT_NOTES) or {}
    except DamagedRun:
        notes = {}
    out = {}
    for k, v in notes.items():
        if isinstance(k, str) and k.isdigit() and isinstance(v, str) and v.strip():
            out[int(k)] = text.printable(v, text.NOTE_MAX, lines=True)
    return out


def write_unit_note(run: Path, unit: int, note: str) -> dict[int, str]:
    """Keep (or, empty, drop) the note on one unit; the run's other files are not touched."""
    notes = read_unit_notes(run)
    if note.strip():
        notes[int(unit)] = note.strip()
    else:
        notes.pop(int(unit), None)
    write_json(Path(run) / UNIT_NOTES, {str(k): v for k, v in sorted(notes.items())})
    return notes


def read_status(run: Path) -> dict:
    return _read_object(Path(run) / STATUS) or {}


def write_status(run: Path, **fields) -> dict:
    try:
        old = read_status(run)
    except DamagedRun:  # the trainer's own file: rewriting it mends it
        old = {}
    status = {**old, **fields, "updated": time.time()}
    write_json(Path(run) / STATUS, status)
    return status


TEXT_FIELDS = {"phase"}  # a metrics row's only text; "unit_angles" is a list of numbers, every other value a number


def _number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == v) or isinstance(v, bool)


def clean_row(row) -> dict | None:
    """A metrics row as the pages may use it: None unless it is an object with a whole epoch ≥ 0; a field of the
    wrong kind (a text where a number belongs, a list of anything but numbers) is dropped, as if never written."""
    if not isinstance(row, dict) or not isinstance(row.get("epoch"), int) or isinstance(row["epoch"], bool) \
            or row["epoch"] < 0:
        return None
    out = {}
    for k, v in row.items():
        if k in TEXT_FIELDS:
            ok = isinstance(v, str)
        elif k == "unit_angles":
            ok = isinstance(v, list) and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in v)
        else:
            ok = _number(v)
        if ok:
            out[k] = v
    return out


def read_metrics(run: Path) -> list[dict]:
    """Finished epochs, each cleaned (clean_row); a half-written last line (a crash mid-append), garbled bytes or a
    line that is not a row are skipped, not fatal."""
    rows = []
    try:
        lines = (Path(run) / METRICS).read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            row = clean_row(json.loads(line))
        except ValueError:
            continue
        if row is not None:
            rows.append(row)
    return rows


def write_metrics(run: Path, rows: list[dict]) -> None:
    atomic_write(Path(run) / METRICS, "".join(json.dumps(r) + "\n" for r in rows).encode())


def append_metrics(run: Path, row: dict) -> None:
    with open(Path(run) / METRICS, "a") as f:
        f.write(json.dumps(row) + "\n")


def append_unit_angles(run: Path, angles) -> None:
    """Every unit's angle after one more epoch: 4 bytes a unit, appended (a metrics row, and the history each
    checkpoint holds, stay small at any width)."""
    import numpy as np

    path = Path(run) / UNIT_ANGLES
    row = np.asarray(angles, dtype="<f4")
    with open(path, "ab") as f:
        if f.tell() == 0:
            f.write(ANGLES_MAGIC + len(row).to_bytes(8, "little"))
        f.write(row.tobytes())


def read_unit_angles(run: Path, epochs: int | None = None):
    """(epochs, units) float32 angles, the first `epochs` rows at most; None without a readable file. A row cut
    short by a crash is not read."""
    import numpy as np

    try:
        raw = (Path(run) / UNIT_ANGLES).read_bytes()
    except OSError:
        return None
    if len(raw) < 16 or raw[:8] != ANGLES_MAGIC:
        return None
    units = int.from_bytes(raw[8:16], "little")
    rows = (len(raw) - 16) // (4 * units) if units else 0
    rows = rows if epochs is None else min(rows, epochs)
    return np.frombuffer(raw, dtype="<f4", count=rows * units, offset=16).reshape(rows, units).copy()


def keep_unit_angles(run: Path, epochs: int) -> None:
    """The first `epochs` rows only (a resumed run's checkpoint is the truth); an epoch whose row a crash lost is a
    row of NaN, so that row i stays epoch i."""
    import numpy as np

    path = Path(run) / UNIT_ANGLES
    theta = read_unit_angles(run, epochs)
    if theta is None:
        path.unlink(missing_ok=True)
        return
    theta = np.concatenate([theta, np.full((epochs - len(theta), theta.shape[1]), np.nan, np.float32)])
    atomic_write(path, ANGLES_MAGIC + theta.shape[1].to_bytes(8, "little") + theta.astype("<f4").tobytes())


def has_checkpoint(run: Path) -> bool:
    return (Path(run) / CHECKPOINT).is_file()


def list_runs(root: Path) -> list[Path]:
    """Folders under `root` that hold a run config, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / CONFIG).is_file()]
    return sorted(runs, key=lambda p: (p / CONFIG).stat().st_mtime, reverse=True)
