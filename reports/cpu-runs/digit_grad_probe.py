"""Local research harness (not part of the product): how each digit's gradient norm is spread, for the weights
of training checkpoints (the iterate SGD takes its gradients at, not the average). Over the first 2,000
training digits, quantiles of the norm of each digit's gradient of L_S, of L_U and of L_U + L_S over all
weights (models/digit_clip.py computes them without per-digit backward passes), and the share of the sum of
the norms held by the top 10 % of digits. Then, for each checkpoint, the share of 200 random batches of 50 and of
10 whose mean gradient (L_U + L_S) is above the recipe's clip of norm 1.

    python reports/cpu-runs/digit_grad_probe.py RUN_OR_CHECKPOINT ...
"""
import sys
from pathlib import Path

import torch

from models.checkpoint import CHECKPOINT, load_training_state
from models.data import load_mnist
from models.digit_clip import digit_grad_norms
from models.drsae import DrSAE, DrSAEConfig

torch.set_num_threads(2)
data = load_mnist()
x, y = data.train.x[:2000], data.train.y[:2000]
print("| checkpoint | epoch | loss | 10 % | median | 90 % | 99 % | max | mean | top 10 %'s share of the sum |")
print("|---|---|---|---|---|---|---|---|---|---|")
for arg in sys.argv[1:]:
    path = Path(arg) / CHECKPOINT if Path(arg).is_dir() else Path(arg)
    st = load_training_state(path)
    m = DrSAE(DrSAEConfig.from_dict(st["config"]))
    m.load_state_dict(st["model"])
    L = m.losses(x, y, reduce=False)
    for name, per in (("L_S", L["sup"]), ("L_U", L["unsup"]), ("L_U + L_S", L["unsup"] + L["sup"])):
        n = digit_grad_norms(m, x, per, L["steps"], L["x_hat"], L["logits"])
        q = [float(n.quantile(p)) for p in (0.1, 0.5, 0.9, 0.99)]
        top = n.sort(descending=True).values[: len(n) // 10].sum() / n.sum()
        print(f"| {path.parent.name} | {st['progress']['epoch']} | {name} | "
              + " | ".join(f"{v:.2f}" for v in q) + f" | {n.max():.0f} | {n.mean():.2f} | {100 * top:.0f} % |")

for arg in sys.argv[1:]:
    path = Path(arg) / CHECKPOINT if Path(arg).is_dir() else Path(arg)
    st = load_training_state(path)
    m = DrSAE(DrSAEConfig.from_dict(st["config"]))
    m.load_state_dict(st["model"])
    g = torch.Generator().manual_seed(0)
    for bs in (50, 10):
        over = 0
        for _ in range(200):
            idx = torch.randint(0, len(data.train.y), (bs,), generator=g)
            m.zero_grad(set_to_none=True)
            L = m.losses(data.train.x[idx], data.train.y[idx])
            (L["unsup"] + L["sup"]).backward()
            over += torch.sqrt(sum(p.grad.pow(2).sum() for p in m.parameters())).item() > 1
        print(f"{path.parent.name}: {100 * over / 200:.0f} % of batches of {bs} above norm 1")
