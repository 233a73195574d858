"""A model's numbers on the test set: what `python -m models evaluate` prints."""
from __future__ import annotations

import time

import torch

from models.analysis.metrics import evaluate_split

from models.assets import DIGITS_FROM, default_model_path, sample_digits
from models.checkpoint import load_model
from models.data import Split, load_test
from models.families import of_model
from models.training import run_folder

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def test_digits(data_dir=None, sample: bool = False) -> tuple[Split, str, str]:
    """The digits, what to call them, and the fingerprint of their test set: the dataset's test set (its test
    files alone), or the embedded sample."""
    if sample:
        return sample_digits(), "embedded sample of 1,000 test digits", DIGITS_FROM
    test = load_test(data_dir)
    return test.split, f"test set of {test.source}", test.fingerprint


def trained_on(source) -> str | None:
    """The fingerprint of the test set of the dataset a model was trained with, where its run recorded one."""
    folder = run_folder.folder_of(source)
    try:
        cfg = run_folder.read_config(folder)
    except run_folder.DamagedRun:
        return None
    return ((cfg or {}).get("data") or {}).get("test_fingerprint")


def mismatch(source, fingerprint: str) -> str:
    """A warning when the model was trained with another dataset than the one it is measured on, else ''."""
    trained = trained_on(source)
    if trained and trained != fingerprint:
        return (f"the model was trained with another dataset (test set {trained}) than these digits ({fingerprint}): "
                "its numbers here measure a transfer, not the model")
    return ""


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
    test, data_name, fingerprint = test_digits(data_dir, sample)
    t0 = time.time()
    r = evaluate_split(model, test, unroll=unroll, device=device)
    return {
        "model": str(source), "architecture": of_model(model).name, "data": data_name, "n_test": len(test),
        "data_fingerprint": fingerprint, "trained_on": trained_on(source), "warning": mismatch(source, fingerprint),
        "hidden": model.cfg.hidden, "unroll": unroll or model.trained_unroll, "trained_unroll": model.trained_unroll,
        "sparsity": model.sparsity,
        "test_error": r["error"], "reconstruction_loss": r["recon"], "l1": r["l1"],
        "unsupervised_loss": r["unsup"], "supervised_loss": r["sup"], "mean_active_units": r["active"],
        "seconds": time.time() - t0, "device": device, "dtype": dtype,
    }
