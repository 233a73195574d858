"""Saving and loading models: atomic writes, and loads that never execute code.

A run folder holds `checkpoint.pt` (full training state, read with torch.load(weights_only=True)) and the one
before it, `checkpoint.prev.pt`: a checkpoint damaged on disk costs one interval, not the run.
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
PREVIOUS = "checkpoint.prev.pt"
EXPORTED = "model.safetensors"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or not a model this version knows."""


def atomic_write(path: str | Path, data: bytes, keep: str | Path | None = None) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: readers see the old or the new file, never half.
    `keep`: the file `path` held until now moves there first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if keep is not None and path.is_file():
            os.replace(path, keep)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


CHECKSUM = "checksum"  # a digest of everything a checkpoint (or an exported file's tensors) holds
MODEL_CHECKSUM = "checksum_model"  # of the parts a viewer of the model reads (VIEWED): checked without reading the
VIEWED = ("architecture", "domain", "config", "model", "average", "progress")  # optimiser's state


def digest(obj) -> str:
    """SHA-256 of a state: every tensor's dtype, shape and bytes and every other value, in a fixed order. Bit rot
    that a file format does not notice (a flipped byte inside a tensor) changes it."""
    import hashlib

    h = hashlib.sha256()

    def walk(o):
        if isinstance(o, dict):
            for k in sorted(o, key=str):
                h.update(repr(k).encode())
                walk(o[k])
        elif isinstance(o, (list, tuple)):
            h.update(b"[")
            for v in o:
                walk(v)
            h.update(b"]")
        elif isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(o).encode())

    walk(obj)
    return h.hexdigest()


def save_training_state(path: str | Path, state: dict) -> None:
    """Atomically, keeping the checkpoint it replaces as checkpoint.prev.pt; with a checksum of all it holds."""
    path = Path(path)
    buf = io.BytesIO()
    viewed = {k: state[k] for k in VIEWED if k in state}
    torch.save({**state, CHECKSUM: digest(state), MODEL_CHECKSUM: digest(viewed)}, buf)
    atomic_write(path, buf.getvalue(), keep=path.with_name(PREVIOUS))


def tidy(folder: str | Path) -> list[str]:
    """What a killed writer left in a run folder: atomic_write's temporary files. A complete checkpoint caught
    between its two renames (checkpoint.pt gone, the new one still a .tmp) is put in place; the rest is removed.
    Only for a folder no trainer holds. Returns what was done, a line each."""
    folder, done = Path(folder), []
    for tmp in sorted(folder.glob(".*.tmp")):
        target = folder / tmp.name[1:].rsplit(".", 2)[0]  # .checkpoint.pt.abc123.tmp -> checkpoint.pt
        if target.name == CHECKPOINT and not target.exists():
            try:
                _read_state(tmp)
                os.replace(tmp, target)
                done.append(f"{tmp.name}: the newest checkpoint, put in place")
                continue
            except CheckpointError:
                pass
        tmp.unlink(missing_ok=True)
        done.append(f"{tmp.name}: removed")
    return done


def _reason(e: Exception) -> str:
    """Why torch could not read a file, without torch's advice to load it with weights_only=False: a
    checkpoint that needs that holds objects other than tensors, and loading it would run their code."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "weights_only" in str(e) or "Unsupported global" in str(e):
        return "it holds objects other than tensors, which are never loaded"
    return text[:200]


def _read_state(path: Path, viewed: bool = False) -> dict:
    """The checkpoint's state, checked against its checksum. `viewed`: only the parts that describe the model
    (VIEWED) are read and checked, where the file has their own checksum: the optimiser's state (twice the weights,
    for Adam) is left on disk."""
    import zipfile

    try:  # only torch's zip format can be mapped (anything else is read, and refused, as it always was)
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=viewed and zipfile.is_zipfile(path))
    except Exception as e:  # truncated zip, garbage bytes, pickled code...
        raise CheckpointError(f"Checkpoint {path} is corrupt or not a sparselab checkpoint: {_reason(e)}.") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"Checkpoint {path} is not a sparselab checkpoint (no model or config).")
    whole, part = state.pop(CHECKSUM, None), state.pop(MODEL_CHECKSUM, None)  # older checkpoints lack them
    if viewed and part is not None:
        state = {k: state[k] for k in VIEWED if k in state}
        saved, now = part, digest(state)
    else:
        saved, now = whole, None if whole is None else digest(state)
    if saved is not None and saved != now:
        raise CheckpointError(f"Checkpoint {path} is corrupt: its contents no longer match their checksum.")
    if viewed:  # nothing of the file's mapping stays in use: a copy of what was read
        state = {k: ({n: t.clone() for n, t in v.items()} if k in ("model", "average") else v) for k, v in state.items()}
    return state


def load_training_state(path: str | Path, viewed: bool = False) -> dict:
    """The checkpoint at `path`; if it cannot be read, the previous one beside it (state["restored_from"] then
    names that file). Raises CheckpointError when neither can be read. `viewed`: the model's parts only (VIEWED)."""
    path = Path(path)
    previous = path.with_name(PREVIOUS)
    if not path.is_file() and not previous.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        return (_read_state(path, viewed) if path.is_file() else
                _read_state(previous, viewed) | {"restored_from": str(previous)})
    except CheckpointError as first:
        if not path.is_file() or not previous.is_file():
            raise
        try:
            return _read_state(previous, viewed) | {"restored_from": str(previous)}
        except CheckpointError:
            raise first from None


def model_from_state(config: dict, weights: dict, arch: str):
    """A model of family `arch` (the `architecture` key; files without it are DrSAEs) with these weights."""
    try:
        family = get(arch)
        cfg = family.config.from_dict(config)
    except ValueError as e:
        raise CheckpointError(f"Checkpoint config cannot be read: {e}") from e
    # The shapes the config declares, from a model without memory: a tiny file cannot make us allocate gigabytes. A
    # recurrent family computes its start on its weights (its step size), which such a model cannot, and its sizes
    # are bounded by its settings (hidden × inputs): not tried, as trying first imports torch's compiler (~1 s).
    if not family.capabilities.steps:
        try:
            with torch.device("meta"):
                shell = family.create(cfg)
        except RuntimeError:  # a start that computes on its weights: its sizes are bounded by its settings
            shell = None
        if shell is not None:  # the stored tensors become the model's: no random start to draw and drop
            _check_fits(shell.state_dict(), weights)
            shell.load_state_dict({k: v.float() for k, v in weights.items()}, assign=True)
            return shell.eval()
    model = family.create(cfg)
    _check_fits(model.state_dict(), weights)
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    return model.eval()


def _check_fits(declared: dict, weights: dict) -> None:
    """CheckpointError, in one line, unless the stored tensors are exactly the ones the config declares."""
    missing = [k for k in declared if k not in weights]
    extra = [k for k in weights if k not in declared]
    wrong = [k for k in declared if k in weights and tuple(declared[k].shape) != tuple(weights[k].shape)]
    if missing or extra or wrong:
        shape = lambda t: "×".join(map(str, t.shape)) or "scalar"  # noqa: E731
        first = (f"{wrong[0]}: {shape(declared[wrong[0]])} declared, {shape(weights[wrong[0]])} stored" if wrong else
                 f"{missing[0]} missing" if missing else f"{extra[0]} not in the model")
        raise CheckpointError(f"the weights do not fit the model the file declares ({len(wrong)} of another shape, "
                              f"{len(missing)} missing, {len(extra)} unknown; first: {first})")


def exported_bytes(model, meta: dict | None = None, dtype=torch.float16, domain: dict | None = None) -> bytes:
    """One compact file: weights in `dtype`; the family, the config, the data it was trained on (`domain`, a
    models.domains.DataSpec's dict) and any `meta` as JSON in the header."""
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    header = {"architecture": of_model(model).name, "config": json.dumps(model.cfg.to_dict()),
              "meta": json.dumps(meta or {}), CHECKSUM: digest(tensors)}
    if domain is not None:
        header["domain"] = json.dumps(domain)
    return st_save(tensors, metadata=header)


def export_model(model, path: str | Path, meta: dict | None = None, dtype=torch.float16,
                 domain: dict | None = None) -> None:
    atomic_write(path, exported_bytes(model, meta, dtype, domain))


def read_exported(path: Path) -> tuple:
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if CHECKSUM in header and header[CHECKSUM] != digest(tensors):
            raise ValueError("its tensors no longer match their checksum")
        config = json.loads(header["config"])
        meta = json.loads(header.get("meta", "{}"))
        if "domain" in header:  # files written before domains hold digits models
            meta["domain"] = json.loads(header["domain"])
    except (SafetensorError, KeyError, ValueError, OSError) as e:
        raise CheckpointError(f"Model file {path} is corrupt or not a sparselab model ({type(e).__name__}: {e}).") from None
    return model_from_state(config, tensors, architecture(header)), meta


def load_model(source: str | Path) -> tuple:
    """A model from a run folder, a checkpoint.pt or an exported .safetensors file, with what is known about it
    (meta["domain"]: the data it was trained on, where the file says; models.domains.spec_of reads it)."""
    path = Path(source)
    if path.is_dir():
        has_state = (path / CHECKPOINT).is_file() or (path / PREVIOUS).is_file()
        path = path / CHECKPOINT if has_state else path / EXPORTED
    if not path.is_file() and not (path.name == CHECKPOINT and path.with_name(PREVIOUS).is_file()):
        raise CheckpointError(f"No model at {source} (expected a run folder, a {CHECKPOINT} or a .safetensors file).")
    if path.suffix == ".safetensors":
        return read_exported(path)
    state = load_training_state(path, viewed=True)  # a run that averages its weights delivers the average
    weights = state.get("average", state["model"])
    meta = dict(state.get("progress", {}))
    if state.get("domain") is not None:
        meta["domain"] = state["domain"]
    if "restored_from" in state:  # the latest checkpoint is damaged: this is the one before it
        meta["restored_from"] = state["restored_from"]
    return model_from_state(state["config"], weights, architecture(state)), meta
