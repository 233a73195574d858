import copy

import pytest
import torch

from models.families.digit_clip import digit_grad_norms
from models.families import get
from models.families.drsae import DrSAE, DrSAEConfig
from models.training.update import Diverged, Updater
from models.training.config import TrainConfig
from models.training.optim import make_optimizer

MC = DrSAEConfig(n_input=784, n_classes=10, hidden=40, unroll=4, sparsity=0.1)


def _batches(n, bs, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n * bs, 784, generator=g)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.randint(0, 10, (n * bs,), generator=g)
    return [(x[i * bs:(i + 1) * bs], y[i * bs:(i + 1) * bs]) for i in range(n)]


def _digit_grads(model, x, y, w):
    """Each digit's own gradient, one backward per digit: the plain definition digit_clip must match."""
    out = []
    for i in range(len(x)):
        model.zero_grad(set_to_none=True)
        L = model.losses(x[i:i + 1], y[i:i + 1])
        (L["unsup"] + (w * L["sup"] if w else 0.0)).backward()
        out.append([torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()])
    return out


def _reference_step(model, opt, tc, x, y, supervised, lr):
    """The step as torch.optim.SGD takes it, written out plainly: what Stepper must reproduce."""
    for g in opt.param_groups:
        g["lr"] = lr * g["lr_scale"]
    w = tc.sup_weight if supervised else 0.0
    if tc.digit_clip > 0:  # the mean of each digit's gradient, each cut to norm <= digit_clip
        grads = _digit_grads(model, x, y, w)
        cut = [min(1.0, tc.digit_clip / max(torch.sqrt(sum(g.pow(2).sum() for g in gs)).item(), 1e-12)) for gs in grads]
        for k, (n, p) in enumerate(model.named_parameters()):
            p.grad = None if n == "C" and not w else sum(c * gs[k] for c, gs in zip(cut, grads)) / len(x)
    else:
        L = model.losses(x, y)
        opt.zero_grad(set_to_none=True)
        (L["unsup"] + w * L["sup"]).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
    opt.step()
    model.project_()


def _stormy(seed=1):
    """A model whose recurrence blows up the gradients of some digits, as a trained 400 x 11 one does."""
    m = DrSAE(MC, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m.S.add_(0.3 * torch.randn(m.S.shape, generator=g))
        m.C.normal_(generator=g)
    return m


@pytest.mark.parametrize("supervised", [True, False])
def test_digit_grad_norms_are_each_digits_own_gradient_norm(supervised):
    m = _stormy()
    (x, y), = _batches(1, 12)
    w = 0.7 if supervised else 0.0
    L = m.losses(x, y, reduce=False)
    per = L["unsup"] + (w * L["sup"] if supervised else 0.0)
    got = digit_grad_norms(m, x, per, L["steps"], L["x_hat"], L["logits"])
    want = torch.stack([torch.sqrt(sum(g.pow(2).sum() for g in gs)) for gs in _digit_grads(m, x, y, w)])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert want.max() > 20 * want.min()  # the case it exists for: some digits' gradients explode


@pytest.mark.parametrize("digit_clip", [0.0, 50.0])  # 50: some digits of _stormy() are cut, some not
def test_stepper_takes_the_same_steps_as_torch_sgd(digit_clip):
    tc = TrainConfig(lr=0.02, digit_clip=digit_clip)
    a = _stormy() if digit_clip else DrSAE(MC, seed=1)
    b = copy.deepcopy(a)
    sa = Updater(a, make_optimizer(a, tc), tc)
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
    s = Updater(m, make_optimizer(m, tc), tc)
    off = TrainConfig(ema=0.0)
    plain = Updater(DrSAE(MC), make_optimizer(DrSAE(MC), off), off)
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
    s = Updater(m, make_optimizer(m, tc), tc)
    (x, y), = _batches(1, 20)
    s(x * float("nan"), y, 0.01, True)
    with pytest.raises(Diverged, match="nan"):
        s.health()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("digit_clip", [0.0, 1.0])
def test_cuda_graph_step_equals_the_eager_step(digit_clip):
    tc = TrainConfig(lr=0.02, ema=0.5, digit_clip=digit_clip)
    a = DrSAE(MC, seed=2).cuda()
    b = copy.deepcopy(a)
    sa = Updater(a, make_optimizer(a, tc), tc, graph=True)
    sb = Updater(b, make_optimizer(b, tc), tc, graph=False)
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("family", ["ista", "lista", "structured-drsae"])
def test_cuda_graph_step_equals_the_eager_step_for_the_other_encoders(family):
    """Their updates (FISTA targets, the power iteration on D, the residual penalty) are captured too."""
    fam = get(family)
    tc = fam.train_config(lr=0.02, ema=0.5)
    cfg = fam.config(hidden=MC.hidden, unroll=MC.unroll, fit_iterations=30) if family != "structured-drsae" else \
        fam.config(hidden=MC.hidden, unroll=MC.unroll, residual_rank=4)
    x0 = torch.cat([x for x, _ in _batches(4, 64)])
    a = fam.new(cfg, x0, 2, None).cuda()
    b = copy.deepcopy(a)
    sa = Updater(a, make_optimizer(a, tc), tc, graph=True)
    sb = Updater(b, make_optimizer(b, tc), tc, graph=False)
    for i, (x, y) in enumerate(_batches(10, 64)):
        sa(x.cuda(), y.cuda(), 0.02, i >= 4)
        sb(x.cuda(), y.cuda(), 0.02, i >= 4)
    assert sa.graph is not None
    for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=n)
    torch.testing.assert_close(torch.stack(sa.grad_norms), torch.stack(sb.grad_norms), rtol=1e-4, atol=1e-6)
