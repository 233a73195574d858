"""Every page's first open on a fresh server, for each embedded model its family can show: the time from navigation
(a new tab on the page's link) to the page drawn (the server's last whole script run for that tab, before any
fragment's tick), cold (the first tab to open that page with that model) and warm (a second tab, the server's caches
filled); and, where the page leaves slow optional work to the worker (ui/background.py) behind a progress bar, the
time until that bar has given way to what it measured ("complete"). The trivial two-page app's first open is the
floor, in the same run.

    .venv/bin/python bench/first_open.py [--models default:drsae-400x11,...] [--pages Runs,Units] [--cpus 0,1]
        [--load 2]   (a loaded machine: processes multiplying matrices beside the server)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.tabs_load import finished_times  # noqa: E402
from tests.browser import ROOT, browser_page, streamlit_server, wait_idle  # noqa: E402
from ui.background import WAITING  # noqa: E402

MODEL_FREE = {"Training", "Sweep", "Compare", "Benchmark", "Runs"}  # pages that show no one model: opened once


def pages_for(key: str) -> list[tuple[str, str]]:
    """(title, URL path) of the pages the model offers."""
    from models.checkpoint import load_model
    from models.families import of_model
    from models.services import catalog
    from ui import nav

    entry = next(e for e in catalog.entries() if e.key == key)
    model, _ = load_model(entry.path)
    caps = of_model(model).capabilities_of(model.cfg).with_data(entry.data.layout())
    return [(p.title, Path(p.path).stem) for p in nav.offered(caps)]


WHOLE = 0  # ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY: a whole run (not cut short, not a fragment's)


def open_once(browser, url: str) -> tuple[float, float]:
    """Seconds from navigation to the page drawn (the first whole script run to finish; a run cut short by the
    page's own st.rerun does not count), and to the page complete (no progress bar left: the last whole run then)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        statuses: list[int] = []
        done = finished_times(page, statuses)
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("h1, .js-plotly-plot", timeout=180_000)
        wait_idle(page, 180_000)
        page.wait_for_timeout(1000)  # a run that follows (a redraw the page asked for) counts too
        wait_idle(page, 180_000)
        whole = [t for t, s in zip(done, statuses) if s == WHOLE]
        drawn = (whole[0] if whole else time.perf_counter()) - t0
        page.wait_for_function("(text) => ![...document.querySelectorAll('[data-testid=\"stProgress\"]')]"
                               ".some(bar => bar.innerText.includes(text))", arg=WAITING, timeout=300_000)
        wait_idle(page, 180_000)
        whole = [t for t, s in zip(done, statuses) if s == WHOLE]
        return drawn, (whole[-1] if whole else time.perf_counter()) - t0
    finally:
        page.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="default:drsae-400x11,default:ista-400x11,default:lista-400x11,"
                   "default:structured-drsae-400x11,default:rg-vae,default:topk-sae-128,default:ista-patches-256,"
                   "default:ista-synthetic-64")
    p.add_argument("--cpus", default=None, help="pin the servers to these cores (taskset list)")
    p.add_argument("--pages", default=None, help="only these pages' titles, comma-separated (default: all)")
    p.add_argument("--load", type=int, default=0, help="a loaded machine: this many processes multiplying "
                   "matrices with every core's thread beside the server while it is measured (default: quiet)")
    a = p.parse_args()
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(a.load)]
    try:
        return measure(a)
    finally:
        for b in burners:
            b.kill()


BURN = "import torch\na = torch.randn(1024, 1024)\nwhile True:\n    a = torch.tanh(a @ a)"  # a trainer's load


def measure(a) -> int:
    runs = tempfile.mkdtemp(prefix="sparselab-first-open-")  # no runs yet, as on a fresh machine
    env = {"SPARSELAB_DATA": "", "SPARSELAB_RUNS": runs}  # the embedded models and samples
    with streamlit_server(ROOT / "bench" / "floor_app.py", env, cpus=a.cpus) as served, browser_page() as first:
        url = served[0] if isinstance(served, tuple) else served
        floor = [open_once(first.context.browser, url)[0] for _ in range(2)]
    rows = []
    with streamlit_server(ROOT / "app.py", env, cpus=a.cpus) as served, browser_page() as first:
        url = served[0] if isinstance(served, tuple) else served
        browser = first.context.browser
        seen = set()
        for key in a.models.split(","):
            for title, stem in pages_for(key):
                if a.pages and title not in a.pages.split(","):
                    continue
                if title in MODEL_FREE and title in seen and not a.pages:  # asked for: on each model
                    continue
                seen.add(title)
                link = f"{url}/{stem if stem != 'overview' else ''}?model={key}"
                (cold, complete), (warm, _) = open_once(browser, link), open_once(browser, link)
                rows.append((key.split(":")[1], title, cold, complete, warm))
                print(f"{rows[-1][0]:26s} {title:16s} {cold:6.2f} {complete:6.2f} {warm:6.2f}", flush=True)
    print(f"\nfloor (trivial app): cold {floor[0]:.2f} s, warm {floor[1]:.2f} s")
    print("| model | page | cold: drawn (s) | cold: complete (s) | warm: drawn (s) |\n|---|---|---|---|---|")
    for model, title, cold, complete, warm in rows:
        print(f"| {model} | {title} | {cold:.2f} | {complete:.2f} | {warm:.2f} |")
    slow = [r for r in rows if r[2] > 3]
    print(f"\n{len(slow)} of {len(rows)} first opens drawn after more than 3 s"
          + (": " + ", ".join(f"{m} {t} {c:.1f} s" for m, t, c, *_ in slow) if slow else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
