"""Harvest throughput against a plain forward pass with a hook, in the same run: the baseline loads the samples and
runs the whole host over them in the same batches with a forward hook copying the layer's output to numpy (nothing
written); the harvest loads them, runs the host up to the layer and writes float16 shards, labels and metadata.

    SPARSELAB_DATA=... .venv/bin/python bench/harvest.py [--host digits-cnn] [--layer relu2] [--limit 10000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.data import intensities  # noqa: E402
from models.domains import dataset, spec  # noqa: E402
from models.hosts import open_host  # noqa: E402
from models.hosts.harvest import harvest, vectors_of  # noqa: E402
from models.hosts.layers import module_at  # noqa: E402


def plain(opened, layer: str, splits, shape, batch: int) -> int:
    got, rows = [], 0

    def hook(_m, _i, out):
        got.append(vectors_of(out, layer)[0].float().numpy().copy())

    handle = module_at(opened, layer).register_forward_hook(hook)
    try:
        with torch.no_grad():
            for split in splits:
                for i in range(0, len(split), batch):
                    opened.module(opened.inputs(split.x[i:i + batch], shape))
                    rows += len(got.pop())
    finally:
        handle.remove()
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="digits-cnn")
    p.add_argument("--layer", default="relu2")
    p.add_argument("--limit", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    opened, data = open_host(a.host), spec("digits")
    best = {"plain": float("inf"), "harvest": float("inf")}
    for _ in range(a.rounds):  # alternated, best of each
        t0 = time.perf_counter()
        ds, _ = dataset(data, limit=a.limit, inputs=intensities)
        splits = [ds.train, ds.val, ds.test]
        samples = sum(len(s) for s in splits)
        rows = plain(opened, a.layer, splits, data.layout().image, a.batch)
        best["plain"] = min(best["plain"], time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            harvest(opened, a.layer, data, Path(tmp) / "h", limit=a.limit, batch=a.batch, log=lambda s: None)
            best["harvest"] = min(best["harvest"], time.perf_counter() - t0)
    print(f"{a.host} {a.layer}: {samples:,} samples, {rows:,} vectors; best of {a.rounds}")
    for k, t in best.items():
        print(f"  {k:8s} {t:6.2f} s  {rows / t:12,.0f} vectors/s  {samples / t:9,.0f} samples/s")
    print(f"  harvest / plain throughput: {best['plain'] / best['harvest']:.2f}× (goal: at least 0.8×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
