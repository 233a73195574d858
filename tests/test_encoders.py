"""ISTA, LISTA and the structured + residual DrSAE, against independent references on small cases; the comparison's
numbers on constructed cases; `python -m models compare` end to end on tiny settings."""
import json
import math

import numpy as np
import pytest
import torch

from models import cli
from models.analysis.compare import (
    active_condition, attack_error, equivalent_iterations, ista_objectives, training_numbers,
)
from models.checkpoint import export_model, load_model
from models.families import get
from models.families.recurrent import lipschitz, objective, sparse_codes
from models.training.loop import train
from models.training.optim import make_optimizer
from models.training.update import Updater
from models.training.config import train_config
from tests.data import fitted


def small_problem(seed=0, m=30, n=20, k=8):
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(m, n, generator=g, dtype=torch.float64)
    D = D / D.norm(dim=0, keepdim=True)
    x = torch.randn(k, m, generator=g, dtype=torch.float64)
    return D, x / x.norm(dim=1, keepdim=True)


def numpy_ista(D, x, lam, iterations):
    """Textbook non-negative ISTA, written apart from the models: z <- max(0, z - a (Dᵀ(Dz - x) + λ))."""
    D, x = D.numpy(), x.numpy()
    a = 1.0 / np.linalg.norm(D, 2) ** 2
    z = np.zeros((len(x), D.shape[1]))
    for _ in range(iterations):
        z = np.maximum(0.0, z - a * ((z @ D.T - x) @ D + lam))
    return z


def test_fista_codes_satisfy_the_optimality_conditions():
    """The minimiser of ½‖x − Dz‖² + λ‖z‖₁ over z ≥ 0: Dᵢᵀ(x − Dz) = λ where zᵢ > 0, ≤ λ where zᵢ = 0."""
    D, x = small_problem()
    lam = 0.05
    z = sparse_codes(D, x, lam, 3000)
    corr = (x - z @ D.T) @ D
    active = z > 1e-9
    assert active.any() and (~active).any()
    assert torch.allclose(corr[active], torch.full_like(corr[active], lam), atol=1e-6)
    assert (corr[~active] <= lam + 1e-6).all()
    # the objective computed two ways
    explicit = 0.5 * ((x.numpy() - z.numpy() @ D.numpy().T) ** 2).sum(1) + lam * np.abs(z.numpy()).sum(1)
    assert np.allclose(objective(D, x, z, lam).numpy(), explicit)


def test_ista_family_runs_textbook_ista_and_converges_to_the_optimum():
    D, x = small_problem(1)
    fam = get("ista")
    model = fam.create(fam.config(n_input=30, hidden=20, sparsity=0.05), D.float())
    model.double()
    for T in (1, 4, 30):
        assert np.allclose(model.code(x, T).detach().numpy(), numpy_ista(D, x, 0.05, T), atol=1e-10)
    far = model.code(x, 3000).detach()
    assert torch.allclose(far, sparse_codes(D, x, 0.05, 3000), atol=1e-6)
    # ISTA's objective curve falls to the optimum, and the model's own codes sit on it
    curve = ista_objectives(D, x, 0.05, 200)
    assert all(b <= a + 1e-12 for a, b in zip(curve, curve[1:]))
    assert equivalent_iterations(curve, objective(D, x, model.code(x, 7), 0.05).mean().item()) == 7


def test_lista_starts_as_ista_and_learns_to_get_closer_in_t_steps(mnist_small):
    fam = get("lista")
    cfg = fitted(fam, hidden=32, unroll=3, sparsity=0.05, fit_iterations=200, dictionary_lr=1.0)  # D nearly still
    torch.manual_seed(0)
    model = fam.new(cfg, mnist_small.train.x, 0, None)
    x = mnist_small.val.x[:500]
    ista = get("ista").create(fitted(get("ista"), hidden=32, unroll=3, sparsity=0.05), model.D.detach())
    assert torch.allclose(model.code(x), ista.code(x), atol=1e-6)  # before training: ISTA's operators

    def gap():
        with torch.no_grad():
            z, z_star = model.code(x), sparse_codes(model.D, x, 0.05, 500)
            return (objective(model.D, x, z, 0.05) - objective(model.D, x, z_star, 0.05)).mean().item()

    before = gap()
    tc = train_config(fam, ema=0.0, lr=0.01)
    up = Updater(model, make_optimizer(model, tc), tc, graph=False)
    for i in range(300):
        idx = torch.randint(0, len(mnist_small.train), (50,), generator=torch.Generator().manual_seed(i))
        up(mnist_small.train.x[idx], mnist_small.train.y[idx], tc.lr, False)
    assert gap() < 0.5 * before, (before, gap())
    # the step followed the learned dictionary (power iteration, not an SVD per update)
    assert model.a.item() == pytest.approx(1.0 / lipschitz(model.D), rel=1e-3)


def test_structured_drsae_is_tied_ista_at_zero_residual_and_penalises_residuals():
    fam = get("structured-drsae")
    D, x = small_problem(2, m=784, n=16)
    cfg = fitted(fam, hidden=16, unroll=4, sparsity=0.05, residual_weight=0.5)
    model = fam.create(cfg, D.float())
    a = model.a.item()
    # R = 0: E = a Dᵀ, S = I − a DᵀD, b = aλ, so the codes are ISTA's at step a
    E, S, b = model.operators()
    assert torch.allclose(E, a * D.float().T) and torch.allclose(b, torch.full((16,), a * 0.05))
    assert model.penalty().item() == 0
    with torch.no_grad():
        model.R_S.full[0, 1] = 2.0
        model.r_b[3] = 1.0
    assert model.penalty().item() == pytest.approx(0.5 * (4.0 + 1.0))
    assert model.operators()[1][0, 1].item() == pytest.approx(S[0, 1].item() + 2.0)
    low = fam.create(fitted(fam, hidden=16, unroll=4, residual_rank=3), D.float())
    assert low.R_E().shape == (16, 784) and low.R_E().abs().max() == 0  # U Vᵀ with V = 0
    assert sum(p.numel() for p in low.R_S.parameters()) == 2 * 16 * 3


def test_ista_takes_its_dictionary_from_a_saved_model(tmp_path, mnist_small):
    src = get("drsae").new(fitted(get("drsae"), hidden=24, unroll=3), mnist_small.train.x, 0, None)
    export_model(src, tmp_path / "m.safetensors")
    fam = get("ista")
    model = fam.new(fitted(fam, hidden=24, dictionary=str(tmp_path / "m.safetensors")), mnist_small.train.x, 0,
                    load_model)
    want = src.D.detach().half().float()
    assert torch.allclose(model.D, want / want.norm(dim=0, keepdim=True), atol=1e-6)
    assert "D" not in dict(model.named_parameters())  # fixed: the optimiser never sees it
    with pytest.raises(ValueError, match="decoder is 784×24.*--hidden 24"):
        fam.new(fitted(fam, hidden=30, dictionary=str(tmp_path / "m.safetensors")), mnist_small.train.x, 0, load_model)


def test_constructed_cases_of_the_comparison_numbers():
    assert equivalent_iterations([5.0, 3.0, 2.0, 1.5], 2.5) == 3
    assert equivalent_iterations([5.0, 3.0], 1.0) is None
    S = torch.diag(torch.tensor([4.0, 2.0, 1.0, 0.5]))
    z = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    assert active_condition(S, z) == pytest.approx(np.median([2.0, 8.0]))  # the silent digit is skipped
    # two epochs of gradient norms: {1, 3} and {2, 2, 2, 6}: pooled mean 3, pooled std sqrt(2.5)
    rows = [{"grad_norm_n": 2, "grad_norm_mean": 2.0, "grad_norm_std": 1.0, "grad_norm_median": 2.0,
             "grad_norm_max": 3.0, "val_error": 5.0, "elapsed": 10.0},
            {"grad_norm_n": 4, "grad_norm_mean": 3.0, "grad_norm_std": math.sqrt(3.0), "grad_norm_median": 2.0,
             "grad_norm_max": 6.0, "val_error": 1.5, "elapsed": 20.0}]
    t = training_numbers(rows)
    norms = np.array([1, 3, 2, 2, 2, 6], dtype=float)
    assert t.grad_cv == pytest.approx(norms.std() / norms.mean())
    assert t.grad_max_median == pytest.approx(3.0) and t.epochs_to_target == 2 and t.wall_time == 20.0


def test_attack_raises_the_error_and_eps_zero_is_clean(tiny_run, mnist_small):
    model, _ = load_model(tiny_run[0])
    x, y = mnist_small.test.x[:300], mnist_small.test.y[:300]
    with torch.no_grad():
        clean = (model.classify(model.code(x)).argmax(1) != y).float().mean().item() * 100
    assert attack_error(model, x, y, 5, 0.0) == pytest.approx(clean)
    assert attack_error(model, x, y, 5, 0.2) > clean + 5


def test_compare_command_trains_measures_and_writes_one_table(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--out", str(out), "--seeds", "0,1", "--hidden", "24", "--unroll", "3", "--limit", "1500",
            "--pretrain-epochs", "1", "--epochs", "1", "--digits", "300", "--max-iterations", "200"]
    assert cli.main(argv) == 0
    text = (out / "compare.md").read_text()
    for name in ("ISTA (seeds 0, 1)", "LISTA (seeds 0, 1)", "DrSAE (seeds 0, 1)", "SR-DrSAE (seeds 0, 1)"):
        assert name in text
    data = json.loads((out / "compare.json").read_text())
    assert len(data["models"]) == 8 and data["samples"].startswith("300 test digits")
    by = {(m["family"], m["seed"]): m for m in data["models"]}
    # LISTA regressed the codes of ISTA's dictionary: the same optimum, and a smaller gap to it
    ista, lista = by[("ista", 0)]["comparison"], by[("lista", 0)]["comparison"]
    assert lista["reference_objective"] == pytest.approx(ista["reference_objective"], rel=1e-4)  # D renormalised
    assert lista["objective_gap"] < ista["objective_gap"] if "objective_gap" in lista else True
    assert json.loads((out / "lista-s0" / "config.json").read_text())["model"]["dictionary"] == str(out / "ista-s0")
    assert all(m["training"]["grad_cv"] > 0 for m in data["models"])
    # a second call reads the finished runs (nothing retrained) and writes the same table
    stamp = (out / "drsae-s0" / "checkpoint.pt").stat().st_mtime
    assert cli.main(argv) == 0
    assert (out / "drsae-s0" / "checkpoint.pt").stat().st_mtime == stamp
    assert cli.main(["compare", "--out", str(out), "--families", "lista,nope"]) == 2
    assert "nope cannot be compared" in capsys.readouterr().err


def test_digit_clip_is_refused_for_a_model_it_does_not_know(mnist_small, tmp_path):
    fam = get("ista")
    with pytest.raises(ValueError, match="--digit-clip works for DrSAE models only"):
        train(fam.config(hidden=16), train_config(fam, digit_clip=1.0, limit=200), tmp_path / "r", data=mnist_small)


def test_compare_command_takes_a_sparse_autoencoder_and_skips_what_it_cannot_measure(tmp_path, capsys):
    from models.assets import MODELS

    models = [str(MODELS / n) for n in ("topk-sae-128", "ista-400x11", "rg-vae")]
    assert cli.main(["compare", "--out", str(tmp_path), "--models", *models, "--digits", "200",
                     "--max-iterations", "50"]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "RG-VAE models lack a decoder" in err
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in
            (tmp_path / "compare.md").read_text().splitlines() if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"model", "topk-sae-128", "ista-400x11"}  # the RG-VAE skipped, said on stderr
    head = rows["model"]
    at = {h: i for i, h in enumerate(head)}
    assert rows["topk-sae-128"][at["objective"]] == "n/a" and rows["ista-400x11"][at["objective"]] != "n/a"
    assert 0 < float(rows["topk-sae-128"][at["FVU"]]) < 1 and rows["topk-sae-128"][at["L0"]] == "16.0"
