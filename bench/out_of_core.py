"""Training on activation files of any size (the store, models/store.py): peak resident memory and time to the first
step for files of 100k to 8M × 768 float32 vectors, and samples per second of the store against the in-memory path
(the whole split read into memory first, as before the store) on the same 1M file, in one run. Lower is better for
time and memory, higher for samples per second.

Each measurement is a fresh trainer process (a TopK SAE, `--latents` latents, k 32, batch 4096) stopped after
`--steps` updates; its peak RSS is the kernel's (ru_maxrss). The 100k and 1M files hold random values; the 4M and 8M
files are sparse on disk (header and 64 blocks of values, the rest zeros: a file of that size costs no disk).

    .venv/bin/python bench/out_of_core.py [--sizes 100000,1000000,4000000,8000000] [--steps 40] [--folder /tmp/ooc]
                                          [--app]   (only: the app's first open of each size's run)

With --app, a fresh server opens the Overview of each run trained above (as bench/first_open.py times a page:
navigation to the page drawn) and its resident memory is read after each.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
D = 768

CHILD = r"""
import json, resource, sys, time
t0 = time.time()
from models.data import Dataset
from models.domains import dataset, spec
from models.families import get
from models.training import loop
from models.training.config import train_config

path, out, steps, latents, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
family = get("topk-sae")
data = spec("vectors", vectors=path)
marks = []
def stop():  # asked once before every update: the time of each
    marks.append(time.time())
    return len(marks) > steps
given = None
if mode == "memory":  # the path before the store: every split read into memory, then trained on
    ds, _ = dataset(data)
    given = Dataset(ds.train.load(), ds.val.load(), ds.test.load(), ds.source, ds.fingerprint)
loop.train(family.config(hidden=latents, k=32), train_config(family, epochs=1, batch_size=4096), out, data=given,
           device="cpu", spec=data, should_stop=stop)
steady = marks[10:]
print(json.dumps({"first_step": marks[1] - t0, "steps_per_s": (len(steady) - 1) / (steady[-1] - steady[0]),
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def make(path: Path, n: int, sparse: bool) -> None:
    """An (n, 768) float32 .npy: random values, or (sparse) a header and 64 blocks of 4,096 random rows."""
    if path.is_file() and path.stat().st_size == 128 + n * D * 4:
        return
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, D)})
        offset = f.tell()
        if sparse:
            f.truncate(offset + n * D * 4)
            for start in np.linspace(0, n - 4096, 64).astype(int):
                f.seek(offset + int(start) * D * 4)
                f.write(rng.standard_normal((4096, D)).astype(np.float32).tobytes())
        else:
            for a in range(0, n, 100_000):
                f.write(rng.standard_normal((min(100_000, n - a), D)).astype(np.float32).tobytes())


def measure(path: Path, folder: Path, steps: int, latents: int, mode: str) -> dict:
    out = folder / f"run-{path.stem}-{mode}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out), str(steps), str(latents), mode],
                       cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    if r.returncode:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def app_opens(folder: Path, sizes: list[int]) -> None:
    """Each size's run (trained above) opened in the app: the Overview's first open, and the server's memory."""
    sys.path.insert(0, str(ROOT))
    from bench.first_open import open_once
    from tests.browser import browser_page, streamlit_server

    def rss_gib(pid: int) -> float:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 2**20

    env = {"SPARSELAB_DATA": "", "SPARSELAB_RUNS": str(folder)}
    with streamlit_server(ROOT / "app.py", env, cpus="0,1") as (url, pid), browser_page() as first:
        print(f"\nthe app (a fresh server), the Overview's first open; server RSS {rss_gib(pid):.2f} GiB before")
        for n in sizes:
            drawn, _ = open_once(first.context.browser, f"{url}/?model=run:run-x{n}-store")
            print(f"{n:>10,} rows: drawn in {drawn:.2f} s, server RSS after {rss_gib(pid):.2f} GiB", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="100000,1000000,4000000,8000000")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--latents", type=int, default=4096)
    p.add_argument("--folder", default="/tmp/sparselab-ooc")
    p.add_argument("--app", action="store_true")
    a = p.parse_args()
    folder = Path(a.folder)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in a.sizes.split(",")]
    if a.app:
        app_opens(folder, sizes)
        return
    print(f"TopK SAE, {a.latents} latents, k 32, batch 4096, {a.steps} updates; 768-d float32 files")
    print(f"{'rows':>10} {'file GB':>8} {'path':>7} {'first step s':>13} {'peak RSS GiB':>13} {'samples/s':>10}")
    rows = {}
    for n in sizes:
        path = folder / f"x{n}.npy"
        make(path, n, sparse=n > 1_000_000)
        modes = ["store"] + (["memory"] if n == 1_000_000 else [])
        for mode in modes:
            r = measure(path, folder, a.steps, a.latents, mode)
            rows[(n, mode)] = r
            if "error" in r:
                print(f"{n:>10,} {path.stat().st_size / 1e9:>8.2f} {mode:>7} failed: {r['error']}")
                continue
            print(f"{n:>10,} {path.stat().st_size / 1e9:>8.2f} {mode:>7} {r['first_step']:>13.1f} "
                  f"{r['peak_rss_gib']:>13.2f} {r['steps_per_s'] * 4096:>10,.0f}")
    store, memory = rows.get((1_000_000, "store")), rows.get((1_000_000, "memory"))
    if store and memory and "error" not in store and "error" not in memory:
        print(f"\n1M file, store / in-memory: samples per second {store['steps_per_s'] / memory['steps_per_s']:.2f}× "
              f"(higher is better), first step {store['first_step'] / memory['first_step']:.2f}×, peak RSS "
              f"{store['peak_rss_gib'] / memory['peak_rss_gib']:.2f}× (lower is better)")
    done = [rows[(n, 'store')] for n in sizes if 'error' not in rows[(n, 'store')]]
    if len(done) > 1:
        rss = [r["peak_rss_gib"] for r in done]
        print(f"store's peak RSS across sizes: {min(rss):.2f}–{max(rss):.2f} GiB (largest / smallest "
              f"{max(rss) / min(rss):.2f}×)")


if __name__ == "__main__":
    main()
