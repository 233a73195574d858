"""Ten browser tabs on different pages, each moving the unroll slider, against the trivial two-page app under the
same load, in the same run. A move's latency runs from the key press to the end of that tab's script run (the
server's "script finished" message on the tab's websocket). Each round moves the slider once in every tab, one tab
after the other (--burst: in every tab at once, so the ten reruns compete). Also prints the server's resident
memory after every round. --profile samples the sparselab server with py-spy over the counted rounds and prints where
its time went (`pip install py-spy`; requirements-bench.txt).

    .venv/bin/python bench/tabs_load.py [--rounds 20] [--cpus 0] [--burst] [--profile FILE]
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser import ROOT, browser_page, streamlit_server, wait_idle  # noqa: E402

PAGES = ["Overview", "Filters", "Dynamics", "Reconstructions", "Confusion", "Units",
         "Overview", "Dynamics", "Reconstructions", "Units"]


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its children (the trainers it may start are not counted: none here)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def finished_times(page, statuses: list[int] | None = None) -> list[float]:
    """Wall times at which the server said a script run finished, for this tab; `statuses`, if given, gets each
    one's ForwardMsg.ScriptFinishedStatus (a whole run, one cut short for a rerun, a fragment's run)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    times: list[float] = []

    def on_ws(ws):
        def frame(payload):
            if isinstance(payload, (bytes, bytearray)):
                msg = ForwardMsg()
                try:
                    msg.ParseFromString(bytes(payload))
                except Exception:
                    return
                if msg.WhichOneof("type") == "script_finished":
                    times.append(time.perf_counter())
                    if statuses is not None:
                        statuses.append(msg.script_finished)
        ws.on("framereceived", frame)

    page.on("websocket", on_ws)
    return times


def profiled(pid: int, out: str | None) -> subprocess.Popen | None:
    """py-spy sampling the server's threads into `out` (collapsed stacks) until stopped with SIGINT."""
    if not out:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "-o", out, "--rate", "100",
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


OURS = re.compile(r"\((app\.py|ui/|pages/|models/)")
PACKAGE = re.compile(r"\(([^/ :)]+)")


def where_time_went(raw: str, top: int = 15) -> list[str]:
    """From py-spy's collapsed stacks: the share of the script threads' samples under each of our functions
    (inclusive), and under each library where the stack leaves our code."""
    ours, libs, total = collections.Counter(), collections.Counter(), 0
    for line in Path(raw).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not any("_run_script" in f for f in frames):
            continue  # the event loop, websockets, py-spy's view of idle threads
        total += int(n)
        for f in dict.fromkeys(re.sub(r":\d+\)$", ")", f) for f in frames if OURS.search(f)):
            ours[f] += int(n)
        last = max((i for i, f in enumerate(frames) if OURS.search(f)), default=None)
        below = frames[last + 1:] if last is not None else frames
        package = PACKAGE.search(below[0]) if below else None
        libs["our code itself (and the native calls it makes: torch ops, numpy)" if last is not None and not below
             else (package.group(1) if package else "other") + ("" if last is not None else " (outside our code)")] \
            += int(n)
    lines = [f"script threads: {total} samples at 100 Hz (every thread's time, both cores)"]
    lines += [f"  {100 * n / total:5.1f} %  {f}" for f, n in ours.most_common(top)]
    lines += ["below our code, by library:"] + [f"  {100 * n / total:5.1f} %  {k}" for k, n in libs.most_common()]
    return lines


def measure(script: Path, rounds: int, env: dict, pages: list[str], cpus: str, burst: bool,
            profile: str | None = None) -> tuple[dict, list[float]]:
    """Each page's move latencies, and the server's resident memory (MB) before the first counted round and after
    each round."""
    with streamlit_server(script, env, cpus=cpus) as (url, pid), browser_page() as first:
        browser = first.context.browser
        tabs = []
        for i, name in enumerate(pages):  # each tab its own browser session, as separate users' tabs are
            page = first if i == 0 else browser.new_page(viewport={"width": 1400, "height": 1000})
            times = finished_times(page)
            page.goto(url)
            page.wait_for_selector('[data-testid="stSlider"]', timeout=120_000)
            wait_idle(page)
            if name:
                page.locator('[data-testid="stSidebarNavLink"]', has_text=name).first.click()
                page.wait_for_timeout(500)
                wait_idle(page, 120_000)
            thumb = page.locator('[data-testid="stSlider"]', has_text="Unroll steps").locator('input[type="range"]')
            tabs.append((name or "chart", page, thumb, times))
        rss, spy = [], None
        latencies: dict[str, list[float]] = {}
        for r in range(rounds + 1):  # the first round warms the caches and is dropped
            if r == 1:
                spy = profiled(pid, profile)
            key = "ArrowLeft" if r % 2 == 0 else "ArrowRight"
            started = []
            for name, page, thumb, times in tabs:
                thumb.focus()
                t0 = time.perf_counter()
                thumb.press(key)
                started.append((name, page, times, t0))
                if not burst:
                    _wait(started[-1:], r, latencies)
            if burst:
                _wait(started, r, latencies)
            for _, page, _, _ in started:
                wait_idle(page, 120_000)
            rss.append(rss_mb(pid))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        return latencies, rss


def _wait(started, r: int, latencies: dict) -> None:
    """Until each started move's run has finished; records its latency (not in the warm-up round 0)."""
    for name, page, times, t0 in started:
        deadline = time.perf_counter() + 120
        while not [t for t in times if t > t0] and time.perf_counter() < deadline:
            page.wait_for_timeout(10)
        done = [t for t in times if t > t0]
        if r and done:
            latencies.setdefault(name, []).append(min(done) - t0)


def pct(ts: list[float], q: float) -> float:
    ts = sorted(ts)
    return ts[min(len(ts) - 1, int(round(q * (len(ts) - 1))))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--burst", action="store_true", help="press in every tab at once")
    p.add_argument("--cpus", default=None, help="taskset core list for the servers: 0 is one CPU (default: all)")
    p.add_argument("--profile", default=None, help="py-spy's samples of the sparselab server go to this file")
    a = p.parse_args()
    a.cpus = a.cpus or f"0-{(os.cpu_count() or 1) - 1}"
    env = {"SPARSELAB_DATA": ""}  # the embedded default and its 1,000 digits, as on a fresh machine
    floor, f_rss = measure(ROOT / "bench" / "floor_app.py", a.rounds, env, [""] * len(PAGES), a.cpus, a.burst)
    ours, rss = measure(ROOT / "app.py", a.rounds, env, PAGES, a.cpus, a.burst, a.profile)
    base = [t for ts in floor.values() for t in ts]
    b50, b95 = statistics.median(base), pct(base, 0.95)
    how = "in every tab at once" if a.burst else "in each tab in turn"
    print(f"{len(PAGES)} tabs, {a.rounds} rounds of one move {how}; servers on cores {a.cpus}")
    print(f"{'':22s} {'moves':>5s} {'p50 (ms)':>9s} {'p95 (ms)':>9s} {'p50 ratio':>9s} {'p95 ratio':>9s}")
    print(f"{'trivial app (floor)':22s} {len(base):5d} {1000 * b50:9.0f} {1000 * b95:9.0f} {1.0:9.2f} {1.0:9.2f}")
    for name in dict.fromkeys(PAGES):
        ts = ours.get(name, [])
        if ts:
            m, q = statistics.median(ts), pct(ts, 0.95)
            print(f"{name:22s} {len(ts):5d} {1000 * m:9.0f} {1000 * q:9.0f} {m / b50:9.2f} {q / b95:9.2f}")
    print(f"server RSS: trivial app {f_rss[0]:.0f} -> {f_rss[-1]:.0f} MB; sparselab {rss[0]:.0f} -> {rss[-1]:.0f} MB "
          f"(+{rss[-1] - rss[0]:.0f} MB over {a.rounds * len(PAGES)} moves after the warm-up round)")
    marks = sorted({min(a.rounds, round(a.rounds * k / 10)) for k in range(11)})
    print("sparselab RSS (MB) after moves: " + ", ".join(f"{r * len(PAGES)}: {rss[r]:.0f}" for r in marks))
    if a.profile and Path(a.profile).exists():
        print("\n".join(where_time_went(a.profile)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
