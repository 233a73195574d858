"""Export a run as a compact model folder (float16 safetensors + its config, metrics and filter snapshots).

    python -m models export runs/NAME --out assets/models/NAME [--snapshot-units N]
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from models.kinds import KINDS
from models.analysis.units import unit_table
from models.checkpoint import EXPORTED, export_model, load_model
from models.domains import spec_of
from models.training import run_folder, snapshots


def snapshot_units(kind: np.ndarray, angle: np.ndarray, n: int) -> np.ndarray:
    """n units for a smaller filmstrip: an equal share for each kind the model has (all of a kind with fewer, its
    unused share going to the others), spread evenly over the kind's angles, in unit order."""
    groups = [units[np.argsort(angle[units])] for k in KINDS if len(units := np.flatnonzero(kind == k))]
    takes, left = [0] * len(groups), min(n, len(kind))
    while left > 0:  # one unit at a time to each kind that still has some: equal shares
        open_ = [i for i, g in enumerate(groups) if takes[i] < len(g)]
        for i in open_[:left]:
            takes[i] += 1
        left -= len(open_[:left])
    picked = [u for g, take in zip(groups, takes) if take
              for u in g[np.round(np.linspace(0, len(g) - 1, take)).astype(int)].tolist()]
    return np.array(sorted(set(picked)), dtype=np.int64)


def export_run(run: str | Path, out: str | Path, snapshot_count: int | None = None, unit_angles: bool = True) -> Path:
    """`snapshot_count`: keep that many units' filter snapshots (snapshot_units) instead of all (0: none), and
    `unit_angles` False: the metrics rows without every unit's angle (no staged learning for it): an embedded
    model's smaller copy."""
    run, out = Path(run), Path(out)
    model, progress = load_model(run)
    data = spec_of(run_folder.read_config(run) or {})
    out.mkdir(parents=True, exist_ok=True)
    history = run_folder.read_metrics(run)
    meta = {"source_run": run.name, "epochs": progress.get("epoch"),
            "val_error": history[-1].get("val_error") if history else None}
    export_model(model, out / EXPORTED, meta, domain=data.to_dict())
    if (run / run_folder.CONFIG).is_file():
        shutil.copyfile(run / run_folder.CONFIG, out / run_folder.CONFIG)
    if unit_angles and (run / run_folder.METRICS).is_file():
        shutil.copyfile(run / run_folder.METRICS, out / run_folder.METRICS)
    elif history:
        run_folder.write_metrics(out, [{k: v for k, v in r.items() if k != "unit_angles"} for r in history])
    (out / run_folder.UNIT_ANGLES).unlink(missing_ok=True)
    if unit_angles and (run / run_folder.UNIT_ANGLES).is_file():
        shutil.copyfile(run / run_folder.UNIT_ANGLES, out / run_folder.UNIT_ANGLES)
    (out / snapshots.SNAPSHOTS).unlink(missing_ok=True)  # a copy made before keeps none of its old frames
    if (run / snapshots.SNAPSHOTS).is_file() and snapshot_count != 0:
        if snapshot_count is None:
            shutil.copyfile(run / snapshots.SNAPSHOTS, out / snapshots.SNAPSHOTS)
        else:
            t = unit_table(model)
            snapshots.trim(run, out / snapshots.SNAPSHOTS, snapshot_units(t.kind, t.angle, snapshot_count))
    return out / EXPORTED
