"""Harvesting: a host run over a data domain's samples with a forward hook on one layer, what that layer gives
written as an activation store (models/store.py's folder of shards and its manifest): a dense layer's output is one
vector a sample; a convolutional layer's (n, C, H, W) is one C-vector a position, its sample and position in each
row's metadata. Labels follow the samples.

    OUT/train-00000.npy, .labels.npy, .meta.npy ...   shards of whole batches (written whole, then renamed)
    OUT/harvest.json    its settings and the shards done: a killed harvest continues after the last of them
    OUT/manifest.json   written last: a folder with one is complete (and the vectors domain reads it)
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import atomic_write
from models.domains import DataSpec, dataset
from models.hosts.layers import module_at
from models.hosts.registry import HostError, Opened, raw_inputs
from models.store import FORMAT, MANIFEST

PROGRESS = "harvest.json"
SHARD_ROWS = 1 << 16  # vectors a shard holds (at least: a shard ends at a batch's end)
META_COLUMNS = ["sample", "position"]  # each row's sample (its index in its split) and position (0 for a dense layer)


class _Enough(Exception):
    """Raised by the hook once the layer has given its output: the rest of the network need not run."""


def vectors_of(out, layer: str) -> tuple[torch.Tensor, int]:
    """A layer's output (n, ...) as rows (n·p, C) and p, the positions a sample gives."""
    if not isinstance(out, torch.Tensor):
        raise HostError(f"layer {layer!r} gives a {type(out).__name__}, not a tensor: choose another layer")
    if out.dim() == 2:
        return out, 1
    if out.dim() == 3:  # (n, tokens, C)
        return out.reshape(-1, out.shape[2]), out.shape[1]
    if out.dim() == 4:  # (n, C, H, W): a C-vector per position
        n, c, h, w = out.shape
        return out.permute(0, 2, 3, 1).reshape(n * h * w, c), h * w
    raise HostError(f"layer {layer!r} gives a tensor of {out.dim()} dimensions (its samples: 2, 3 or 4)")


def run_to(opened: Opened, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The layer's output for this input batch, the network run only as far as the layer."""
    got = []

    def hook(_m, _inp, out):
        got.append(out)
        raise _Enough

    handle = module_at(opened, layer).register_forward_hook(hook)
    try:
        with torch.no_grad():
            opened.module(x)
    except _Enough:
        pass
    finally:
        handle.remove()
    if not got:
        raise HostError(f"layer {layer!r} did not run for this input")
    return got[0]


def _save(path: Path, array: np.ndarray) -> None:
    """A .npy file written whole, then renamed into place (a killed write leaves no shard that looks complete)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def harvest(opened: Opened, layer: str, data: DataSpec, out: Path, data_dir: str | None = None,
            dtype: str = "float16", limit: int | None = None, batch: int = 256, shard_rows: int = SHARD_ROWS,
            log: Callable[[str], None] = print, should_stop=lambda: False) -> dict | None:
    """Harvest the layer over the data's train, validation and test samples into `out`; returns the manifest, or
    None if `should_stop` stopped it (the same call continues)."""
    if dtype not in ("float16", "float32"):
        raise HostError(f"--dtype {dtype!r}: float16 or float32")
    out = Path(out)
    module_at(opened, layer)  # a layer the host lacks: refused before anything is written
    settings = {"host": opened.spec, "weights": opened.weights, "layer": layer, "data": json.loads(data.key),
                "dtype": dtype, "limit": limit}
    progress = _read(out / PROGRESS)
    if progress is not None and progress.get("settings") != settings:
        raise HostError(f"{out} holds a harvest of other settings ({progress.get('settings', {}).get('host')} "
                        f"{progress.get('settings', {}).get('layer')}): choose another --out")
    if progress is None and out.exists() and any(out.iterdir()):
        raise HostError(f"{out} is not empty and holds no harvest: choose another --out")
    if (out / MANIFEST).is_file() and progress is not None:
        log(f"{out}: harvested already")
        return _read(out / MANIFEST)
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or {"settings": settings, "parts": {}}
    layout = data.layout()
    ds, _ = dataset(data, data_dir, limit, inputs=raw_inputs(layout))
    dimension, t0, total = None, time.time(), 0
    for part in ("train", "val", "test"):
        split = getattr(ds, part)
        done = progress["parts"].setdefault(part, {"samples": 0, "shards": []})
        xs, ys, metas, rows = [], [], [], 0
        start = done["samples"]
        for i in range(start, len(split), batch):
            if should_stop():
                return None
            b = split.take(slice(i, min(i + batch, len(split))))
            v, per = vectors_of(run_to(opened, layer, opened.inputs(b.x, layout.image)), layer)
            dimension = v.shape[1]
            stored = v.to(getattr(torch, dtype))
            if dtype == "float16" and torch.isinf(stored).any() and torch.isfinite(v).all():
                raise HostError(f"layer {layer!r} gives values beyond float16's range: harvest with --dtype float32")
            xs.append(stored.numpy())
            samples = np.arange(i, i + len(b), dtype=np.int32)  # int32: a tenth of the bytes of a float16 row of 64
            metas.append(np.stack([np.repeat(samples, per), np.tile(np.arange(per, dtype=np.int32), len(b))], 1))
            if b.y is not None:
                ys.append(np.repeat(b.y.numpy().astype(np.int32), per))
            rows += len(v)
            end = i + len(b) >= len(split)
            if rows >= shard_rows or end:
                name = f"{part}-{len(done['shards']):05d}"
                _save(out / f"{name}.npy", np.concatenate(xs))
                _save(out / f"{name}.meta.npy", np.concatenate(metas))
                entry = {"file": f"{name}.npy", "rows": rows, "meta": f"{name}.meta.npy"}
                if ys:
                    _save(out / f"{name}.labels.npy", np.concatenate(ys))
                    entry["labels"] = f"{name}.labels.npy"
                done["shards"].append(entry)
                done["samples"] = i + len(b)
                progress["dimension"] = dimension
                atomic_write(out / PROGRESS, json.dumps(progress, indent=1).encode())
                total += rows
                log(f"{part}: {done['samples']:,} of {len(split):,} {data.domain.nouns}, "
                    f"{sum(s['rows'] for s in done['shards']):,} vectors of {dimension} "
                    f"({total / max(time.time() - t0, 1e-9):,.0f} vectors/s)")
                xs, ys, metas, rows = [], [], [], 0
    parts = {p: d["shards"] for p, d in progress["parts"].items() if d["shards"]}
    if "train" not in parts or "test" not in parts:
        raise HostError("the data gave no training or no test samples to harvest")
    manifest = {"format": FORMAT, "version": 1, "dtype": dtype, "dimension": progress["dimension"], **parts,
                "meta_columns": META_COLUMNS, "host": {**settings, "describe": opened.describe,
                                                       "data_describe": data.describe()}}
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    return manifest


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise HostError(f"{path} cannot be read: delete it to harvest into this folder again") from None
