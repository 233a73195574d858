"""Sparse codes per second: the trained DrSAE encoder against scikit-learn's SparseCoder (lasso_cd and
lasso_lars) with the same decoder as dictionary and alpha set so the mean number of active units matches.

    pip install -r requirements-bench.txt
    .venv/bin/python bench/encode_speed.py [CHECKPOINT] [--n 2000] [--device cuda] [--dtypes float32,bfloat16]

The DrSAE encodes on --device (CUDA when present), once per --dtypes entry (the whole model in that precision,
as `python -m models evaluate --dtype` runs it; its error on the same digits is printed beside it); SparseCoder
runs on the CPU, where scikit-learn runs, in float64, on every core (n_jobs=-1). Alpha is matched to the first dtype's active units.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.assets import default_model_path  # noqa: E402
from models.checkpoint import load_model  # noqa: E402
from models.domains import dataset, spec  # noqa: E402
from models.domains.digits import sample  # noqa: E402
from models.analysis.evaluate import DTYPES  # noqa: E402


def recon_error(x: np.ndarray, D: np.ndarray, z: np.ndarray) -> float:
    return float((0.5 * ((x - z @ D.T) ** 2).sum(1)).mean())


def coder(D: np.ndarray, algo: str, alpha: float):
    from sklearn.decomposition import SparseCoder

    return SparseCoder(dictionary=D.T, transform_algorithm=algo, transform_alpha=alpha, positive_code=True,
                       transform_max_iter=1000, n_jobs=-1)  # every core, as the DrSAE gets


def matched_alpha(D, x, algo, target_active, lo=1e-4, hi=1.0, iters=14) -> float:
    """Geometric bisection on alpha until the mean active units match the DrSAE's."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        active = (coder(D, algo, mid).transform(x) > 0).sum(1).mean()
        lo, hi = (mid, hi) if active > target_active else (lo, mid)
    return (lo * hi) ** 0.5


def timed(fn, repeats=3, min_seconds=0.0):
    """Median seconds per call over `repeats` windows, each of at least one call and `min_seconds`
    (a fast call timed once is at the mercy of a moment's noise on a shared machine)."""
    times, out = [], None
    for _ in range(repeats):
        calls, t0 = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - t0 < min_seconds:
            out = fn()
            calls += 1
        times.append((time.perf_counter() - t0) / calls)
    return float(np.median(times)), out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default=None)
    p.add_argument("--n", type=int, default=2000, help="digits to encode")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated: " + ", ".join(DTYPES))
    a = p.parse_args()
    dtypes = a.dtypes.split(",")
    if not dtypes or any(d not in DTYPES for d in dtypes):
        p.error(f"--dtypes takes a comma-separated list of {', '.join(DTYPES)}")
    model, _ = load_model(a.checkpoint or default_model_path())
    digits = dataset(spec())[0].test if os.environ.get("SPARSELAB_DATA") else sample().arrays.split()
    x, y = digits.x[: a.n], digits.y[: a.n]
    xn = x.double().numpy()
    D = model.D.detach().double().numpy()  # SparseCoder's dictionary, from the float32 model
    rows = []
    for name in dtypes:
        m = copy.deepcopy(model).to(a.device, DTYPES[name])
        xd = x.to(a.device, DTYPES[name])

        def encode():
            z = m.code(xd)
            if a.device == "cuda":
                torch.cuda.synchronize()
            return z

        with torch.no_grad():
            encode()  # warm-up
            t_ours, z = timed(encode, repeats=5, min_seconds=1.0)
            wrong = (m.classify(z).argmax(1).cpu() != y).float().mean().item()
        z = z.float().cpu().numpy()
        rows.append((f"DrSAE encoder, {name}", a.n / t_ours, (z > 0).sum(1).mean(), recon_error(xn, D, z), "-",
                     f"{100 * wrong:.2f} %"))
    active = rows[0][2]
    warnings.filterwarnings("ignore")
    for algo in ("lasso_lars", "lasso_cd"):
        alpha = matched_alpha(D, xn[:200], algo, active)
        t, zs = timed(lambda: coder(D, algo, alpha).transform(xn), repeats=1)
        rows.append((f"SparseCoder {algo}", a.n / t, (zs > 0).sum(1).mean(), recon_error(xn, D, zs), f"{alpha:.4g}", "-"))
    where = torch.cuda.get_device_name() if a.device == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"{a.n} digits; DrSAE (T = {model.cfg.unroll}) on {where}; SparseCoder on {os.cpu_count()} cores; "
          "the same decoder D for every method\n")
    print(f"{'method':28s} {'codes/s':>10s} {'active':>7s} {'recon':>8s} {'alpha':>8s} {'error':>7s} "
          + " ".join(f"{'speed-up of ' + n:>22s}" for n in dtypes))
    for name, speed, act, rec, alpha, err in rows:
        print(f"{name:28s} {speed:10.0f} {act:7.1f} {rec:8.4f} {alpha:>8s} {err:>7s} "
              + " ".join(f"{r[1] / speed:21.1f}x" for r in rows[:len(dtypes)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
