"""A model's numbers on the test set: what `python -m models evaluate` prints."""
from __future__ import annotations

import time

import torch

from models.analysis.likelihood import likelihood
from models.analysis.metrics import evaluate_split

from models.assets import DIGITS_FROM, default_model_path, sample_digits
from models.checkpoint import load_model
from models.data import Split, load_test, normalize
from models.families import of_model
from models.training import run_folder

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def test_digits(data_dir=None, sample: bool = False, inputs=normalize) -> tuple[Split, str, str]:
    """The digits, what to call them, and the fingerprint of their test set: the dataset's test set (its test
    files alone), or the embedded sample. `inputs`: the model family's input transform."""
    if sample:
        return sample_digits(inputs), "embedded sample of 1,000 test digits", DIGITS_FROM
    test = load_test(data_dir, inputs=inputs)
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
             dtype: str = "float32", iwae_k: int = 1000, iwae_digits: int = 1000) -> dict:
    """`source`: a run folder, a checkpoint.pt or an exported .safetensors (default: the embedded default).
    `dtype` runs the whole model in that precision (bfloat16 roughly doubles the CPU's codes per second)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    source = source or default_model_path()
    model, _ = load_model(source)
    family = of_model(model)
    if family.capabilities.likelihood:  # its bound is measured on the CPU in float32 (CPU-seeded samples)
        if device not in (None, "cpu") or dtype != "float32":
            raise ValueError(f"{family.short} models are evaluated on the CPU in float32 (drop --device and --dtype)")
        device = "cpu"
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device, DTYPES[dtype])
    test, data_name, fingerprint = test_digits(data_dir, sample, family.inputs)
    t0 = time.time()
    common = {
        "model": str(source), "architecture": family.name, "data": data_name, "n_test": len(test),
        "data_fingerprint": fingerprint, "trained_on": trained_on(source), "warning": mismatch(source, fingerprint),
        "hidden": model.cfg.hidden}
    if family.capabilities.likelihood:
        r = likelihood(model, test, iwae_k, iwae_digits)
        layers = {f"layer_{i + 1}_{k}": v for i, la in enumerate(r.layers)
                  for k, v in (("units", la.units), ("kl", la.kl), ("zero_fraction", la.zero_fraction),
                               ("active_units", la.active), ("probe_error", la.probe_error))}
        return {**common, "elbo": r.elbo, "reconstruction_nats": r.recon, "kl": r.kl,
                "importance_weighted_bound": r.iwae, "iwae_k": r.iwae_k, "iwae_digits": r.iwae_digits,
                "elbo_on_iwae_digits": r.elbo_on_iwae_digits, "zero_fraction": r.zero_fraction, **layers,
                "seconds": time.time() - t0, "device": device, "dtype": dtype}
    r = evaluate_split(model, test, unroll=unroll, device=device)
    return {
        **common, "unroll": unroll or model.trained_unroll, "trained_unroll": model.trained_unroll,
        "sparsity": model.sparsity,
        "test_error": r["error"], "reconstruction_loss": r["recon"], "l1": r["l1"],
        "unsupervised_loss": r["unsup"], "supervised_loss": r["sup"], "mean_active_units": r["active"],
        "seconds": time.time() - t0, "device": device, "dtype": dtype,
    }
