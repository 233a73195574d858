"""A model's numbers on the test set: what `python -m models evaluate` prints."""
from __future__ import annotations

import time

import torch

from models.assets import default_model_path
from models.checkpoint import load_model
from models.data import Split, normalize
from models.domains import DataSpec, Shown, spec_of, test_set
from models.families import capabilities, of_model
from models.training import run_folder
from models.analysis.steps import converged
from models.analysis.through_host import through_host
from models.training.validate import evaluate_split

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def data_of(source, meta: dict) -> DataSpec:
    """The data a model was trained on: its file's header or checkpoint (`meta`, from load_model), else its run
    folder's config.json, else digits (models saved before domains)."""
    if meta.get("domain") is not None:
        return spec_of(meta)
    try:
        return spec_of(run_folder.read_config(run_folder.folder_of(source)) or {})
    except run_folder.DamagedRun:
        return spec_of({})


def test_samples(data: DataSpec, data_dir=None, sample: bool = False, inputs=normalize) -> tuple[Split, str, str]:
    """The samples, what to call them, and the fingerprint of their test set: the data's test set, or (`sample`) the
    test samples its domain ships in assets/ (digits: 1,000 of them), where it ships some. `inputs`: the family's
    transform."""
    shipped = sample and data.domain.sample is not None
    shown: Shown = data.domain.sample(data.cfg) if shipped else test_set(data, data_dir)
    return shown.arrays.split(inputs), shown.name, shown.fingerprint


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
        return (f"the model was trained with another dataset (test set {trained}) than these samples ({fingerprint}): "
                "its numbers here measure a transfer, not the model")
    return ""


def evaluate(source=None, unroll: int | None = None, data_dir=None, sample: bool = False, device: str | None = None,
             dtype: str = "float32", iwae_k: int = 1000, iwae_digits: int = 1000) -> dict:
    """`source`: a run folder, a checkpoint.pt or an exported .safetensors (default: the embedded default).
    `dtype` runs the whole model in that precision (bfloat16 roughly doubles the CPU's codes per second)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    source = source or default_model_path()
    model, meta = load_model(source)
    family = of_model(model)
    data = data_of(source, meta)
    if family.capabilities.likelihood:  # its bound is measured on the CPU in float32 (CPU-seeded samples)
        if device not in (None, "cpu") or dtype != "float32":
            raise ValueError(f"{family.short} models are evaluated on the CPU in float32 (drop --device and --dtype)")
        device = "cpu"
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device, DTYPES[dtype])
    test, data_name, fingerprint = test_samples(data, data_dir, sample, data.inputs(family))
    t0 = time.time()
    common = {
        "model": str(source), "architecture": family.name, "domain": data.describe(), "data": data_name,
        "data_note": data.note(), "n_test": len(test),
        "data_fingerprint": fingerprint, "trained_on": trained_on(source), "warning": mismatch(source, fingerprint),
        "hidden": model.cfg.hidden}
    if capabilities(model).likelihood:
        r = model.likelihood(test, iwae_k, iwae_digits)
        layers = {f"layer_{i + 1}_{k}": v for i, la in enumerate(r.layers)
                  for k, v in (("units", la.units), ("kl", la.kl), ("zero_fraction", la.zero_fraction),
                               ("active_units", la.active), ("probe_error", la.probe_error))}
        return {**common, "elbo": r.elbo, "reconstruction_nats": r.recon, "kl": r.kl,
                "importance_weighted_bound": r.iwae, "iwae_k": r.iwae_k, "iwae_digits": r.iwae_digits,
                "elbo_on_iwae_digits": r.elbo_on_iwae_digits, "zero_fraction": r.zero_fraction, **layers,
                "seconds": time.time() - t0, "device": device, "dtype": dtype}
    r = evaluate_split(model, test, unroll=unroll, device=device)
    best = {}
    if data.host() is not None and capabilities(model).decoder:  # activations of a host: measured through it
        best |= through_host(model, data, family, data_dir=data_dir).to_dict()
    if capabilities(model).converged:  # the codes its steps approach: their reconstruction beside its own
        c = converged(model, test)
        best = {"converged_reconstruction_loss": c.recon, "converged_mean_active_units": c.active,
                "converged_fvu": c.fvu}
    return {**best,
        **common, "unroll": unroll or model.trained_unroll, "trained_unroll": model.trained_unroll,
        "sparsity": model.sparsity,
        "test_error": r["error"], "reconstruction_loss": r["recon"], "code_cost": r["l1"], "l1": r["l1_norm"],
        "fvu": r["fvu"],
        "fvu_on_inputs": r["fvu_inputs"], "normalization": data.normalization(family),
        "unsupervised_loss": r["unsup"], "supervised_loss": r["sup"], "mean_active_units": r["active"],
        "seconds": time.time() - t0, "device": device, "dtype": dtype,
    }
