"""Slider move -> changed figure, in a real browser: sparselab's Overview page against a trivial
two-page Streamlit app with one slider and one small chart (the framework's floor), in the same run.
`--view dynamics`: instead, the Dynamics page's step slider; `--view intervened`: the same with an intervention
shown beside the untouched digit (every categorical unit ablated: two traces, both cached after the first view).

    .venv/bin/python bench/slider_latency.py [--moves 40] [--view overview|dynamics|intervened]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser import ROOT, browser_page, streamlit_server, wait_idle  # noqa: E402

# The first chart's first shape is the vertical marker at the slider's value, in both apps.
MARKER_AT = ("(v) => { const d = document.querySelectorAll('.js-plotly-plot')[0];"
             " return d && d.layout.shapes && d.layout.shapes[0] && d.layout.shapes[0].x0 === v; }")


def measure(script: Path, moves: int, env: dict, view: str = "overview") -> list[float]:
    with streamlit_server(script, env) as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector(".js-plotly-plot", timeout=120_000)
        wait_idle(page)
        label = "Unroll steps"
        if view != "overview":
            page.locator('[data-testid="stSidebarNavLink"]', has_text="Dynamics").click()
            page.wait_for_selector("text=Step t", timeout=60_000)
            wait_idle(page)
            label = "Step t"
        if view == "intervened":
            page.get_by_text("Ablate or clamp units from a step on").click()
            page.wait_for_selector("text=units held at 0 from step 1", timeout=60_000)
            wait_idle(page)
        thumb = page.locator('[data-testid="stSlider"]', has_text=label).locator('input[type="range"]')
        value = int(thumb.input_value())
        if view != "overview":  # the step slider starts at its right end: step down and back
            value -= 1
            thumb.focus()
            thumb.press("ArrowLeft")
            wait_idle(page)
        thumb.focus()
        times = []
        for i in range(moves + 3):  # the first moves warm the caches and are dropped
            key, value = ("ArrowRight", value + 1) if i % 2 == 0 else ("ArrowLeft", value - 1)
            t0 = time.perf_counter()
            thumb.press(key)
            page.wait_for_function(MARKER_AT, arg=value, polling="raf", timeout=60_000)
            times.append(time.perf_counter() - t0)
            wait_idle(page)
        return times[3:]


def summary(ts: list[float]) -> tuple[float, float]:
    ts = sorted(ts)
    return statistics.median(ts), ts[min(len(ts) - 1, int(round(0.95 * (len(ts) - 1))))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--moves", type=int, default=40)
    p.add_argument("--view", choices=("overview", "dynamics", "intervened"), default="overview",
                   help="the Overview's unroll slider, or the Dynamics step slider without or with an intervention")
    a = p.parse_args()
    env = {"SPARSELAB_DATA": ""}  # the embedded default and its 1,000 digits, as on a fresh machine
    floor = summary(measure(ROOT / "bench" / "floor_app.py", a.moves, env))
    ours = summary(measure(ROOT / "app.py", a.moves, env, a.view))
    name = {"overview": "sparselab Overview", "dynamics": "Dynamics", "intervened": "Dynamics, intervened"}[a.view]
    print(f"{'':24s} {'p50 (ms)':>9s} {'p95 (ms)':>9s}")
    print(f"{'trivial app (floor)':24s} {1000 * floor[0]:9.0f} {1000 * floor[1]:9.0f}")
    print(f"{name:24s} {1000 * ours[0]:9.0f} {1000 * ours[1]:9.0f}")
    print(f"{'ratio':24s} {ours[0] / floor[0]:9.2f} {ours[1] / floor[1]:9.2f}   (targets: p50 <= 1.5, p95 <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
