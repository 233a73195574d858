"""What the TensorBoard event files cost a run: the same run (the DrSAE at 400 × 11 on 10,000 digits, 3 epochs, one
thread) trained with the loop's writer and with a writer that writes nothing, alternating; prints the ratio.

    SPARSELAB_DATA=... .venv/bin/python bench/tensorboard_cost.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.domains import dataset, spec  # noqa: E402
from models.families.drsae import DrSAEConfig  # noqa: E402
from models.training import loop, tensorboard  # noqa: E402
from models.training.config import TrainConfig  # noqa: E402


class Silent:
    """The writer's interface, writing nothing: the baseline."""

    def __init__(self, *a, **k):
        pass

    def epoch(self, *a, **k):
        pass

    def close(self):
        pass


def one(writer, data, out: Path) -> float:
    loop.tensorboard.Writer = writer
    t0 = time.perf_counter()
    loop.train(DrSAEConfig(), TrainConfig(pretrain_epochs=1, epochs=2, limit=10_000), out, data=data, device="cpu")
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(1)
    data = dataset(spec(), limit=10_000)[0]
    real = tensorboard.Writer
    with_tb, without = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            without.append(one(Silent, data, Path(tmp) / f"silent{i}"))
            with_tb.append(one(real, data, Path(tmp) / f"tb{i}"))
    w, b = statistics.median(with_tb), statistics.median(without)
    print(f"3 epochs of 10,000 digits, DrSAE 400 × 11, one thread, median of {a.repeats}: without event files "
          f"{b:.1f} s, with them {w:.1f} s: {w / b:.3f}× ({100 * (w / b - 1):+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
