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
    import os

    from models.analysis import analyse, summary
    from models.assets import default_model_path, sample_digits
    from models.checkpoint import CheckpointError, load_model
    from models.data import DataError, load_mnist

    p = argparse.ArgumentParser(prog="python -m models.units", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default=None)
    p.add_argument("--data-dir", default=None, help="activity over this test set (default: $SPARSELAB_DATA, "
                                                     "else the embedded 1,000 test digits)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        model, _ = load_model(a.checkpoint or default_model_path())
        if a.data_dir or os.environ.get("SPARSELAB_DATA"):
            digits, name = load_mnist(a.data_dir).test, "MNIST test set"
        else:
            digits, name = sample_digits(), "embedded sample of the MNIST test set"
    except (CheckpointError, DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    an = analyse(model, digits)
    t = an.table
    per_unit = [k for k in t if k != "unit"]
    rows = [{"unit": i, **{k: _plain(t[k][i]) for k in per_unit},
             "first_step_hist": an.first_step_hist[i].tolist()} for i in range(model.cfg.hidden)]
    s = summary(an)
    if a.json:
        print(json.dumps({"digits": name, **s, "units": rows}))
        return 0
    print(f"{'unit':>5} {'angle':>6} {'kind':>12} {'|S-I|':>7} {'S_ii':>7} {'|C|':>6} {'class':>5} "
          f"{'1st step':>8} {'P(late)':>8} {'select':>6}")
    for r in rows:
        print(f"{r['unit']:5d} {r['angle']:6.3f} {r['kind']:>12} {r['s_minus_i_norm']:7.3f} {r['s_self']:7.3f} "
              f"{r['c_norm']:6.3f} {r['c_class']:5d} {_fmt(r['first_step_mean'], 8, 2)} {r['p_late_start']:8.4f} "
              f"{r['selectivity']:6.3f}")
    print(f"counts: {s['counts']} over {s['n_digits']} digits ({name})")
    return 0


def _fmt(v, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:{width}.{digits}f}"


def _plain(v):
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and v != v else v  # NaN (a unit never on) is not JSON


if __name__ == "__main__":
    sys.exit(main())
