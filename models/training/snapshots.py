"""Filter snapshots over training, played as a filmstrip on the Filters page: the encoder rows and decoder columns
of a model with filters, as float16, at a few epochs spaced evenly in log(epoch) (the filters change most early
on), as many as fit in BUDGET bytes a run.

    runs/NAME/snapshots.safetensors   encoder.E, decoder.E (units × n_input) for each snapshot epoch E
                                      (0: before training), and `units`, the unit numbers the file keeps
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from models.checkpoint import atomic_write
from models.training import run_folder

SNAPSHOTS = "snapshots.safetensors"
BUDGET = 10_000_000  # bytes a run's snapshots may take
HEADER = 65_536  # what a safetensors file adds to its tensors' bytes, at most (its header and alignment)


class SnapshotError(ValueError):
    """A snapshots file that is there but cannot be read."""


def schedule(total_epochs: int, frame_bytes: int, budget: int = BUDGET) -> list[int]:
    """The epochs to keep: 0 (the start) and up to budget // frame_bytes - 1 more, log-spaced from 1 to the last."""
    frames = max(2, budget // max(frame_bytes, 1))
    if frames > total_epochs:
        return list(range(total_epochs + 1))
    later = np.unique(np.round(np.geomspace(1, total_epochs, frames - 1)).astype(int)) if frames > 2 else [total_epochs]
    return [0, *(int(e) for e in later if e <= total_epochs)]


def frame_bytes(units: int, n_input: int) -> int:
    return 2 * units * n_input * 2  # encoder and decoder, float16


def kept_units(units: int, n_input: int, budget: int = BUDGET) -> int:
    """How many units' filters the frames keep: all, unless two frames (the start and the end) of them would not fit
    the budget (4,096 units of 784 values: 1,583)."""
    return max(1, min(units, (budget - HEADER) // (2 * frame_bytes(1, n_input))))


@dataclass
class Filmstrip:
    epochs: np.ndarray  # (frames,) after how many epochs (0: before training)
    units: np.ndarray  # (kept,) the unit numbers the frames hold
    encoder: np.ndarray  # (frames, kept, n_input) float32
    decoder: np.ndarray  # (frames, kept, n_input)

    def __len__(self) -> int:
        return len(self.epochs)


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise SnapshotError(f"{path} cannot be read ({e})") from None


def record(run: str | Path, epoch: int, total_epochs: int, encoder: np.ndarray, decoder: np.ndarray) -> bool:
    """Add the filters after `epoch` epochs to the run's snapshots if the schedule keeps that epoch. The file is
    rewritten atomically; a damaged one is started afresh (it holds nothing the run needs)."""
    units, n_input = encoder.shape
    kept = kept_units(units, n_input)
    if epoch not in schedule(total_epochs, frame_bytes(kept, n_input)):
        return False
    path = Path(run) / SNAPSHOTS
    tensors = {}
    if path.is_file():
        try:
            tensors = _read_tensors(path)
        except SnapshotError:
            tensors = {}
    tensors["units"] = torch.arange(kept)
    tensors[f"encoder.{epoch}"] = torch.from_numpy(np.asarray(encoder[:kept], dtype=np.float16))
    tensors[f"decoder.{epoch}"] = torch.from_numpy(np.asarray(decoder[:kept], dtype=np.float16))
    atomic_write(path, st_save({k: v.contiguous() for k, v in tensors.items()}))
    return True


def read(source: str | Path) -> Filmstrip | None:
    """A run folder's (or a snapshots file's) filmstrip, frames in epoch order; None where there is none."""
    path = run_folder.folder_of(source) / SNAPSHOTS
    if not path.is_file():
        return None
    t = _read_tensors(path)
    epochs = sorted(int(k.split(".", 1)[1]) for k in t if k.startswith("encoder."))
    if not epochs or "units" not in t or any(f"decoder.{e}" not in t for e in epochs):
        raise SnapshotError(f"{path} is incomplete (no units, or an encoder without its decoder)")
    shapes = {tuple(t[f"{part}.{e}"].shape) for part in ("encoder", "decoder") for e in epochs}
    if len(shapes) != 1 or t["units"].ndim != 1 or next(iter(shapes))[0] != len(t["units"]) or len(next(iter(shapes))) != 2:
        raise SnapshotError(f"{path} holds frames of other sizes than its units ({sorted(shapes)} for "
                            f"{len(t['units'])} units)")
    stack = lambda part: np.stack([t[f"{part}.{e}"].float().numpy() for e in epochs])  # noqa: E731
    return Filmstrip(np.array(epochs), t["units"].numpy(), stack("encoder"), stack("decoder"))


def trim(source: str | Path, dest: str | Path, units: np.ndarray, epochs: list[int] | None = None) -> int:
    """Copy a filmstrip keeping only some units (and epochs): an embedded model's smaller copy. Returns bytes."""
    strip = read(source)
    if strip is None:
        raise SnapshotError(f"{source} has no snapshots")
    keep = [i for i, e in enumerate(strip.epochs) if epochs is None or e in epochs]
    pos = np.searchsorted(strip.units, units)
    tensors = {"units": torch.from_numpy(np.asarray(units, dtype=np.int64))}
    for i in keep:
        e = int(strip.epochs[i])
        tensors[f"encoder.{e}"] = torch.from_numpy(strip.encoder[i][pos].astype(np.float16))
        tensors[f"decoder.{e}"] = torch.from_numpy(strip.decoder[i][pos].astype(np.float16))
    data = st_save(tensors)
    atomic_write(Path(dest), data)
    return len(data)
