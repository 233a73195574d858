"""Export a run as a compact model folder (float16 safetensors + its config and metrics).

    python -m models export runs/NAME --out assets/models/NAME
"""
from __future__ import annotations

import shutil
from pathlib import Path

from models.checkpoint import EXPORTED, export_model, load_model
from models.training import run_folder


def export_run(run: str | Path, out: str | Path) -> Path:
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
    return out / EXPORTED
