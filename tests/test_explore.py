import numpy as np
import torch

from models.checkpoint import load_model
from models.analysis.steps import step_stats, trace
from models.training.validate import evaluate_split


def test_step_stats_match_direct_computations(tiny_run, mnist_small):
    model, _ = load_model(tiny_run[0])
    digits = mnist_small.test.head(700)
    s = step_stats(model, digits, 9, batch=256)  # batches that do not divide n
    assert s.preds.shape == (9, 700) and s.steps == 9
    with torch.no_grad():
        zs = model.encode(digits.x, 9)
        for t in (1, 5, 9):
            z = zs[t - 1]
            recon = (0.5 * (digits.x - model.decode(z)).pow(2).sum(1)).mean().item()
            assert abs(s.recon[t - 1] - recon) < 1e-5
            assert abs(s.active[t - 1] - (z > 0).sum(1).double().mean().item()) < 1e-9
            pred = model.classify(z).argmax(1).numpy()
            assert (s.preds[t - 1] == pred).all()
    ev = evaluate_split(model, digits, unroll=5)
    assert abs(s.error[4] - ev["error"]) < 1e-9
    cm = s.confusion(5)
    assert cm.sum() == 700 and np.trace(cm) == int(round(700 * (1 - ev["error"] / 100)))


def test_trace_is_one_digit_of_the_batch(tiny_run, mnist_small):
    model, _ = load_model(tiny_run[0])
    x = mnist_small.test.x[:5]
    tr = trace(model, x[3], 7)
    with torch.no_grad():
        zs = model.encode(x, 7)[:, 3]
    np.testing.assert_allclose(tr.z, zs.numpy(), atol=1e-6)
    np.testing.assert_allclose(tr.probs.sum(1), 1, atol=1e-5)
    assert tr.recon.shape == (7, 784)
