"""The run folder: one place that knows its layout, for the trainer that writes it and the pages that poll it.

    runs/NAME/config.json     architecture (the family), model and training settings (fixed at the start)
    runs/NAME/metrics.jsonl   one JSON object per finished epoch
    runs/NAME/status.json     state (running/stopped/done/failed), progress, message; rewritten atomically
    runs/NAME/checkpoint.pt   full training state, rewritten atomically
    runs/NAME/train.log       the trainer's output when started in the background
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from models.checkpoint import CHECKPOINT, atomic_write

CONFIG, METRICS, STATUS, LOG, STOP = "config.json", "metrics.jsonl", "status.json", "train.log", "STOP"


def write_json(path: Path, obj: dict) -> None:
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: Path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def read_config(run: Path) -> dict | None:
    return read_json(Path(run) / CONFIG)


def read_status(run: Path) -> dict:
    return read_json(Path(run) / STATUS, default={}) or {}


def write_status(run: Path, **fields) -> dict:
    status = {**read_status(run), **fields, "updated": time.time()}
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
            rows.append(json.loads(line))
        except ValueError:
            continue
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
