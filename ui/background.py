"""Slow, optional work (a probe at every step, a bound, a fit per filter, measuring four models) done by a worker
thread while the page shows what it already has: a progress bar in its place, the page filled in once it is done.

One worker per server (two cores: the script threads keep the other), shared by every tab and keyed like the compute
cache, so a second tab asking for the same work waits on the same task. The work is a models/ function: it gets its
inputs from the script thread and never calls st.* (only the page's follower does, in the script thread).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Hashable

import streamlit as st

from ui.text import plain

KEEP = 24  # finished tasks kept (their results: what the page shows); the oldest go first
POLL_S = 0.5  # how often a page waiting on a task looks at it
WAITING = "the rest of the page is ready"  # the end of every such bar's text (bench/first_open.py waits for none)

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparselab-background")
_TASKS: OrderedDict[Hashable, "Task"] = OrderedDict()
_LOCK = threading.Lock()


@dataclass
class Task:
    key: Hashable  # what it is asked by, as the compute cache keys it
    label: str  # what it does, for its progress bar: "Fitting a linear probe at each step"
    future: Future = field(default_factory=Future)
    done_share: float = 0.0  # 0..1, as the work reports it

    def report(self, share: float) -> None:
        self.done_share = min(max(float(share), 0.0), 1.0)

    @property
    def failed(self) -> BaseException | None:
        return self.future.exception() if self.future.done() else None


def start(key: Hashable, label: str, work: Callable[[Callable[[float], None]], object]) -> Task:
    """The task for `key`, started once: `work(report)` runs on the worker, `report(share)` moves its bar."""
    with _LOCK:
        task = _TASKS.get(key)
        if task is not None:
            _TASKS.move_to_end(key)
            return task
        task = _TASKS[key] = Task(key, label)
        done = [k for k, t in _TASKS.items() if t.future.done()]
        for k in done[:max(len(done) - KEEP, 0)]:
            del _TASKS[k]

    def run() -> None:
        if task.future.set_running_or_notify_cancel():
            try:
                task.future.set_result(work(task.report))
            except BaseException as e:  # the page says it; the server goes on
                task.future.set_exception(e)

    _POOL.submit(run)
    return task


def forget(key: Hashable) -> None:
    """Drop a task (a failed one, so that asking again starts it again)."""
    with _LOCK:
        _TASKS.pop(key, None)


def wait(key: Hashable, timeout: float | None = None):
    """Block until the task for `key` is done and return its result (tests; a command line)."""
    return _TASKS[key].future.result(timeout)


def shown(task: Task, where=None):
    """In a page: the task's result once it is done; until then None, and `where` (a container, st by default)
    shows a progress bar that follows the task and reruns the page when it ends. A failure is said in one line,
    with a button to try again."""
    results = shown_all([task], where)
    return None if results is None else results[0]


def shown_all(tasks: list[Task], where=None) -> list | None:
    """Like `shown` for several tasks behind one bar (one per model compared): all their results, or None."""
    where = where or st
    failed = [t for t in tasks if t.failed is not None]
    for task in failed:
        where.error(f"{task.label} failed: {plain(task.failed)}")
    if failed:
        if where.button("Try again", key=f"bg-retry-{abs(hash(tuple(t.key for t in failed)))}"):
            for task in failed:
                forget(task.key)
            st.rerun()
        return None
    if all(t.future.done() for t in tasks):
        return [t.future.result() for t in tasks]
    with where.container():
        _follow(tasks)
    return None


@st.fragment(run_every=POLL_S)
def _follow(tasks: list[Task]) -> None:
    """The tasks' bar, redrawn every POLL_S seconds; the whole page reruns once they are all done."""
    if all(t.future.done() for t in tasks):
        st.rerun()
    share = sum(1.0 if t.future.done() else t.done_share for t in tasks) / len(tasks)
    label = "; ".join(dict.fromkeys(t.label for t in tasks))
    queued = not any(t.future.running() or t.future.done() for t in tasks)  # the worker is on another page's work
    st.progress(share, text=f"{label}… {'queued behind other work' if queued else f'{share:.0%}'} ({WAITING})")
