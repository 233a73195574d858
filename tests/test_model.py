import numpy as np
import pytest
import torch

from models.families.drsae import DrSAE, DrSAEConfig


def numpy_nonneg_ista(D, x, lam, a, steps):
    """Non-negative ISTA written from its definition: a gradient step on 1/2||x - Dz||^2, then the
    proximal step of lam*|z|_1 restricted to z >= 0."""
    z = np.zeros(D.shape[1])
    out = []
    for _ in range(steps):
        z = np.maximum(0.0, z - a * D.T @ (D @ z - x) - a * lam)
        out.append(z.copy())
    return np.stack(out)


def test_ista_start_equals_numpy_ista():
    torch.manual_seed(0)
    cfg = DrSAEConfig(n_input=50, n_classes=10, hidden=30, unroll=8, sparsity=0.05)
    model = DrSAE(cfg).double()
    a = model.ista_init_()
    x = torch.rand(4, 50, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    steps = model.encode(x).detach().numpy()  # (T, batch, hidden)
    D = model.D.detach().numpy()
    assert steps.shape == (8, 4, 30)
    for i in range(4):
        ref = numpy_nonneg_ista(D, x[i].numpy(), cfg.sparsity, a, 8)
        np.testing.assert_allclose(steps[:, i], ref, rtol=1e-10, atol=1e-12)
    # ISTA lowers the LASSO objective step after step: the comparison is not between two zero vectors
    obj = [0.5 * np.sum((x[0].numpy() - D @ z) ** 2) + cfg.sparsity * z.sum() for z in steps[:, 0]]
    assert steps[-1, 0].sum() > 0 and all(b <= c + 1e-12 for b, c in zip(obj[1:], obj[:-1]))


def test_step_size_respects_convergence_and_encoder_bound():
    model = DrSAE(DrSAEConfig(n_input=50, n_classes=10, hidden=30, unroll=11))
    a = model.ista_step_size()
    lip = torch.linalg.matrix_norm(model.D.detach(), ord=2).item() ** 2
    assert a <= 1 / lip + 1e-9 and a <= 1.25 / 10 + 1e-12
    assert model.E.norm(dim=1).max().item() <= 1.25 / 10 + 1e-6


def test_encode_other_unroll_and_forward_shapes():
    model = DrSAE(DrSAEConfig(n_input=20, n_classes=10, hidden=16, unroll=3))
    x = torch.rand(5, 20)
    assert model.encode(x).shape == (3, 5, 16)
    long = model.encode(x, unroll=9)
    assert long.shape == (9, 5, 16)
    torch.testing.assert_close(long[:3], model.encode(x))  # the first steps do not depend on T
    z, x_hat, logits = model(x)
    assert z.shape == (5, 16) and x_hat.shape == (5, 20) and logits.shape == (5, 10)


def test_code_is_the_last_step_with_the_same_gradients():
    """`code` (z_T alone, in-place ReLU) against the recurrence written out here, out of place: same values,
    same gradients for every parameter."""
    torch.manual_seed(1)
    model = DrSAE(DrSAEConfig(n_input=20, n_classes=10, hidden=16, unroll=4)).double()
    with torch.no_grad():
        model.S.add_(0.1 * torch.randn(16, 16, dtype=torch.float64))
        model.b.fill_(-0.05)  # most units active, so the ReLUs matter both ways
    x = torch.rand(6, 20, dtype=torch.float64)
    for unroll in (1, 4, 7):
        torch.testing.assert_close(model.code(x, unroll), model.encode(x, unroll)[-1], rtol=0, atol=0)

    def reference(m, x):
        z = torch.relu(x @ m.E.T - m.b)
        for _ in range(m.cfg.unroll - 1):
            z = torch.relu(x @ m.E.T + z @ m.S.T - m.b)
        return z

    grads = []
    for f in (lambda m: m.code(x), lambda m: reference(m, x)):
        model.zero_grad()
        z = f(model)
        (z.pow(2).sum() + model.classify(z)[:, 3].sum()).backward()
        grads.append([p.grad.clone() for p in (model.E, model.S, model.b, model.C)])
    assert grads[0][1].abs().sum() > 0
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_classifier_uses_direction_only_and_survives_silence():
    model = DrSAE(DrSAEConfig(n_input=20, n_classes=10, hidden=16, unroll=3))
    z = torch.rand(2, 16)
    torch.testing.assert_close(model.classify(z), model.classify(7.0 * z))
    assert torch.isfinite(model.classify(torch.zeros(1, 16))).all()


@pytest.mark.parametrize("c_bound, dim", [("unit", 0), ("class", 1)])
def test_projection_bounds(c_bound, dim):
    cfg = DrSAEConfig(n_input=20, n_classes=10, hidden=16, unroll=5, c_bound=c_bound)
    model = DrSAE(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(100)
        model.C.fill_(10.0)
    model.project_()
    assert model.D.norm(dim=0).max() <= 1 + 1e-5
    assert model.E.norm(dim=1).max() <= 1.25 / 4 + 1e-5
    assert model.C.norm(dim=dim).max() <= 5 + 1e-4
    if c_bound == "unit":  # each unit's weights are bounded, not a class's sum over units
        assert model.C.norm(dim=1).min() > 5 + 1e-2
    # rows already inside the bound are left alone
    small = torch.full((20,), 0.01)
    with torch.no_grad():
        model.E[0] = small
    model.project_()
    torch.testing.assert_close(model.E[0], small)


def test_c_bound_setting_and_older_configs():
    with pytest.raises(ValueError, match="c-bound"):
        DrSAEConfig(c_bound="row")
    old = DrSAEConfig().to_dict()
    del old["c_bound"]  # saved before the setting existed: those models were trained with the class bound
    assert DrSAEConfig.from_dict(old).c_bound == "class"
    assert DrSAEConfig.from_dict(DrSAEConfig(c_bound="unit").to_dict()).c_bound == "unit"


def test_the_decoder_can_start_from_windows_of_the_samples_and_take_its_own_step():
    from models.domains import spec
    from models.families import get
    from models.families.drsae import lr_scales
    from models.families.recurrent import WINDOW, start_dictionary
    from models.training.config import TrainConfig

    rng = torch.Generator().manual_seed(0)
    x = torch.rand(50, 784, generator=rng)
    x = x / x.norm(dim=1, keepdim=True)
    D = start_dictionary(x, 30, 0, "windows", spec().layout())
    side = round(WINDOW * 28)
    assert D.shape == (784, 30) and torch.allclose(D.norm(dim=0), torch.ones(30), atol=1e-5)
    for col in D.T.reshape(30, 28, 28):
        rows, cols = torch.nonzero(col, as_tuple=True)
        assert rows.max() - rows.min() < side and cols.max() - cols.min() < side  # inside one side × side window
        assert abs(col.sum().item()) < 1e-4  # its mean removed
    vectors = spec("synthetic").layout()  # not images: whole samples, as "samples"
    assert torch.equal(start_dictionary(x, 30, 0, "windows", vectors), start_dictionary(x, 30, 0, "samples"))
    cfg = get("drsae").fit(get("drsae").config(hidden=8), spec().layout())
    assert (cfg.init, cfg.decoder_lr) == ("windows", 11.0)  # the recipe: docs/results.md
    assert lr_scales(DrSAE(cfg), TrainConfig())["D"] == 11.0
    old = DrSAEConfig.from_dict({"n_input": 784, "hidden": 8})  # a run from before the settings: its recipe
    assert (old.init, old.decoder_lr) == ("samples", 1.0)
