"""A linear probe: how well a logistic regression reads the class from a code. Below the families and the analyses,
which both measure codes with it."""
from __future__ import annotations

import numpy as np
import torch


def linear_probe(z_fit, y_fit: np.ndarray, z_test, y_test: np.ndarray, iterations: int = 100,
                 weight_decay: float = 1e-4) -> float:
    """Test error (%) of a multinomial logistic regression fitted on (z_fit, y_fit), each unit standardised on
    the fitted codes (LBFGS, a small L2 penalty). The codes: dense arrays, or scipy.sparse arrays (a wide
    dictionary's): then ((z − m) / s) W is computed as z (W / s) − (m / s) W, never densified."""
    from scipy import sparse

    yf = torch.as_tensor(y_fit, dtype=torch.long)
    k = int(max(y_fit.max(), y_test.max())) + 1
    if sparse.issparse(z_fit):
        zf, zt = (_coo(sparse.coo_array(a)) for a in (z_fit, z_test))
        n = z_fit.shape[0]
        mean = torch.as_tensor(np.asarray(z_fit.mean(0)).ravel(), dtype=torch.float64)
        sq = torch.as_tensor(np.asarray(z_fit.multiply(z_fit).sum(0)).ravel(), dtype=torch.float64)
        std = ((sq - n * mean ** 2) / max(n - 1, 1)).clamp_min(0).sqrt().clamp_min(1e-6)
        logits = lambda z, W, b: torch.sparse.mm(z, W / std[:, None]) - (mean / std) @ W + b  # noqa: E731
    else:
        zf, zt = (torch.as_tensor(a, dtype=torch.float64) for a in (z_fit, z_test))
        mean, std = zf.mean(0), zf.std(0).clamp_min(1e-6)
        zf, zt = (zf - mean) / std, (zt - mean) / std
        logits = lambda z, W, b: z @ W + b  # noqa: E731
    W = torch.zeros(zf.shape[1], k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=iterations, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = torch.nn.functional.cross_entropy(logits(zf, W, b), yf) + weight_decay * W.pow(2).sum()
        value.backward()
        return value

    opt.step(loss)
    with torch.no_grad():
        pred = logits(zt, W, b).argmax(1).numpy()
    return float(100 * (pred != np.asarray(y_test)).mean())


def _coo(a) -> torch.Tensor:
    return torch.sparse_coo_tensor(np.stack([a.row, a.col]), a.data.astype(np.float64), a.shape).coalesce()
