"""A linear probe: how well a logistic regression reads the class from a code. Below the families and the analyses,
which both measure codes with it."""
from __future__ import annotations

import numpy as np
import torch


def linear_probe(z_fit: np.ndarray, y_fit: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
                 iterations: int = 100, weight_decay: float = 1e-4) -> float:
    """Test error (%) of a multinomial logistic regression fitted on (z_fit, y_fit), each unit standardised on
    the fitted codes (LBFGS, a small L2 penalty)."""
    zf, zt = (torch.as_tensor(a, dtype=torch.float64) for a in (z_fit, z_test))
    mean, std = zf.mean(0), zf.std(0).clamp_min(1e-6)
    zf, zt = (zf - mean) / std, (zt - mean) / std
    yf = torch.as_tensor(y_fit, dtype=torch.long)
    k = int(max(y_fit.max(), y_test.max())) + 1
    W = torch.zeros(zf.shape[1], k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=iterations, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = torch.nn.functional.cross_entropy(zf @ W + b, yf) + weight_decay * W.pow(2).sum()
        value.backward()
        return value

    opt.step(loss)
    with torch.no_grad():
        pred = (zt @ W + b).argmax(1).numpy()
    return float(100 * (pred != np.asarray(y_test)).mean())
