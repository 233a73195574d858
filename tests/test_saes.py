"""Today's sparse autoencoders (models/families/sae.py and the five family modules): each forward pass against a
hand-written reference on a tiny case, their losses, the straight-through gradient of JumpReLU's thresholds, dead
latents (aux-k, resampling), and a short run of each that trains, saves and loads."""
import numpy as np
import pytest
import torch

from models.analysis.steps import step_stats
from models.data import Split
from models.checkpoint import load_model
from models.services import jobs
from models.families import capabilities, get
from models.families.jumprelu_sae import rectangle
from models.families.matryoshka_sae import prefix_sizes
from models.training.batches import InMemory
from models.training.config import train_config
from models.training.loop import train
from models.training.optim import make_optimizer

SAES = ["relu-sae", "topk-sae", "batchtopk-sae", "jumprelu-sae", "matryoshka-sae"]


def model_of(name: str, d: int = 6, hidden: int = 8, **settings):
    f = get(name)
    return f.create(f.config(n_input=d, hidden=hidden, **settings))


def test_topk_keeps_exactly_k_largest():
    m = model_of("topk-sae", k=3).eval()
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    pre = m.pre(x).detach().numpy()
    z = m.code(x).detach().numpy()
    for row_pre, row_z in zip(pre, z):
        keep = np.argsort(-row_pre)[:3]
        want = np.zeros_like(row_pre)
        want[keep] = np.maximum(row_pre[keep], 0)
        assert np.allclose(row_z, want)
        assert (row_z > 0).sum() == (row_pre[keep] > 0).sum() <= 3


def test_batchtopk_keeps_exactly_k_times_batch_and_learns_its_threshold():
    m = model_of("batchtopk-sae", k=2).train()
    with torch.no_grad():
        m.b_enc.fill_(5.0)  # every pre-activation positive: exactly k · batch survive
    x = torch.randn(7, 6, generator=torch.Generator().manual_seed(2))
    pre = m.pre(x).detach()
    z = m.activate(pre)
    assert int((z > 0).sum()) == 2 * 7
    flat = pre.flatten()
    assert torch.equal(z.flatten() > 0, flat >= flat.topk(14).values.min())  # the largest, wherever they fall
    assert float(m.threshold) == pytest.approx(float(z[z > 0].min()))  # the first batch: its smallest kept value
    m.eval()
    inference = m.code(x)
    assert torch.equal(inference > 0, pre > m.threshold)


def test_jumprelu_threshold_gradient_is_the_straight_through_formula():
    eps, lam = 0.1, 0.3
    m = model_of("jumprelu-sae", d=4, hidden=3, bandwidth=eps, sparsity=lam).train()
    with torch.no_grad():
        m.threshold.copy_(torch.tensor([0.2, 0.5, 0.9]))
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(3))
    g = torch.randn(20, 3, generator=torch.Generator().manual_seed(4))
    out = m.losses(x, reduce=False)
    z = out["z"]
    # a loss whose gradient on z is g, plus the L0 term of the objective minus its reconstruction
    loss = (z * g).sum() + (out["objective"] - out["recon"]).sum()
    loss.backward()
    pre = m.pre(x).detach()
    theta = m.threshold.detach()
    K = rectangle((pre - theta) / eps)
    want = (g * -(theta / eps) * K).sum(0) + lam * (-(1 / eps) * K).sum(0)
    assert torch.allclose(m.threshold.grad, want, atol=1e-6)
    assert torch.equal(z > 0, pre > theta) and torch.allclose(z, pre * (pre > theta))
    assert torch.allclose(out["objective"] - out["recon"], lam * (pre > theta).sum(1).float())


def test_matryoshka_loss_is_the_sum_of_its_prefixes_losses():
    assert prefix_sizes(16, 3) == [4, 8, 16] and prefix_sizes(3, 4) == [1, 3]
    m = model_of("matryoshka-sae", d=5, hidden=16, k=4, prefixes=3, aux_weight=0.0).train()
    x = torch.randn(9, 5, generator=torch.Generator().manual_seed(5))
    out = m.losses(x, reduce=False)
    z, W, b = out["z"], m.W_dec, m.b_dec
    want = sum(0.5 * (x - (z[:, :n] @ W[:, :n].T + b)).pow(2).sum(1) for n in (4, 8, 16))
    assert torch.allclose(out["objective"], want, atol=1e-6)
    assert torch.allclose(out["recon"], 0.5 * (x - (z @ W.T + b)).pow(2).sum(1), atol=1e-6)


def test_relu_sae_penalty_is_weighted_by_decoder_norms():
    m = model_of("relu-sae", d=5, hidden=4, sparsity=0.2).train()
    with torch.no_grad():
        m.W_dec.mul_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(6))
    out = m.losses(x, reduce=False)
    z = torch.relu((x - m.b_dec) @ m.W_enc.T + m.b_enc)
    norms = m.W_dec.norm(dim=0)
    want = 0.5 * (x - z @ m.W_dec.T - m.b_dec).pow(2).sum(1) + 0.2 * (z * norms).sum(1)
    assert torch.allclose(out["objective"], want, atol=1e-6)
    m.project_()  # its decoder stays free
    assert torch.allclose(m.W_dec.norm(dim=0), norms)
    t = model_of("topk-sae", d=5, hidden=4, k=2)
    with torch.no_grad():
        t.W_dec.mul_(3.0)
    t.project_()
    assert torch.allclose(t.W_dec.norm(dim=0), torch.ones(4))


def test_aux_k_trains_dead_latents_on_the_residual():
    m = model_of("topk-sae", d=6, hidden=8, k=2, dead_window=10).train()
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(7))
    out = m.losses(x, reduce=False)
    assert torch.allclose(out["objective"], out["recon"])  # nothing dead yet: no auxiliary loss
    with torch.no_grad():
        m.since_fired.fill_(100)
    out = m.losses(x, reduce=False)  # the latents that fired on this batch come back to 0; the others are dead
    dead = m.dead
    assert torch.equal(dead, (out["z"] == 0).all(0)) and 0 < int(dead.sum()) < 8
    n_dead = int(dead.sum())
    k_aux = min(3, n_dead)  # half the input's size, at most the dead ones
    pre = m.pre(x).detach().masked_fill(~dead, float("-inf"))
    top = pre.topk(k_aux, dim=1)
    z_aux = torch.zeros(4, 8).scatter(1, top.indices, top.values.relu())
    want = 0.5 * ((x - out["x_hat"]).detach() - z_aux @ m.W_dec.detach().T).pow(2).sum(1) * min(n_dead / k_aux, 1.0)
    assert torch.allclose(out["objective"] - out["recon"], want / 32, atol=1e-6)


def test_resampling_restarts_dead_latents_on_badly_reconstructed_inputs():
    m = model_of("relu-sae", d=6, hidden=5, resample_every=2, dead_window=1)
    opt = make_optimizer(m, train_config(get("relu-sae")))
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(8))
    m.train()
    m.losses(x)["objective"].backward()
    opt.step()
    with torch.no_grad():
        m.since_fired.copy_(torch.tensor([0, 5, 0, 5, 0]))  # units 1 and 3 dead
    before = {k: v.clone() for k, v in m.state_dict().items()}
    draw = InMemory(Split(x), 10, "cpu", torch.Generator()).draw  # the training loop's draw of inputs
    assert m.after_epoch_(0, draw, opt, torch.Generator().manual_seed(0)) == {}  # not a resampling epoch
    out = m.after_epoch_(1, draw, opt, torch.Generator().manual_seed(0))
    assert out == {"resampled": 2}
    for i in (1, 3):
        col = m.W_dec[:, i].detach()
        v = col / col.norm()
        assert any(torch.allclose(v, (r - m.b_dec.detach()) / (r - m.b_dec.detach()).norm(), atol=1e-5) for r in x)
        assert float(m.b_enc.detach()[i]) == 0.0 and torch.allclose(m.W_enc[i] / m.W_enc[i].norm(), v, atol=1e-5)
        assert float(opt.state[m.W_enc]["exp_avg"][i].abs().sum()) == 0.0
    for i in (0, 2, 4):  # the live ones untouched
        assert torch.equal(m.W_dec[:, i], before["W_dec"][:, i]) and torch.equal(m.W_enc[i], before["W_enc"][i])
    assert m.since_fired.tolist() == [0, 0, 0, 0, 0]
    again = model_of("relu-sae", d=6, hidden=5, resample_every=2, dead_window=1)
    again.load_state_dict(before)
    with torch.no_grad():
        again.since_fired.copy_(torch.tensor([0, 5, 0, 5, 0]))
    again.after_epoch_(1, draw, make_optimizer(again, train_config(get("relu-sae"))), torch.Generator().manual_seed(0))
    assert torch.equal(again.W_dec, m.W_dec)  # the same generator state: the same restart (a resumed run's)


@pytest.fixture(scope="module")
def sae_runs(tmp_path_factory, mnist_small):
    """Each family trained 2 epochs on 3,000 digits, 32 latents, in one runs folder."""
    out = {}
    root = tmp_path_factory.mktemp("sae")
    for name in SAES:
        f = get(name)
        run = root / name
        tc = train_config(f, epochs=2, limit=3000, batch_size=100)
        history = train(f.config(hidden=32, resample_every=1), tc, run, data=mnist_small, device="cpu")
        out[name] = (run, history)
    return out


@pytest.mark.parametrize("name", SAES)
def test_each_family_trains_saves_and_loads(sae_runs, name, mnist_small):
    run, history = sae_runs[name]
    assert len(history) == 2 and history[-1]["val_recon"] < history[0]["train_recon"] * 2
    assert "resampled" in history[-1] and history[-1]["val_error"] is None
    model, _ = load_model(run)
    caps = capabilities(model)
    assert caps.decoder and caps.filters and not caps.steps and not caps.classifier
    with torch.no_grad():
        z = model.eval().code(mnist_small.test.x[:200])
    assert z.shape == (200, 32) and (z >= 0).all()
    w = model.unit_weights()
    assert w.encoder.shape == w.decoder.shape == (32, 784)
    if name == "topk-sae":
        assert ((z > 0).sum(1) <= model.cfg.k).all()
    x = mnist_small.test.x[:200]
    direct = 0.5 * (x - model.decode(model.code(x))).pow(2).sum(1).mean().item()
    assert step_stats(model, mnist_small.test.head(200), 1).recon[0] == pytest.approx(direct, rel=1e-4)  # with b_d


def test_the_new_families_open_on_the_pages_they_can_fill(sae_runs, monkeypatch):
    """No family-specific page code: a TopK SAE (k 16 of 32 latents) on Overview, Filters, Reconstructions, Units,
    Representation and Training; the sidebar's sparsity is its k; no recurrent steps or classifier pages."""
    from streamlit.testing.v1 import AppTest

    from tests.data import DIGITS
    from tests.test_app import ROOT, server_navigation

    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", sae_runs["topk-sae"][0].parent)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.selectbox(key="model-group").set_value(("run", "topk-sae", 32, 1, DIGITS)).run()
    assert not at.exception, at.exception
    assert "TopK sparse autoencoder" in at.title[0].value
    assert any(c.value.startswith("Sparsity k = 16") for c in at.sidebar.caption)
    for page in ("pages/overview.py", "pages/filters.py", "pages/reconstructions.py", "pages/units.py", "pages/unit_browser.py",
                 "pages/representation.py", "pages/training.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
        if page != "pages/training.py":
            assert at.get("plotly_chart"), f"{page} shows no figure"
    for page in ("pages/dynamics.py", "pages/confusion.py"):
        with pytest.raises(Exception, match="Known pages"):
            at.switch_page(page)
    at.switch_page("pages/training.py").run()
    [w for w in at.selectbox if w.label == "Model family"][0].set_value("topk-sae").run()
    assert not at.exception
    assert [w.value for w in at.number_input if w.label == "Active latents k"] == [16]
    assert [w for w in at.text_input if w.label == "k values"]  # a sweep over k
