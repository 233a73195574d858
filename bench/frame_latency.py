"""A step of a frame view -> the changed frame on screen, in a real browser, against the trivial two-page app's server
round trip (its slider -> its chart's marker), in the same run. The views step through frames already in the page
(ui/stepper.py): the Dynamics step, the Filters filmstrip, the Samples depth. Then Play's frame rate, alone and
while another tab keeps the server busy.

    .venv/bin/python bench/frame_latency.py [--moves 40]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.slider_latency import measure as floor_measure, summary  # noqa: E402
from tests.browser import ROOT, browser_page, streamlit_server, wait_idle  # noqa: E402

FIND = ("() => window.__st || (window.__st = [...document.querySelectorAll('*')].find(e => e.shadowRoot && "
        "e.shadowRoot.querySelector('.stepper'))?.shadowRoot.querySelector('.stepper'))")
AT = f"(v) => {{ const s = ({FIND})(); return s && s.dataset.step === String(v); }}"
VIEWS = {"Dynamics step": ("dynamics", "model=default:drsae-400x11"),
         "Filters filmstrip": ("filters", "model=default:drsae-400x11"),
         "Samples depth": ("samples", "model=default:rg-vae")}


def steps(page, moves: int) -> list[float]:
    """Key presses on the page (←, →), each timed until the frame's step is on screen (polled every frame)."""
    page.evaluate("() => { window.__st = null; }")
    page.get_by_role("heading").first.click()
    value = int(page.evaluate(f"() => ({FIND})().dataset.step"))
    times = []
    for i in range(moves + 3):  # the first moves are dropped
        key, value = ("ArrowLeft", value - 1) if i % 2 == 0 else ("ArrowRight", value + 1)
        t0 = time.perf_counter()
        page.keyboard.press(key)
        page.wait_for_function(AT, arg=value, polling="raf", timeout=10_000)
        times.append(time.perf_counter() - t0)
    return times[3:]


def play_rate(page, seconds: float = 6.0) -> tuple[float, float]:
    """Frames per second of Play, and the 95th percentile of the gaps between frames (ms), from the page's own
    clock (a MutationObserver on the shown step)."""
    page.evaluate(f"""() => {{ const s = ({FIND})(); window.__t = []; if (window.__obs) window.__obs.disconnect();
        window.__obs = new MutationObserver(() => window.__t.push(performance.now()));
        window.__obs.observe(s, {{attributes: true, attributeFilter: ['data-shown']}}); }}""")
    page.keyboard.press(" ")
    page.wait_for_timeout(seconds * 1000)
    page.keyboard.press(" ")
    t = page.evaluate("() => window.__t")
    gaps = sorted(b - a for a, b in zip(t, t[1:]))
    return (len(t) - 1) / ((t[-1] - t[0]) / 1000), gaps[min(len(gaps) - 1, int(0.95 * (len(gaps) - 1)))]


def busy(url: str, stop: threading.Event) -> None:
    """Another tab moving the Overview's unroll slider back and forth: the server reruns all the while."""
    with browser_page() as page:
        page.goto(url)
        page.wait_for_selector(".js-plotly-plot", timeout=120_000)
        thumb = page.locator('[data-testid="stSlider"]', has_text="Unroll steps").locator('input[type="range"]')
        thumb.focus()
        i = 0
        while not stop.is_set():
            thumb.press("ArrowLeft" if i % 2 else "ArrowRight")
            i += 1
            page.wait_for_timeout(50)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--moves", type=int, default=40)
    a = p.parse_args()
    env = {"SPARSELAB_DATA": ""}  # the embedded models and samples, as on a fresh machine
    floor = summary(floor_measure(ROOT / "bench" / "floor_app.py", a.moves, env))
    rows = {}
    with streamlit_server(ROOT / "app.py", env) as url, browser_page() as page:
        for name, (path, query) in VIEWS.items():
            page.goto(f"{url}/{path}?{query}")
            page.wait_for_selector(".stepper", timeout=120_000)
            wait_idle(page, 120_000)
            rows[name] = summary(steps(page, a.moves))
        page.goto(f"{url}/dynamics")
        page.wait_for_selector(".stepper", timeout=120_000)
        wait_idle(page)
        page.get_by_role("heading").first.click()
        alone = play_rate(page)
        stop = threading.Event()
        other = threading.Thread(target=busy, args=(url, stop))
        other.start()
        time.sleep(8)  # the other tab is up and moving
        page.evaluate("() => { window.__st = null; }")
        loaded = play_rate(page)
        stop.set()
        other.join()
    print(f"{'':30s} {'p50 (ms)':>9s} {'p95 (ms)':>9s} {'p50 ratio':>10s} {'p95 ratio':>10s}")
    print(f"{'trivial app, server round trip':30s} {1000 * floor[0]:9.1f} {1000 * floor[1]:9.1f}")
    for name, (p50, p95) in rows.items():
        print(f"{name:30s} {1000 * p50:9.1f} {1000 * p95:9.1f} {p50 / floor[0]:10.2f} {p95 / floor[1]:10.2f}")
    print(f"Play (interval 0.6 s): {alone[0]:.2f} frames/s alone (gap p95 {alone[1]:.0f} ms), {loaded[0]:.2f} "
          f"frames/s with another tab rerunning the server (gap p95 {loaded[1]:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
