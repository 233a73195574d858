import copy

import pytest
import torch

from models.drsae import DrSAE, DrSAEConfig
from models.step import Diverged, Stepper
from models.train import TrainConfig, make_optimizer

MC = DrSAEConfig(hidden=40, unroll=4, sparsity=0.1)


def _batches(n, bs, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n * bs, 784, generator=g)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.randint(0, 10, (n * bs,), generator=g)
    return [(x[i * bs:(i + 1) * bs], y[i * bs:(i + 1) * bs]) for i in range(n)]


def _reference_step(model, opt, tc, x, y, supervised, lr):
    """The step as torch.optim.SGD takes it, written out plainly: what Stepper must reproduce."""
    for g in opt.param_groups:
        g["lr"] = lr * g["lr_scale"]
    L = model.losses(x, y)
    loss = L["unsup"] + (tc.sup_weight * L["sup"] if supervised else 0.0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
    opt.step()
    model.project_()


def test_stepper_takes_the_same_steps_as_torch_sgd():
    tc = TrainConfig(lr=0.02)
    a = DrSAE(MC, seed=1)
    b = copy.deepcopy(a)
    sa = Stepper(a, make_optimizer(a, tc), tc)
    ob = make_optimizer(b, tc)
    for i, (x, y) in enumerate(_batches(8, 50)):
        lr, sup = 0.02 / (1 + i), i >= 3  # the schedule moves and the phase switches mid-way
        sa(x, y, lr, sup)
        _reference_step(b, ob, tc, x, y, sup, lr)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7, msg=n)
    assert sa.acc[3].item() == 8
    assert sa.health() > 0


def test_weight_average_follows_the_iterates_and_keeps_the_bounds():
    tc = TrainConfig(lr=0.05, ema=0.9)
    m = DrSAE(MC, seed=1)
    s = Stepper(m, make_optimizer(m, tc), tc)
    off = TrainConfig(ema=0.0)
    plain = Stepper(DrSAE(MC), make_optimizer(DrSAE(MC), off), off)
    assert plain.average is None and plain.output is plain.model and s.output is s.average
    avg = [p.detach().clone() for p in m.parameters()]
    for i, (x, y) in enumerate(_batches(12, 50)):
        s(x, y, 0.05, i >= 2)
        d = min(0.9, (1 + i) / (10 + i))  # warm-up, then the decay asked for
        avg = [d * a + (1 - d) * p.detach() for a, p in zip(avg, m.parameters())]
    for (n, p), q, r in zip(s.average.named_parameters(), avg, m.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7, msg=n)
        assert not torch.equal(p, r) and not p.requires_grad
    a = s.average
    assert a.D.norm(dim=0).max() <= 1 + 1e-5 and a.E.norm(dim=1).max() <= a.cfg.e_row_max + 1e-5


def test_health_reports_a_non_finite_loss():
    tc = TrainConfig()
    m = DrSAE(MC)
    s = Stepper(m, make_optimizer(m, tc), tc)
    (x, y), = _batches(1, 20)
    s(x * float("nan"), y, 0.01, True)
    with pytest.raises(Diverged, match="nan"):
        s.health()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_cuda_graph_step_equals_the_eager_step():
    tc = TrainConfig(lr=0.02, ema=0.5)
    a = DrSAE(MC, seed=2).cuda()
    b = copy.deepcopy(a)
    sa = Stepper(a, make_optimizer(a, tc), tc, graph=True)
    sb = Stepper(b, make_optimizer(b, tc), tc, graph=False)
    batches = _batches(12, 64) + [tuple(t[:30] for t in _batches(1, 64, seed=3)[0])]  # a short last batch
    for i, (x, y) in enumerate(batches):
        lr, sup = 0.02 * (0.9 ** i), i >= 4
        sa(x.cuda(), y.cuda(), lr, sup)
        sb(x.cuda(), y.cuda(), lr, sup)
    assert sa.graph is not None and sb.graph is None
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6, msg=n)
    torch.testing.assert_close(sa.acc, sb.acc, rtol=1e-5, atol=1e-8)
    for (n, p), q in zip(sa.average.named_parameters(), sb.average.parameters()):  # averaged inside the graph
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6, msg=n)
