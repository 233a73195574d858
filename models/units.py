"""Telling categorical units from part units (the paper's section 4), from the weights alone.

    python -m models.units [CHECKPOINT] --json
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from models.drsae import DrSAE

PART_MAX, CATEGORICAL_MIN = 0.5, 0.7  # radians, between encoder row E_i and decoder column D_i
KINDS = ("categorical", "intermediate", "part")


def angles(model: DrSAE) -> np.ndarray:
    """Angle between E_i and D_i: ISTA ties E to D^T (angle 0); categorical units drift far from it."""
    E, D = model.E.detach().double(), model.D.detach().double().T
    cos = (E * D).sum(1) / (E.norm(dim=1) * D.norm(dim=1)).clamp_min(1e-12)
    return torch.arccos(cos.clamp(-1, 1)).numpy()


def kinds(theta: np.ndarray) -> np.ndarray:
    return np.where(theta > CATEGORICAL_MIN, "categorical", np.where(theta < PART_MAX, "part", "intermediate"))


def unit_table(model: DrSAE) -> dict:
    """Per-unit numbers from the weights: angle, kind, ||(S - I)_i||, S_ii, ||C_i|| and its strongest class."""
    S = model.S.detach().double()
    C = model.C.detach().double()
    theta = angles(model)
    return {
        "unit": np.arange(model.cfg.hidden),
        "angle": theta,
        "kind": kinds(theta),
        "s_minus_i_norm": (S - torch.eye(len(S), dtype=S.dtype)).norm(dim=1).numpy(),
        "s_self": torch.diagonal(S).numpy(),
        "c_norm": C.norm(dim=0).numpy(),
        "c_class": C.argmax(dim=0).numpy(),
    }


def kind_counts(kind: np.ndarray) -> dict:
    return {k: int((kind == k).sum()) for k in KINDS}


def main(argv=None) -> int:
    from models.assets import default_model_path
    from models.checkpoint import CheckpointError, load_model

    p = argparse.ArgumentParser(prog="python -m models.units", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        model, _ = load_model(a.checkpoint or default_model_path())
    except (CheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t = unit_table(model)
    rows = [{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in t.items()} for i in range(model.cfg.hidden)]
    counts = kind_counts(t["kind"])
    if a.json:
        print(json.dumps({"counts": counts, "units": rows}))
    else:
        print(f"{'unit':>5} {'angle':>6} {'kind':>12} {'|S-I|':>7} {'S_ii':>7} {'|C|':>6} class")
        for r in rows:
            print(f"{r['unit']:5d} {r['angle']:6.3f} {r['kind']:>12} {r['s_minus_i_norm']:7.3f} "
                  f"{r['s_self']:7.3f} {r['c_norm']:6.3f} {r['c_class']:5d}")
        print(counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
