"""Wide dictionaries: `evaluate`, `units`, `report`, `export` and every page's first open for TopK SAEs of 4,096 and
16,384 latents (and more with --latents) on 768-d vectors with 10,000 test vectors, in one run. Lower is better.

The data: sparse combinations (8 of 2,000 unit atoms, exponential weights) in 768 dimensions, 50,000 training and
10,000 test vectors, labelled by the strongest atom's number mod 10. Each model trains one epoch (batch 256, k 32)
into a runs folder the first time; a page's first open is timed as bench/first_open.py does (a fresh server, a new
tab per page: navigation to the page drawn, and to the page complete where it leaves work behind a progress bar).

    .venv/bin/python bench/wide.py [--latents 4096,16384] [--folder /tmp/sparselab-wide] [--pages] [--commands]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
D, ATOMS, ACTIVE = 768, 2000, 8


def make_data(folder: Path) -> Path:
    data = folder / "data"
    if (data / "test.npy").is_file():
        return data
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((ATOMS, D)).astype(np.float32)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    for part, n in (("train", 50_000), ("test", 10_000)):
        which = rng.integers(0, ATOMS, (n, ACTIVE))
        weight = rng.exponential(1.0, (n, ACTIVE)).astype(np.float32)
        np.save(data / f"{part}.npy", np.einsum("nk,nkd->nd", weight, atoms[which]).astype(np.float32))
        np.save(data / f"{part}_labels.npy", (which[np.arange(n), weight.argmax(1)] % 10).astype(np.int64))
    return data


def train(runs: Path, data: Path, latents: int) -> Path:
    out = runs / f"topk-{latents}"
    if not (out / "checkpoint.pt").is_file():
        subprocess.run([sys.executable, "-m", "models", "train", "--family", "topk-sae", "--domain", "vectors",
                        "--vectors", str(data), "--hidden", str(latents), "--k", "32", "--epochs", "1", "--out",
                        str(out)], cwd=ROOT, check=True)
    return out


MEASURE = "import resource, runpy, sys; sys.argv = ['models', *sys.argv[1:]]\ntry:\n    runpy.run_module('models', " \
          "run_name='__main__')\nfinally:\n    print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, " \
          "file=sys.stderr)"


def command(args: list[str]) -> tuple[float, float, int, str]:
    """(seconds, peak RSS GiB of the command's own process, its exit code, its last line of errors)."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", MEASURE, *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    lines = r.stderr.strip().splitlines()
    peak = next((int(s.split()[1]) for s in reversed(lines) if s.startswith("peak ")), 0) / 2**20
    said = next((s for s in reversed(lines) if not s.startswith("peak ")), "")
    return seconds, peak, r.returncode, said


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latents", default="4096,16384")
    p.add_argument("--folder", default="/tmp/sparselab-wide")
    p.add_argument("--pages", action="store_true", help="only the pages")
    p.add_argument("--commands", action="store_true", help="only the commands")
    a = p.parse_args()
    folder = Path(a.folder)
    data = make_data(folder)
    runs = folder / "runs"
    widths = [int(v) for v in a.latents.split(",")]
    trained = {h: train(runs, data, h) for h in widths}
    if not a.pages:
        print("| latents | command | seconds | peak RSS (GiB) | |\n|---|---|---|---|---|")
        for h, run in trained.items():
            for name, args in (("evaluate", ["evaluate", str(run), "--json"]), ("units", ["units", str(run), "--json"]),
                               ("report", ["report", str(run), "--out", str(folder / f"report-{h}.md")]),
                               ("export", ["export", str(run), "--out", str(folder / f"export-{h}")])):
                s, rss, rc, said = command(args)
                print(f"| {h:,} | {name} | {s:.1f} | {rss:.2f} | {'' if rc == 0 else said} |", flush=True)
    if not a.commands:
        from bench.first_open import open_once, pages_for
        from tests.browser import browser_page, streamlit_server

        env = {"SPARSELAB_DATA": "", "SPARSELAB_RUNS": str(runs)}
        rows = []
        with streamlit_server(ROOT / "app.py", env) as url, browser_page() as first:
            browser = first.context.browser
            import os

            os.environ["SPARSELAB_RUNS"] = str(runs)  # pages_for reads the catalog of this runs folder
            from models.services import jobs

            jobs.RUNS_ROOT = runs
            for h, run in trained.items():
                key = f"run:{run.name}"
                for title, stem in pages_for(key):
                    link = f"{url}/{stem if stem != 'overview' else ''}?model={key}"
                    cold, complete = open_once(browser, link)
                    rows.append((h, title, cold, complete))
                    print(f"{h:>7,} {title:16s} drawn {cold:6.2f} s, complete {complete:6.2f} s", flush=True)
        print("\n| latents | page | first open: drawn (s) | complete (s) |\n|---|---|---|---|")
        for h, title, cold, complete in rows:
            print(f"| {h:,} | {title} | {cold:.2f} | {complete:.2f} |")
        slow = [r for r in rows if r[2] > 3]
        print(f"\n{len(slow)} of {len(rows)} first opens drawn after more than 3 s"
              + (": " + ", ".join(f"{h:,} {t} {c:.1f} s" for h, t, c, _ in slow) if slow else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
