"""TensorBoard event files beside a run's metrics, so `tensorboard --logdir runs` shows every run: each epoch's numbers
as scalars (the same values as metrics.jsonl, at step = epochs done), the decoder filters at the epochs the snapshots
keep as an image, and the units' activation densities on the validation samples as a histogram.

    runs/NAME/tensorboard/events.out.tfevents.*

A resumed run purges the events after its checkpoint (TensorBoard's purge_step), as metrics.jsonl is rewritten.
"""
from __future__ import annotations

import math
import sys
import threading
from pathlib import Path

import numpy as np

FOLDER = "tensorboard"
TILES = 64  # decoder filters in the image: the first this many units


class Writer:
    """TensorBoard files are a by-product: when they cannot be written (a read-only or full disk, a file where the
    folder belongs) the run trains on without them and says so once, in one line."""

    def __init__(self, run: Path, resume_at: int | None = None, image_shape: tuple[int, int] | None = None):
        self.folder, self.image_shape, self.w, self.off = Path(run) / FOLDER, image_shape, None, None
        _quiet_writer_threads()
        try:
            from torch.utils.tensorboard import SummaryWriter

            # a resumed run starts again after its checkpoint's epoch: events past it were never checkpointed
            self.w = SummaryWriter(str(self.folder), purge_step=None if resume_at is None else resume_at + 1)
        except Exception as e:  # noqa: BLE001 (whatever the writer raises, the run goes on)
            self._stop(e)

    def epoch(self, row: dict, decoder: np.ndarray | None = None, density: np.ndarray | None = None) -> None:
        """One epoch: `row` a metrics row (its numbers as scalars), the filters where a snapshot is kept, the units'
        activation densities."""
        if self.w is None:
            return
        step = int(row["epoch"]) + 1
        try:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self.w.add_scalar(k, v, step)
            if decoder is not None and self.image_shape is not None:
                self.w.add_image("decoder filters", tile(decoder[:TILES], self.image_shape), step, dataformats="HW")
            if density is not None and len(density):
                self.w.add_histogram("activation density", np.asarray(density, dtype=np.float64), step)
            self.w.flush()
        except Exception as e:  # noqa: BLE001
            self._stop(e)

    def close(self) -> None:
        if self.w is not None:
            try:
                self.w.close()
            except Exception as e:  # noqa: BLE001
                self._stop(e)

    def _stop(self, e: BaseException) -> None:
        """Write no more events; say why once (on the trainer's stderr: the run's train.log)."""
        if self.off is None:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
            self.off = f"TensorBoard files are not written in {self.folder} ({reason}); the run trains on without them"
            print(f"warning: {self.off}", file=sys.stderr, flush=True)
        w, self.w = self.w, None
        if w is not None:
            try:
                w.close()
            except Exception:  # noqa: BLE001 (its writer already failed: closing it may fail the same way)
                pass


_QUIET = []


def _quiet_writer_threads() -> None:
    """TensorBoard's writer thread raises its error again as it dies (a traceback on stderr) and then hands it to the
    next write, where Writer says it in one line: the thread's own traceback is left out."""
    if _QUIET:
        return
    previous = threading.excepthook

    def hook(args):
        if type(args.thread).__name__ != "_AsyncWriterThread":
            previous(args)

    threading.excepthook = hook
    _QUIET.append(hook)


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
