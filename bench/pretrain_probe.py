"""#30, step 1: what the DrSAE's unsupervised pre-training (L_U alone) makes of its decoder, by initialisation and
length. Each variant trains a 400 × 11 DrSAE on L_U = ½‖x − Dz‖² + λ‖z‖₁ (the default recipe's update: SGD with
momentum, batch 50, lr 0.0035, clip 1) from one initial dictionary, and after 5, 20 and 50 epochs measures the
decoders' locality (median radius of gyration and 90 % support over the units active on the validation digits),
L0, dead units and the unexplained variance on 5,000 validation digits, and saves a grid of 100 decoders.

    .venv/bin/python bench/pretrain_probe.py --data-dir DIR --out runs/probe30 [--variants digits,random-b0,...]

Variants (their initial D; E, S, b then as ISTA on it, E = a Dᵀ, S = I − a DᵀD, b = aλ):
- digits: random training digits minus the mean digit (today's default, `--init samples`);
- random-b0: random unit columns, b = 0 at the start (every unit above threshold: a lowered threshold);
- random-warmup: random unit columns, λ rising linearly from 0 to its value over the first 5 epochs;
- ista: a dictionary learned by sparse coding (FISTA codes, 10 epochs, the ISTA family's dictionary step) from random
  unit columns;
- patches: centred 10 × 10 windows of random training digits (a stroke-sized piece of a digit, the rest 0: `--init
  windows`).
`--decoder-lr K` gives D K times the lr (the DrSAE's setting); the default 1 is the recipe's.
Prints one line per measurement and writes OUT/probe.json (appended per variant, so a killed probe resumes).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.analysis.composition import radius_of_gyration, support  # noqa: E402
SHAPE = (28, 28)
from models.domains import dataset, spec  # noqa: E402
from models.families.drsae import DrSAE, DrSAEConfig  # noqa: E402
from models.families.ista import ISTA, ISTAConfig  # noqa: E402
from models.domains import spec as data_spec  # noqa: E402
from models.families.recurrent import random_dictionary, start_dictionary  # noqa: E402
from models.training.config import TrainConfig  # noqa: E402
from models.training.optim import make_optimizer  # noqa: E402
from models.training.update import Updater  # noqa: E402

VARIANTS = ("digits", "random-b0", "random-warmup", "ista", "patches")
WARMUP_EPOCHS = 5
VAL_DIGITS = 5000


def ista_dictionary(train_x: torch.Tensor, hidden: int, seed: int, epochs: int, sparsity: float) -> torch.Tensor:
    """Sparse dictionary learning (the ISTA family's update) from random unit columns."""
    g = torch.Generator().manual_seed(seed)
    cfg = ISTAConfig(n_input=784, hidden=hidden, sparsity=sparsity, n_classes=10)
    model = ISTA(cfg, random_dictionary(784, hidden, g), seed)
    tc = TrainConfig(pretrain_epochs=epochs, epochs=0, ema=0.0)
    up = Updater(model, make_optimizer(model, tc), tc, graph=False)
    y = torch.zeros(len(train_x), dtype=torch.long)
    for epoch in range(epochs):
        perm = torch.randperm(len(train_x), generator=g)
        for b in range(0, len(perm), tc.batch_size):
            idx = perm[b:b + tc.batch_size]
            up(train_x[idx], y[idx], tc.lr, False)
        print(f"  ista dictionary: epoch {epoch + 1}/{epochs}", flush=True)
    return model.D.detach().clone()


@torch.no_grad()
def measure(model: DrSAE, val_x: torch.Tensor) -> dict:
    model.eval()
    z = torch.cat([model.code(val_x[i:i + 1000]) for i in range(0, len(val_x), 1000)])
    x_hat = model.decode(z)
    model.train()
    live = (z > 0).any(0).numpy()
    D = model.D.detach().double().numpy().T  # (units, 784)
    fvu = float(((val_x - x_hat) ** 2).sum() / ((val_x - val_x.mean(0)) ** 2).sum())
    return {"radius": float(np.median(radius_of_gyration(D[live], SHAPE))) if live.any() else math.nan,
            "support": float(np.median(support(D[live]))) if live.any() else math.nan,
            "l0": float((z > 0).float().sum(1).mean()), "dead": int((~live).sum()), "fvu": fvu}


def save_grid(model: DrSAE, path: Path, n: int = 100) -> None:
    from PIL import Image

    D = model.D.detach().numpy().T[:n].reshape(-1, 28, 28)
    D = D / np.abs(D).reshape(len(D), -1).max(1).clip(1e-12)[:, None, None]
    cols = 10
    grid = np.ones((cols * 29, cols * 29, 3), dtype=np.uint8) * 255
    for k, d in enumerate(D):  # white background, red positive, blue negative
        r, c = divmod(k, cols)
        pos, neg = np.clip(d, 0, 1), np.clip(-d, 0, 1)
        rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], -1)
        grid[r * 29:r * 29 + 28, c * 29:c * 29 + 28] = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(grid).resize((cols * 29 * 2, cols * 29 * 2), Image.NEAREST).save(path)


def run_variant(name: str, train_x, train_y, val_x, out: Path, seed: int, lam: float, at: tuple[int, ...],
                decoder_lr: float = 1.0) -> list[dict]:
    torch.manual_seed(seed)
    t0 = time.time()
    cfg = DrSAEConfig(n_input=784, n_classes=10, hidden=400, unroll=11, sparsity=lam, decoder_lr=decoder_lr)
    g = torch.Generator().manual_seed(seed)
    if name == "digits":
        D = start_dictionary(train_x, 400, seed, "samples")
    elif name in ("random-b0", "random-warmup"):
        D = random_dictionary(784, 400, g)
    elif name == "ista":
        D = ista_dictionary(train_x, 400, seed, 10, lam)
    elif name == "patches":
        D = start_dictionary(train_x, 400, seed, "windows", data_spec().layout())
    else:
        raise ValueError(name)
    model = DrSAE(cfg, D, seed)
    if name == "random-b0":
        model.b.data.zero_()
    tc = TrainConfig(pretrain_epochs=max(at), epochs=0, ema=0.0)
    up = Updater(model, make_optimizer(model, tc), tc, graph=False)
    rows = [{"variant": name, "epoch": 0, "seconds": time.time() - t0, **measure(model, val_x)}]
    print(json.dumps(rows[-1]), flush=True)
    for epoch in range(max(at)):
        perm = torch.randperm(len(train_x), generator=g)
        for bi, b in enumerate(range(0, len(perm), tc.batch_size)):
            if name == "random-warmup":  # λ's weight in L_U rises from 0 over the first epochs
                frac = min(1.0, (epoch + bi * tc.batch_size / len(perm)) / WARMUP_EPOCHS)
                object.__setattr__(model.cfg, "sparsity", lam * frac)
            idx = perm[b:b + tc.batch_size]
            up(train_x[idx], train_y[idx], tc.lr, False)
        up.health()
        if epoch + 1 in at:
            rows.append({"variant": name, "epoch": epoch + 1, "seconds": time.time() - t0, **measure(model, val_x)})
            print(json.dumps(rows[-1]), flush=True)
            tag = name + ("" if decoder_lr == 1 else f"-dlr{decoder_lr:g}")
            save_grid(model, out / f"{tag}-e{epoch + 1}.png")
            torch.save(model.state_dict(), out / f"{tag}-e{epoch + 1}.pt")
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir")
    p.add_argument("--out", required=True)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sparsity", type=float, default=0.025)
    p.add_argument("--at", default="5,20,50", help="epochs after which to measure (default: %(default)s)")
    p.add_argument("--limit", type=int, help="training digits (a quick look)")
    p.add_argument("--decoder-lr", type=float, default=1.0, help="D's lr × (default: %(default)s, the recipe's)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = dataset(spec(), a.data_dir)[0]
    done_file = out / "probe.json"
    done = json.loads(done_file.read_text()) if done_file.is_file() else {}
    for name in a.variants.split(","):
        key = f"{name}-s{a.seed}-l{a.sparsity:g}" + (f"-dlr{a.decoder_lr:g}" if a.decoder_lr != 1 else "")
        if key in done:
            continue
        at = tuple(int(e) for e in a.at.split(","))
        done[key] = run_variant(name, data.train.x[:a.limit], data.train.y[:a.limit], data.val.x[:VAL_DIGITS], out,
                                a.seed, a.sparsity, at, a.decoder_lr)
        done_file.write_text(json.dumps(done, indent=1))
    for key, rows in done.items():
        for r in rows:
            print(f"{key:28s} epoch {r['epoch']:3d}: radius {r['radius']:.2f} support {r['support']:.0f} "
                  f"L0 {r['l0']:.1f} dead {r['dead']} FVU {r['fvu']:.3f} ({r['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
