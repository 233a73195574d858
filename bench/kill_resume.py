"""Kill a trainer with SIGKILL again and again, resume it each time, and compare its end with a run left alone: the
weights bit for bit, and the metrics rows (times aside). Also starts a second trainer on a folder a first one holds.

    SPARSELAB_DATA=... .venv/bin/python bench/kill_resume.py [--family rg-vae] [--kills 10] [--epochs 3]

Prints one line per kill and the verdict (#34's probes: tries, failures, data lost).
"""
from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from models.checkpoint import CHECKPOINT, load_training_state  # noqa: E402
from models.training import run_folder  # noqa: E402


def command(out: Path, family: str, epochs: int, limit: int) -> list[str]:
    return [sys.executable, "-m", "models", "train", "--family", family, "--out", str(out), "--epochs", str(epochs),
            "--limit", str(limit), "--threads", "1", "--checkpoint-every", "0.5"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", default="rg-vae")
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, default=2000)
    a = p.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        alone, cut = Path(tmp) / "alone", Path(tmp) / "cut"
        t0 = time.time()
        subprocess.run(command(alone, a.family, a.epochs, a.limit), cwd=ROOT, check=True, capture_output=True)
        whole = time.time() - t0
        print(f"left alone: {whole:.1f} s")
        kills = 0
        while kills < a.kills:
            proc = subprocess.Popen(command(cut, a.family, a.epochs, a.limit), cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(2.0, max(2.5, whole / 3)))
            if proc.poll() is not None:
                break  # it finished before this kill
            if kills == 0:  # a second trainer on the held folder: refused, the folder untouched
                second = subprocess.run(command(cut, a.family, a.epochs, a.limit), cwd=ROOT, capture_output=True,
                                        text=True)
                print(f"second trainer: exit {second.returncode}, {second.stderr.strip().splitlines()[-1]}")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            st = run_folder.read_status(cut)
            print(f"kill {kills}: at epoch {st.get('epoch')}, batch fraction {st.get('frac', 0):.2f}")
        subprocess.run(command(cut, a.family, a.epochs, a.limit), cwd=ROOT, check=True, capture_output=True)
        x, y = (load_training_state(r / CHECKPOINT) for r in (alone, cut))
        same = all(torch.equal(v, y["model"][k]) for k, v in x["model"].items())
        rows_a, rows_b = run_folder.read_metrics(alone), run_folder.read_metrics(cut)
        times = {"epoch_time", "elapsed"}
        rows_same = [{k: v for k, v in r.items() if k not in times} for r in rows_a] == \
                    [{k: v for k, v in r.items() if k not in times} for r in rows_b]
        left = sorted(p.name for p in cut.glob(".*.tmp"))
        print(f"{a.family}: {kills} kills; weights bit for bit: {same}; metrics rows equal: {rows_same}; "
              f"rows {len(rows_b)} of {len(rows_a)}; temporary files left: {left or 'none'}")
        return 0 if same and rows_same else 1


if __name__ == "__main__":
    sys.exit(main())
