"""Evaluate a model on the test set.

    python -m models.evaluate [CHECKPOINT] [--unroll K] [--data-dir DIR] [--sample] [--dtype bfloat16] --json

CHECKPOINT is a run folder, a checkpoint.pt or an exported .safetensors; without it, the embedded default.
--dtype runs the whole model in that precision (bfloat16 roughly doubles the CPU's codes per second, see
bench/encode_speed.py); the default, float32, is what it was trained in.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from models.assets import default_model_path, sample_digits
from models.checkpoint import CheckpointError, load_model
from models.data import DataError, load_mnist
from models.metrics import evaluate_split

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def evaluate(source=None, unroll: int | None = None, data_dir=None, sample: bool = False, device: str | None = None,
             dtype: str = "float32") -> dict:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    source = source or default_model_path()
    model, _ = load_model(source)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device, DTYPES[dtype])
    if sample:
        test, data_name = sample_digits(), "embedded sample of the MNIST test set"
    else:
        mnist = load_mnist(data_dir)
        test, data_name = mnist.test, mnist.source
    t0 = time.time()
    r = evaluate_split(model, test, unroll=unroll, device=device)
    return {
        "model": str(source), "data": data_name, "n_test": len(test),
        "hidden": model.cfg.hidden, "unroll": unroll or model.cfg.unroll, "trained_unroll": model.cfg.unroll,
        "sparsity": model.cfg.sparsity,
        "test_error": r["error"], "reconstruction_loss": r["recon"], "l1": r["l1"],
        "unsupervised_loss": r["unsup"], "supervised_loss": r["sup"], "mean_active_units": r["active"],
        "seconds": time.time() - t0, "device": device, "dtype": dtype,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default=None)
    p.add_argument("--unroll", type=int, default=None, help="run the encoder for K steps (default: the trained T)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--sample", action="store_true", help="use the embedded 1,000 test digits (no dataset needed)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", choices=list(DTYPES), default="float32", help="precision to run the model in")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    if a.unroll is not None and a.unroll < 1:
        p.error("--unroll must be at least 1")
    try:
        r = evaluate(a.checkpoint, a.unroll, a.data_dir, a.sample, a.device, a.dtype)
    except (CheckpointError, DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print(f"{k:20s} {v:.4f}" if isinstance(v, float) else f"{k:20s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
