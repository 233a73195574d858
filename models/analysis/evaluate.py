"""A model's numbers on the test set: what `python -m models evaluate` prints."""
from __future__ import annotations

import time

import torch

from models.analysis.metrics import evaluate_split
from models.assets import default_model_path, sample_digits
from models.checkpoint import load_model
from models.data import load_mnist
from models.families import of_model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def evaluate(source=None, unroll: int | None = None, data_dir=None, sample: bool = False, device: str | None = None,
             dtype: str = "float32") -> dict:
    """`source`: a run folder, a checkpoint.pt or an exported .safetensors (default: the embedded default).
    `dtype` runs the whole model in that precision (bfloat16 roughly doubles the CPU's codes per second)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    source = source or default_model_path()
    model, _ = load_model(source)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device, DTYPES[dtype])
    if sample:
        test, data_name = sample_digits(), "embedded sample of 1,000 test digits"
    else:
        data = load_mnist(data_dir)
        test, data_name = data.test, data.source
    t0 = time.time()
    r = evaluate_split(model, test, unroll=unroll, device=device)
    return {
        "model": str(source), "architecture": of_model(model).name, "data": data_name, "n_test": len(test),
        "hidden": model.cfg.hidden, "unroll": unroll or model.trained_unroll, "trained_unroll": model.trained_unroll,
        "sparsity": model.sparsity,
        "test_error": r["error"], "reconstruction_loss": r["recon"], "l1": r["l1"],
        "unsupervised_loss": r["unsup"], "supervised_loss": r["sup"], "mean_active_units": r["active"],
        "seconds": time.time() - t0, "device": device, "dtype": dtype,
    }
