"""How fast the data domains are: loading (and whitening) natural image patches and generating synthetic sets, cold
(an empty cache: the samples are built) and warm (read back from the disk cache), against reading the digits' idx
files in the same run; with --train, the wall time of an ISTA and a LISTA run at their family's defaults on each new
domain, against the same ISTA default on as many digits (each as its own process: what a user's trainer costs).

    .venv/bin/python bench/domain_speed.py [--train] [--threads 2]

Needs $SPARSELAB_DATA (the digits baseline). Prints one line per measurement and its ratio to the baseline.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LOADS = [("patches", {"whitening": "none"}), ("patches", {"whitening": "1/f"}), ("patches", {"whitening": "zca"}),
         ("patches", {"patch_size": 16}), ("synthetic", {}), ("synthetic", {"parents": 4}),
         ("synthetic", {"atoms": 512, "dimension": 256, "samples": 100_000})]
RUNS = [("ista", "patches", []), ("lista", "patches", []), ("ista", "synthetic", []), ("lista", "synthetic", [])]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def load_times() -> None:
    """Each load in a fresh process (torch already imported), so scikit-learn's import is counted and nothing is
    cached in memory."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SPARSELAB_CACHE": cache}

        def load(name: str, settings: dict) -> float:
            code = ("import time; from models.domains import dataset, spec; t = time.perf_counter(); "
                    f"dataset(spec({name!r}, **{settings!r})); print(time.perf_counter() - t)")
            out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                 check=True)
            return float(out.stdout.strip().splitlines()[-1])

        base = load("digits", {})
        print(f"{'digits (baseline: the idx files read)':52s} {base:6.2f} s")
        for name, settings in LOADS:
            cold, warm = load(name, settings), load(name, settings)
            label = f"{name} {settings or 'defaults'}"
            print(f"{label:52s} cold {cold:6.2f} s ({cold / base:4.1f}×)  warm {warm:5.2f} s ({warm / base:4.2f}×)")


def train_times(threads: int) -> None:
    with tempfile.TemporaryDirectory() as out:
        def run(family: str, domain: str, extra: list[str]) -> float:
            cmd = [sys.executable, "-m", "models", "train", "--family", family, "--domain", domain, "--out",
                   f"{out}/{family}-{domain}", "--threads", str(threads), *extra]
            return timed(lambda: subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True))

        base = run("ista", "digits", ["--limit", "40000"])
        print(f"{'ista default on 40,000 digits (baseline)':52s} {base:7.1f} s")
        for family, domain, extra in RUNS:
            t = run(family, domain, extra)
            print(f"{family + ' default on ' + domain:52s} {t:7.1f} s ({t / base:4.2f}×, {t / 60:.1f} min)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", action="store_true", help="also time default training runs (minutes)")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    if not os.environ.get("SPARSELAB_DATA"):
        print("set SPARSELAB_DATA to the digits' folder (the baseline)", file=sys.stderr)
        return 2
    load_times()
    if a.train:
        train_times(a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
