"""Training throughput of the 400-unit, T = 11 DrSAE: sparselab's training update against the plain eager
baseline (bench/baseline_train.py, batch 100), in the same run, on CPU and on CUDA when present.
On CUDA it shows the step eager and replayed as a CUDA graph, at batch 100 and at larger batches.

    .venv/bin/python bench/train_speed.py [--seconds 10] [--repeats 3] [--batches 100,1000] [--device cuda]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import baseline_train  # noqa: E402
from models.families.drsae import DrSAE, DrSAEConfig  # noqa: E402
from models.training.config import TrainConfig  # noqa: E402
from models.training.optim import make_optimizer  # noqa: E402
from models.training.update import Updater  # noqa: E402

H, T, N_IN = 400, 11, 784


def flops_per_sample(hidden=H, unroll=T, n_in=N_IN) -> float:
    """Multiply-adds x2 of the forward pass (E x, T-1 recurrent products, decoder, classifier); backward ~2x."""
    fwd = 2 * (n_in * hidden + (unroll - 1) * hidden * hidden + hidden * n_in + hidden * 10)
    return 3 * fwd


def gemm_peak(device: str) -> float:
    """FLOP/s of a large float32 matrix product on this device: the practical ceiling."""
    a = torch.randn(2048, 2048, device=device)
    for _ in range(2):
        a @ a
    sync(device)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 1.0:
        a @ a
        n += 1
    sync(device)
    return n * 2 * 2048 ** 3 / (time.perf_counter() - t0)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def throughput(step, batch: int, device: str, seconds: float) -> float:
    x = torch.rand(batch * 20, N_IN, device=device)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.randint(0, 10, (batch * 20,), device=device)
    for i in range(3):  # warm-up
        step(x[:batch], y[:batch])
    sync(device)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        i = n % 20
        step(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
        n += 1
    sync(device)
    return n * batch / (time.perf_counter() - t0)


def ours(device: str, batch: int, graph: bool):
    """sparselab's own update (models/training/update.py) on a fresh model; the lr is set every step as in training."""
    tc = TrainConfig(batch_size=batch)
    model = DrSAE(DrSAEConfig(hidden=H, unroll=T)).to(device)
    updater = Updater(model, make_optimizer(model, tc), tc, graph=graph)

    def step(x, y):
        updater(x, y, tc.lr, True)
    return step


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batches", default="100,1000", help="batch sizes for sparselab's step")
    p.add_argument("--device", default=None, help="cpu or cuda (default: both where present)")
    a = p.parse_args()
    devices = [a.device] if a.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    batches = [int(b) for b in a.batches.split(",")]
    for device in devices:
        name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        base_model, base_opt = baseline_train.make(device)
        runs = {"baseline (eager, batch 100)": (lambda x, y: baseline_train.step(base_model, base_opt, x, y), 100)}
        modes = [("eager", False), ("CUDA graph", True)] if device == "cuda" else [("eager", False)]
        for b in batches:
            for mode, graph in modes:
                runs[f"sparselab {mode}, batch {b}"] = (ours(device, b, graph), b)
        results = {k: statistics.median(throughput(f, b, device, a.seconds) for _ in range(a.repeats))
                   for k, (f, b) in runs.items()}
        peak = gemm_peak(device)
        print(f"\n{name}: medians of {a.repeats} runs of {a.seconds:g} s; float32 GEMM peak {peak / 1e9:.0f} GFLOP/s")
        base = next(iter(results.values()))
        for k, v in results.items():
            fl = v * flops_per_sample()
            print(f"  {k:32s} {v:10.0f} samples/s  {fl / 1e9:8.1f} GFLOP/s ({100 * fl / peak:4.1f} % of peak)"
                  f"  x{v / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
