"""Export a run as a compact model folder (float16 safetensors + its config, metrics and filter snapshots).

    python -m models export runs/NAME --out assets/models/NAME [--snapshot-units N]
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from models.analysis.kinds import KINDS
from models.analysis.units import unit_table
from models.checkpoint import EXPORTED, export_model, load_model
from models.training import run_folder, snapshots


def snapshot_units(kind: np.ndarray, angle: np.ndarray, n: int) -> np.ndarray:
    """n units for a smaller filmstrip: a third of each kind (all of a kind with fewer), spread evenly over the
    kind's angles, in unit order."""
    picked = []
    for k in KINDS:
        units = np.flatnonzero(kind == k)
        units = units[np.argsort(angle[units])]
        take = min(len(units), n // len(KINDS))
        picked += units[np.round(np.linspace(0, len(units) - 1, take)).astype(int)].tolist() if take else []
    return np.array(sorted(set(picked)), dtype=np.int64)


def export_run(run: str | Path, out: str | Path, snapshot_count: int | None = None) -> Path:
    """`snapshot_count`: keep that many units' filter snapshots (snapshot_units) instead of all (an embedded
    model's smaller copy)."""
    run, out = Path(run), Path(out)
    model, progress = load_model(run)
    out.mkdir(parents=True, exist_ok=True)
    history = run_folder.read_metrics(run)
    meta = {"source_run": run.name, "epochs": progress.get("epoch"),
            "val_error": history[-1]["val_error"] if history else None}
    export_model(model, out / EXPORTED, meta)
    for name in (run_folder.CONFIG, run_folder.METRICS):
        if (run / name).is_file():
            shutil.copyfile(run / name, out / name)
    if (run / snapshots.SNAPSHOTS).is_file():
        if snapshot_count is None:
            shutil.copyfile(run / snapshots.SNAPSHOTS, out / snapshots.SNAPSHOTS)
        else:
            t = unit_table(model)
            snapshots.trim(run, out / snapshots.SNAPSHOTS, snapshot_units(t.kind, t.angle, snapshot_count))
    return out / EXPORTED
