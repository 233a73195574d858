"""Local research harness (not part of the product): runs models.train's CLI and keeps, beside the trainer's
own average, polynomial averages of the weights with other windows, to ask whether a wider average generalizes
better. Average k takes step (k+1)/(n+k+1) at its n-th update, so step n's weight grows as n^k and the mean age
of what it holds is about n/(k+2); the trainer's warm-up is k = 8 (it reaches 0.9999 only after 90k steps).
Per epoch it logs the validation and test error of each (the test columns are a record, never a choice).

    python reports/cpu-runs/window_probe.py 8,3,1 --threads 1 --out DIR [train flags]
"""
import copy
import json
import sys

import torch

from models import runs, train as T
from models.data import load_mnist
from models.metrics import evaluate_split

POWERS = [int(k) for k in sys.argv[1].split(",")]
argv = sys.argv[2:]
DATA = load_mnist()
state = {"avgs": None, "n": 0}


class WindowStepper(T.Stepper):
    def __call__(self, x, y, lr, supervised):
        super().__call__(x, y, lr, supervised)
        if state["avgs"] is None:
            state["avgs"] = [copy.deepcopy(self.model).requires_grad_(False).eval() for _ in POWERS]
        state["n"] += 1
        n = state["n"]
        with torch.no_grad():
            for k, avg in zip(POWERS, state["avgs"]):
                for a, p in zip(avg.parameters(), self.model.parameters()):
                    a.lerp_(p, (k + 1) / (n + k + 1))


T.Stepper = WindowStepper
_append = runs.append_metrics


def append(out, row):
    if state["avgs"] is not None:
        for k, avg in zip(POWERS, state["avgs"]):
            row[f"avg{k}_val"] = evaluate_split(avg, DATA.val)["error"]
            row[f"avg{k}_test"] = evaluate_split(avg, DATA.test)["error"]
        print(json.dumps({"epoch": row["epoch"], "val_error": row["val_error"]}
                         | {k: v for k, v in row.items() if k.startswith("avg")}), flush=True)
    _append(out, row)


runs.append_metrics = append
sys.exit(T.main(argv))
