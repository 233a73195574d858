"""Export a finished run as a compact model folder (float16 safetensors + its config and metrics).

    python -m models.export runs/NAME --out assets/models/NAME
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from models import runs
from models.checkpoint import EXPORTED, CheckpointError, export_model, load_model


def export_run(run: str | Path, out: str | Path) -> Path:
    run, out = Path(run), Path(out)
    model, progress = load_model(run)
    out.mkdir(parents=True, exist_ok=True)
    history = runs.read_metrics(run)
    meta = {"source_run": run.name, "epochs": progress.get("epoch"),
            "val_error": history[-1]["val_error"] if history else None}
    export_model(model, out / EXPORTED, meta)
    for name in (runs.CONFIG, runs.METRICS):
        if (run / name).is_file():
            shutil.copyfile(run / name, out / name)
    return out / EXPORTED


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    try:
        path = export_run(a.run, a.out)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
