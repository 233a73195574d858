"""Saving and loading models: atomic writes, and loads that never execute code.

A run folder holds `checkpoint.pt` (full training state, read with torch.load(weights_only=True)).
An exported model is one `.safetensors` file (compact float16 weights, config in its metadata).
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from models.families import architecture, get, of_model

CHECKPOINT = "checkpoint.pt"
EXPORTED = "model.safetensors"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or not a model this version knows."""


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: readers see the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_training_state(path: str | Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def load_training_state(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, garbage bytes, pickled code...
        raise CheckpointError(f"Checkpoint {path} is corrupt or not a sparselab checkpoint ({type(e).__name__}: {e}).") from e
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"Checkpoint {path} is not a sparselab checkpoint (no model or config).")
    return state


def model_from_state(config: dict, weights: dict, arch: str):
    """A model of family `arch` (the `architecture` key; files without it are DrSAEs) with these weights."""
    try:
        family = get(arch)
        cfg = family.config.from_dict(config)
    except ValueError as e:
        raise CheckpointError(f"Checkpoint config cannot be read: {e}") from e
    model = family.create(cfg)
    try:
        model.load_state_dict({k: v.float() for k, v in weights.items()})
    except RuntimeError as e:
        raise CheckpointError(f"Checkpoint weights do not fit its config {cfg}: {e}") from e
    return model.eval()


def export_model(model, path: str | Path, meta: dict | None = None, dtype=torch.float16) -> None:
    """One compact file: weights in `dtype`; the family, the config (and any `meta`) as JSON in the header."""
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    header = {"architecture": of_model(model).name, "config": json.dumps(model.cfg.to_dict()),
              "meta": json.dumps(meta or {})}
    atomic_write(path, st_save(tensors, metadata=header))


def read_exported(path: Path) -> tuple:
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        config = json.loads(header["config"])
        meta = json.loads(header.get("meta", "{}"))
    except (SafetensorError, KeyError, ValueError, OSError) as e:
        raise CheckpointError(f"Model file {path} is corrupt or not a sparselab model ({type(e).__name__}: {e}).") from e
    return model_from_state(config, tensors, architecture(header)), meta


def load_model(source: str | Path) -> tuple:
    """A model from a run folder, a checkpoint.pt or an exported .safetensors file, with what is known about it."""
    path = Path(source)
    if path.is_dir():
        path = path / CHECKPOINT if (path / CHECKPOINT).is_file() else path / EXPORTED
    if not path.is_file():
        raise CheckpointError(f"No model at {source} (expected a run folder, a {CHECKPOINT} or a .safetensors file).")
    if path.suffix == ".safetensors":
        return read_exported(path)
    state = load_training_state(path)  # a run that averages its weights delivers the average
    weights = state.get("average", state["model"])
    return model_from_state(state["config"], weights, architecture(state)), dict(state.get("progress", {}))
