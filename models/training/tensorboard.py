"""TensorBoard event files beside a run's metrics, so `tensorboard --logdir runs` shows every run: each epoch's numbers
as scalars (the same values as metrics.jsonl, at step = epochs done), the decoder filters at the epochs the snapshots
keep as an image, and the units' activation densities on the validation samples as a histogram.

    runs/NAME/tensorboard/events.out.tfevents.*

A resumed run purges the events after its checkpoint (TensorBoard's purge_step), as metrics.jsonl is rewritten.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FOLDER = "tensorboard"
TILES = 64  # decoder filters in the image: the first this many units


class Writer:
    def __init__(self, run: Path, resume_at: int | None = None, image_shape: tuple[int, int] | None = None):
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run starts again after its checkpoint's epoch: events past it were never checkpointed
        self.w = SummaryWriter(str(Path(run) / FOLDER), purge_step=None if resume_at is None else resume_at + 1)
        self.image_shape = image_shape

    def epoch(self, row: dict, decoder: np.ndarray | None = None, density: np.ndarray | None = None) -> None:
        """One epoch: `row` a metrics row (its numbers as scalars), the filters where a snapshot is kept, the units'
        activation densities."""
        step = int(row["epoch"]) + 1
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                self.w.add_scalar(k, v, step)
        if decoder is not None and self.image_shape is not None:
            self.w.add_image("decoder filters", tile(decoder[:TILES], self.image_shape), step, dataformats="HW")
        if density is not None and len(density):
            self.w.add_histogram("activation density", np.asarray(density, dtype=np.float64), step)
        self.w.flush()

    def close(self) -> None:
        self.w.close()


def tile(filters: np.ndarray, shape: tuple[int, int], pad: int = 1) -> np.ndarray:
    """(n, h·w) filters as one grey image in [0, 1], each on its own symmetric scale, 0 at mid-grey."""
    h, w = shape
    n = len(filters)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 0.5, dtype=np.float32)
    for k, f in enumerate(np.asarray(filters, dtype=np.float32)):
        img = f.reshape(h, w) / max(float(np.abs(f).max()), 1e-12)
        r, c = divmod(k, cols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = 0.5 + img / 2
    return out
