"""Training cost of each family at its default settings on this CPU: seconds per update (batch of the default
size, one thread, the CPU's eager update), against the DrSAE's in the same run, and the projected wall time of a
default run (updates per epoch × epochs, plus a validation pass per epoch).

    .venv/bin/python bench/family_speed.py [--seconds 10] [--threads 1]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.training.validate import evaluate_split  # noqa: E402
from models.data import Split  # noqa: E402
from models.families import all_families  # noqa: E402
from models.training.optim import make_optimizer  # noqa: E402
from models.training.update import Updater  # noqa: E402
from models.training.config import train_config  # noqa: E402
from models.domains import spec  # noqa: E402

N_TRAIN, N_VAL = 50_000, 10_000  # the default split


def digits(n: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=g) * (torch.rand(n, 784, generator=g) < 0.2)  # sparse, like digits
    return Split(x / x.norm(dim=1, keepdim=True).clamp_min(1e-8), torch.randint(0, 10, (n,), generator=g))


def family_inputs(family, x: torch.Tensor) -> torch.Tensor:
    """The stand-in digits as the family reads them (the RG-VAE: intensities in [0, 1])."""
    return x / x.max() if family.binary_data else x


def seconds_per_update(family, train: Split, seconds: float) -> tuple[float, object]:
    """Seconds per update of the family's default update, and the model it trained."""
    layout = spec().layout()
    cfg, tc = family.fit(family.config(), layout), train_config(family)
    model = family.new(cfg, family_inputs(family, train.x), 0, None, layout)
    up = Updater(model, make_optimizer(model, tc), tc, graph=False)
    bs = tc.batch_size
    batch = lambda i: (train.x[i * bs % N_TRAIN:][:bs], train.y[i * bs % N_TRAIN:][:bs])  # noqa: E731
    for i in range(3):
        up(*batch(i), tc.lr, True)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        up(*batch(n), tc.lr, True)
        n += 1
    return (time.perf_counter() - t0) / n, model


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    train, val = digits(N_TRAIN), digits(N_VAL, 1)
    rows = []
    for family in all_families():
        tc = train_config(family)
        per_update, model = seconds_per_update(family, train, a.seconds)
        t0 = time.perf_counter()
        (family.validate or evaluate_split)(model, val)  # the loop's validation pass
        validate = time.perf_counter() - t0
        epoch = math.ceil(N_TRAIN / tc.batch_size) * per_update + validate
        rows.append((family, tc, per_update, epoch))
    base = next(r[2] for r in rows if r[0].name == "drsae")
    print(f"{a.threads} thread(s); default settings; {N_TRAIN:,} training digits a epoch")
    print(f"{'family':10s} {'ms/update':>10s} {'× DrSAE':>8s} {'s/epoch':>8s} {'epochs':>7s} {'projected':>10s}")
    for family, tc, per_update, epoch in rows:
        total = epoch * tc.total_epochs
        print(f"{family.short:10s} {1000 * per_update:10.1f} {per_update / base:8.2f} {epoch:8.1f} "
              f"{tc.total_epochs:7d} {total / 60:8.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
