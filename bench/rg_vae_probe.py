"""A probe for #21, before its model family exists: a structured VAE with rectified-Gaussian units (Salimans, 2016) on
binarised digits, trained for a number of minutes on this CPU, printing the test ELBO and the per-layer KL each
epoch and an importance-weighted bound (k = 100, 500 digits) at the end. Its numbers size the family's defaults
(docs/results.md); the family (models/families/) replaces this script.

    SPARSELAB_DATA=DIR .venv/bin/python bench/rg_vae_probe.py structured|meanfield MINUTES
"""
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.data import load_pair  # noqa: E402
from models.families import rectified_gaussian as rg  # noqa: E402

MIN_SIGMA = 1e-3


class Head(nn.Module):
    """in -> width (BN, ELU) -> (μ, σ) of n units."""

    def __init__(self, n_in, width, n_out):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, width), nn.BatchNorm1d(width), nn.ELU())
        self.mu, self.sig = nn.Linear(width, n_out), nn.Linear(width, n_out)

    def forward(self, h):
        d = self.body(h)
        return d, self.mu(d), F.softplus(self.sig(d)) + MIN_SIGMA


class RGVAE(nn.Module):
    def __init__(self, sizes=(300, 200, 100, 50), width=400, structured=True):
        super().__init__()
        self.sizes, self.structured = sizes, structured
        ins = [784] + [width] * (len(sizes) - 1)
        self.up = nn.ModuleList(Head(i, width, n) for i, n in zip(ins, sizes))
        self.down = nn.ModuleList(Head(sizes[l + 1], width, sizes[l]) for l in range(len(sizes) - 1))
        self.top_mu = nn.Parameter(torch.zeros(sizes[-1]))
        self.top_sig = nn.Parameter(torch.zeros(sizes[-1]))
        self.out = nn.Sequential(nn.Linear(sizes[0], width), nn.BatchNorm1d(width), nn.ELU(), nn.Linear(width, 784))

    def log_weights(self, x):
        """One sample per digit: log p(x, z) − log q(z | x), and per-layer log q − log p."""
        h, bottom_up = x, []
        for head in self.up:
            h, m, s = head(h)
            bottom_up.append((m, s))
        kl, z = [], None
        for l in reversed(range(len(self.sizes))):  # noqa: E741 (the layer index)
            if z is None:
                mp = self.top_mu.expand_as(bottom_up[l][0])
                sp = (F.softplus(self.top_sig) + MIN_SIGMA).expand_as(mp)
            else:
                _, mp, sp = self.down[l](z)
            mh, sh = bottom_up[l]
            if self.structured:  # precision-weighted: the prior's top-down belief and the digit's evidence
                pp, ph = sp ** -2, sh ** -2
                sq = (pp + ph) ** -0.5
                mq = (mp * pp + mh * ph) * sq ** 2
            else:
                mq, sq = mh, sh
            z = rg.sample(mq, sq)
            kl.append((rg.log_prob(z, mq, sq) - rg.log_prob(z, mp, sp)).sum(-1))
        logits = self.out(z)
        ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = kl[::-1]  # bottom first
        return ll - sum(kl), kl


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    if len(sys.argv) != 3 or sys.argv[1] not in ("structured", "meanfield") or not os.environ.get("SPARSELAB_DATA"):
        sys.exit("usage: SPARSELAB_DATA=DIR python bench/rg_vae_probe.py structured|meanfield MINUTES")
    structured = sys.argv[1] == "structured"
    minutes = float(sys.argv[2])
    folder = Path(os.environ["SPARSELAB_DATA"])
    tr, _ = load_pair(folder, "train")
    te, _ = load_pair(folder, "test")
    xtr = torch.from_numpy(tr.reshape(len(tr), -1).astype(np.float32) / 255)
    g = torch.Generator().manual_seed(123)
    xte = torch.bernoulli(torch.from_numpy(te.reshape(len(te), -1).astype(np.float32) / 255)[:2000], generator=g)
    m = RGVAE(structured=structured)
    opt = torch.optim.Adamax(m.parameters(), lr=2e-3)
    bs, t0, epoch = 100, time.time(), 0
    while time.time() - t0 < minutes * 60:
        m.train()
        perm = torch.randperm(len(xtr))
        te0 = time.time()
        warm = min(1.0, (epoch + 1) / 5)
        for i in range(0, len(xtr), bs):
            x = torch.bernoulli(xtr[perm[i:i + bs]])
            lw, kl = m.log_weights(x)
            ll = lw + sum(kl)
            loss = -(ll - warm * sum(kl)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch += 1
        m.eval()
        with torch.no_grad():
            lw, kl = m.log_weights(xte)
        print(f"epoch {epoch} {time.time() - te0:.1f}s elbo {lw.mean():.2f} kl "
              + " ".join(f"{k.mean():.2f}" for k in kl) + f" total {time.time() - t0:.0f}s", flush=True)
    with torch.no_grad():  # a k = 100 importance-weighted bound on 500 digits
        x = xte[:500]
        lws = torch.stack([m.log_weights(x)[0] for _ in range(100)])
        iw = (torch.logsumexp(lws, 0) - math.log(100)).mean()
    print(f"final elbo {lw.mean():.2f} iwae(k=100, 500 digits) {iw:.2f}")


if __name__ == "__main__":
    main()
