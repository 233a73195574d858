"""How the server process is tuned for many tabs on few cores (app.py calls `tune` on every run; it is idempotent).
Measured in docs/results.md ("Ten tabs", "First opens")."""
from __future__ import annotations

import ctypes
import os
from functools import cache

import torch

M_ARENA_MAX = -8  # glibc's mallopt parameter: how many malloc arenas the threads share
ARENAS = 2


def tune() -> None:
    """Torch uses one thread fewer than the server's cores (at least one): the core left is for Streamlit's event
    loop, the worker (ui/background.py) and other tabs. On two cores torch's second OpenMP thread otherwise waits on
    them at every operation: the Units page's first open took 3.8 s instead of 1.7 s.

    And every script run is a new thread, which glibc gives a malloc arena of its own, up to 8 per core: the
    server's memory rose by ~90 MB over the first hundred slider moves and crept on after. Two arenas keep it flat
    (ten tabs, 300 moves: 706–746 MB against 850–869 MB), at the same speed."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() != max(1, cores - 1):
        torch.set_num_threads(max(1, cores - 1))
    _cap_arenas()


@cache
def _cap_arenas() -> None:
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, ARENAS)
    except (AttributeError, OSError):  # not glibc (macOS, musl): its allocator, its ways
        pass
