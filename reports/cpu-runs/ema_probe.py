"""Local research harness (not part of the product): runs models.train's CLI with extra per-epoch numbers:
the test error of the iterate, and validation/test error of EMA copies of the weights."""
import copy, json, sys
import torch
from models import runs, train as T
from models.data import load_mnist
from models.metrics import evaluate_split

DECAYS = [float(d) for d in sys.argv[1].split(",")]
argv = sys.argv[2:]
DATA = load_mnist()
state = {"model": None, "ema": None}

class EmaStepper(T.Stepper):
    def __call__(self, *a, **k):
        super().__call__(*a, **k)
        m = self.model
        if state["ema"] is None:
            state["model"] = m
            state["ema"] = [copy.deepcopy(m).eval() for _ in DECAYS]
        with torch.no_grad():
            for d, e in zip(DECAYS, state["ema"]):
                for pe, p in zip(e.parameters(), m.parameters()):
                    pe.lerp_(p, 1 - d)

T.Stepper = EmaStepper
orig = runs.append_metrics

def append(out, row):
    m = state["model"]
    if m is not None:
        row["test_error"] = evaluate_split(m, DATA.test)["error"]
        for d, e in zip(DECAYS, state["ema"]):
            row[f"ema{d}_val"] = evaluate_split(e, DATA.val)["error"]
            row[f"ema{d}_test"] = evaluate_split(e, DATA.test)["error"]
        print(json.dumps({k: row[k] for k in row if "error" in k or "ema" in k} | {"epoch": row["epoch"]}), flush=True)
    orig(out, row)

runs.append_metrics = append
sys.exit(T.main(argv))
