"""Where a run's training batches come from, in an order that a checkpoint can resume exactly.

- `InMemory`: a split held in memory (digits, patches, generated data) goes to the device whole; each epoch is a
  fresh permutation of its rows drawn from the run's generator, which the checkpoint keeps with the permutation.
- `Streamed`: a split on disk (models/data.StoredSplit, any size). Each epoch permutes chunks of CHUNK_BYTES of
  consecutive rows and reads them a window at a time (WINDOW_BYTES of samples, a few thousand chunks from all over
  the split), shuffling the window's rows. A batch of B rows then comes from about min(B, chunks a window) places of
  the split; a split that fits in one window is shuffled whole, as `InMemory` would. The order is a function of the
  run's seed and the epoch alone, so a checkpoint keeps only how many batches of the epoch are done. The next window
  is read on a thread while the current one trains: memory holds two windows, whatever the file's size.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from models.data import Split, StoredSplit

WINDOW_BYTES = 128 << 20  # float32 samples a window holds
CHUNK_BYTES = 64 << 10  # consecutive samples read together
MAX_CHUNKS = 1 << 20  # an epoch's permutation of chunks stays a few MB
START_SAMPLES = 16_384  # what a family's start (its mean, its first dictionary) reads of a split on disk


class InMemory:
    """The whole split on the device; an epoch is a permutation of its rows from the run's generator."""

    def __init__(self, split: Split, batch_size: int, device, generator: torch.Generator):
        self.x = split.x.to(device)
        self.y = None if split.y is None else split.y.to(device)
        self.batch_size, self.generator, self.device = batch_size, generator, device
        self.n_batches = math.ceil(len(self.x) / batch_size)
        self.perm = None

    def resume(self, state) -> None:
        self.perm = state  # the epoch's permutation (None: between epochs)

    def state(self):
        return self.perm

    def begin(self, batch: int) -> bool:
        """Start a new epoch unless a resumed one is under way; True when one starts."""
        if self.perm is not None:
            return False
        self.perm = torch.randperm(len(self.x), generator=self.generator)
        return True

    def end(self) -> None:
        self.perm = None

    def batches(self, epoch: int, start: int):
        perm = self.perm.to(self.device)
        bs = self.batch_size
        for b in range(start, self.n_batches):
            idx = perm[b * bs:(b + 1) * bs]
            yield self.x[idx], None if self.y is None else self.y[idx]

    def draw(self, k: int, generator: torch.Generator) -> torch.Tensor:
        """k training inputs at random (a family's upkeep: dead latents restarted on them)."""
        return self.x[torch.randperm(len(self.x), generator=generator)[:k].to(self.x.device)]


class Streamed:
    """A split on disk, read a window at a time in an order set by (seed, epoch)."""

    def __init__(self, split: StoredSplit, batch_size: int, device, seed: int):
        self.split, self.batch_size, self.device, self.seed = split, batch_size, device, seed
        self.n = len(split)
        self.n_batches = math.ceil(self.n / batch_size)
        row_bytes = split.rows.dim * 4
        self.chunk = max(1, CHUNK_BYTES // row_bytes, math.ceil(self.n / MAX_CHUNKS))
        self.n_chunks = math.ceil(self.n / self.chunk)
        window_rows = max(batch_size, WINDOW_BYTES // row_bytes)
        self.chunks_a_window = max(1, window_rows // self.chunk)

    def resume(self, state) -> None:
        pass  # the order is (seed, epoch)'s; the batch count says where in it

    def state(self):
        return None

    def begin(self, batch: int) -> bool:
        return batch == 0

    def end(self) -> None:
        pass

    def windows(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's permutation of chunks, and where each window ends (in positions of the epoch's order)."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n_chunks)
        sizes = np.minimum(self.chunk, self.n - order * self.chunk)
        ends = np.cumsum(sizes)[self.chunks_a_window - 1::self.chunks_a_window]
        if len(ends) == 0 or ends[-1] != self.n:
            ends = np.r_[ends, self.n]
        return order, ends

    def positions(self, epoch: int, w: int, order: np.ndarray) -> np.ndarray:
        """Window w's split positions, shuffled."""
        starts = order[w * self.chunks_a_window:(w + 1) * self.chunks_a_window] * self.chunk
        lengths = np.minimum(self.chunk, self.n - starts)
        pos = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())
        return pos[np.random.default_rng([self.seed, epoch, w]).permutation(len(pos))]

    def batches(self, epoch: int, start: int):
        """Batches `start`.. of the epoch; the next window read on a thread while this one trains."""
        order, ends = self.windows(epoch)
        bs, p = self.batch_size, start * self.batch_size
        if p >= self.n:
            return
        w = int(np.searchsorted(ends, p, side="right"))
        load = lambda k: self.split.take(self.positions(epoch, k, order))  # noqa: E731
        pool = ThreadPoolExecutor(1, thread_name_prefix="window")
        try:
            window = load(w)
            offset = p - (int(ends[w - 1]) if w else 0)
            ahead = pool.submit(load, w + 1) if w + 1 < len(ends) else None
            while True:
                take = window.take(slice(offset, offset + bs))
                offset += len(take)
                while len(take) < bs and ahead is not None:  # the batch continues in the next window
                    window, w = ahead.result(), w + 1
                    ahead = pool.submit(load, w + 1) if w + 1 < len(ends) else None
                    more = window.take(slice(0, bs - len(take)))
                    offset = len(more)
                    take = _joined(take, more)
                if len(take) == 0:
                    return
                yield (take.x.to(self.device, non_blocking=True),
                       None if take.y is None else take.y.to(self.device, non_blocking=True))
                if offset >= len(window) and ahead is None:
                    return
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def draw(self, k: int, generator: torch.Generator) -> torch.Tensor:
        pick = torch.randint(0, self.n, (k,), generator=generator).numpy()
        return self.split.take(pick).x.to(self.device)


def _joined(a: Split, b: Split) -> Split:
    cat = lambda s, t: None if s is None else torch.cat([s, t])  # noqa: E731
    return Split(torch.cat([a.x, b.x]), cat(a.y, b.y), None, cat(a.row_scale, b.row_scale))


def source_for(split, batch_size: int, device, generator: torch.Generator, seed: int):
    """The batch source of a training split: streamed from disk, or in memory."""
    if isinstance(split, StoredSplit):
        return Streamed(split, batch_size, device, seed)
    return InMemory(split, batch_size, device, generator)


def start_rows(split, seed: int) -> torch.Tensor:
    """What a family's start reads (its mean, its first dictionary): a split in memory whole; one on disk,
    START_SAMPLES of its rows in chunks drawn from all over it."""
    if not isinstance(split, StoredSplit):
        return split.x
    return split.take(split.rows.spread(START_SAMPLES, seed)).x
