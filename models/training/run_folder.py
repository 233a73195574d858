"""The run folder: one place that knows its layout, for the trainer that writes it and the pages that poll it.

    runs/NAME/config.json     architecture (the family), domain (the data and its settings), model and training
                              settings (fixed at the start)
    runs/NAME/metrics.jsonl   one JSON object per finished epoch (with every unit's encoder–decoder angle)
    runs/NAME/snapshots.safetensors   the filters at a few epochs (training/snapshots.py)
    runs/NAME/status.json     state (running/stopped/done/failed), progress, message; rewritten atomically
    runs/NAME/checkpoint.pt   full training state, rewritten atomically
    runs/NAME/train.log       the trainer's output when started in the background
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from models.checkpoint import CHECKPOINT, atomic_write
from models.families import of_config

CONFIG, METRICS, STATUS, LOG, STOP = "config.json", "metrics.jsonl", "status.json", "train.log", "STOP"


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
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DamagedRun(f"{path} cannot be read ({e.strerror or e})") from None
    try:
        obj = json.loads(text)
    except ValueError:
        raise DamagedRun(f"{path} is not valid JSON" + (" (it is empty)" if not text.strip() else "")) from None
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
    return cfg


def read_config(run: Path) -> dict | None:
    return read_config_file(Path(run) / CONFIG)


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


def read_metrics(run: Path) -> list[dict]:
    """Finished epochs; a half-written last line (a crash mid-append) is skipped, not fatal."""
    rows = []
    try:
        lines = (Path(run) / METRICS).read_text().splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def write_metrics(run: Path, rows: list[dict]) -> None:
    atomic_write(Path(run) / METRICS, "".join(json.dumps(r) + "\n" for r in rows).encode())


def append_metrics(run: Path, row: dict) -> None:
    with open(Path(run) / METRICS, "a") as f:
        f.write(json.dumps(row) + "\n")


def has_checkpoint(run: Path) -> bool:
    return (Path(run) / CHECKPOINT).is_file()


def list_runs(root: Path) -> list[Path]:
    """Folders under `root` that hold a run config, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / CONFIG).is_file()]
    return sorted(runs, key=lambda p: (p / CONFIG).stat().st_mtime, reverse=True)
