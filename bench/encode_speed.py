"""Sparse codes per second: the trained DrSAE encoder against scikit-learn's SparseCoder (lasso_cd and
lasso_lars) with the same decoder as dictionary and alpha set so the mean number of active units matches.

    pip install -r requirements-bench.txt
    .venv/bin/python bench/encode_speed.py [CHECKPOINT] [--n 2000] [--device cuda]

The DrSAE encodes on --device (CUDA when present); SparseCoder runs on the CPU, where scikit-learn runs.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.assets import default_model_path, sample_digits  # noqa: E402
from models.checkpoint import load_model  # noqa: E402
from models.data import load_mnist  # noqa: E402


def recon_error(x: np.ndarray, D: np.ndarray, z: np.ndarray) -> float:
    return float((0.5 * ((x - z @ D.T) ** 2).sum(1)).mean())


def coder(D: np.ndarray, algo: str, alpha: float):
    from sklearn.decomposition import SparseCoder

    return SparseCoder(dictionary=D.T, transform_algorithm=algo, transform_alpha=alpha, positive_code=True,
                       transform_max_iter=1000)


def matched_alpha(D, x, algo, target_active, lo=1e-4, hi=1.0, iters=14) -> float:
    """Geometric bisection on alpha until the mean active units match the DrSAE's."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        active = (coder(D, algo, mid).transform(x) > 0).sum(1).mean()
        lo, hi = (mid, hi) if active > target_active else (lo, mid)
    return (lo * hi) ** 0.5


def timed(fn, repeats=3):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default=None)
    p.add_argument("--n", type=int, default=2000, help="digits to encode")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    model, _ = load_model(a.checkpoint or default_model_path())
    digits = load_mnist().test if os.environ.get("SPARSELAB_DATA") else sample_digits()
    x = digits.x[: a.n]
    xn = x.double().numpy()
    D = model.D.detach().double().numpy()  # before the move: SparseCoder needs it on the CPU
    model.to(a.device)
    xd = x.to(a.device)

    def encode():
        z = model.encode(xd)[-1]
        if a.device == "cuda":
            torch.cuda.synchronize()
        return z

    with torch.no_grad():
        encode()  # warm-up
        t_ours, z = timed(encode, repeats=5)
    z = z.cpu().numpy()
    active = (z > 0).sum(1).mean()
    rows = [("DrSAE encoder (T = %d)" % model.cfg.unroll, a.n / t_ours, active, recon_error(xn, D, z), "-")]
    warnings.filterwarnings("ignore")
    for algo in ("lasso_lars", "lasso_cd"):
        alpha = matched_alpha(D, xn[:200], algo, active)
        t, zs = timed(lambda: coder(D, algo, alpha).transform(xn), repeats=1)
        rows.append((f"SparseCoder {algo}", a.n / t, (zs > 0).sum(1).mean(), recon_error(xn, D, zs), f"{alpha:.4g}"))
    where = torch.cuda.get_device_name() if a.device == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"{a.n} digits; DrSAE on {where}; the same decoder D for every method\n")
    print(f"{'method':28s} {'codes/s':>10s} {'active':>7s} {'recon':>8s} {'alpha':>8s} {'DrSAE speed-up':>15s}")
    for name, speed, act, rec, alpha in rows:
        print(f"{name:28s} {speed:10.0f} {act:7.1f} {rec:8.4f} {alpha:>8s} {rows[0][1] / speed:14.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
