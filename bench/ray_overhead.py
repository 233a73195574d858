"""What Ray costs a sweep here: its start-up, a tiny run as a Ray trial against the same run through the local job
registry (wall time of the whole command, both ways, alternating), and the disk it takes.

    SPARSELAB_DATA=... .venv/bin/python bench/ray_overhead.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ["--sparsity", "0.05", "--seeds", "0", "--hidden", "16", "--unroll", "2", "--pretrain-epochs", "0",
       "--epochs", "3", "--limit", "2000"]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    local, ray_, start = [], [], []
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            local.append(timed([sys.executable, "-m", "models", "train", "sweep", *RUN, "--wait", "--runs",
                                str(Path(tmp) / "local")]))
            ray_.append(timed([sys.executable, "-m", "models", "train", "sweep", *RUN, "--engine", "ray", "--runs",
                               str(Path(tmp) / "ray")]))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ray; ray.init(num_cpus=2, include_dashboard=False); "
                        "ray.shutdown()"], check=True, capture_output=True)
        start.append(time.perf_counter() - t0)
    med = statistics.median
    print(f"a tiny run (3 epochs of 2,000 digits), the whole command, median of {a.repeats}:")
    print(f"  local job registry   {med(local):6.1f} s")
    print(f"  Ray trial            {med(ray_):6.1f} s  ({med(ray_) / med(local):.2f}×, +{med(ray_) - med(local):.1f} s)")
    print(f"  Ray start and stop alone (python -c 'ray.init(); ray.shutdown()'): {med(start):.1f} s")
    import ray

    size = sum(f.stat().st_size for f in Path(ray.__file__).parent.rglob("*") if f.is_file())
    print(f"  installed size of the ray package: {size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
