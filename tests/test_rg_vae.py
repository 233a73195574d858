"""The rectified-Gaussian VAE family: its bound against an exact log-likelihood, its posterior, training, evaluation,
the hierarchy's views, the side-by-side command and bad settings."""
import json
import math

import numpy as np
import pytest
import torch

import models.families.rg_vae.rectified_gaussian as rg
from models.families.rg_vae.hierarchy import carried_down, hierarchy, layer_code, samples, traversal
from models.families.rg_vae.likelihood import importance_weighted, likelihood
from models.checkpoint import load_model
from models.data import binarized, intensities
from models.families import get
from models.families.rg_vae import RGVAE, RGVAEConfig


def tiny(posterior="structured", seed=0) -> RGVAE:
    """One rectified-Gaussian unit over four pixels: log p(x) is a one-dimensional integral."""
    torch.manual_seed(seed)
    m = RGVAE(RGVAEConfig(n_input=4, layers="1", width=4, posterior=posterior)).double().eval()
    with torch.no_grad():
        m.top_mu.fill_(0.3)
        for p in m.out.parameters():
            if p.dim() == 2:
                p.mul_(3.0)  # pixels that depend strongly on z
    return m


def exact_log_px(m: RGVAE, x: torch.Tensor) -> float:
    """log p(x) = log [Φ(−μ/σ) p(x | 0) + ∫_0^∞ N(z; μ, σ²) p(x | z) dz], by the trapezoid rule (float64)."""
    mu, sigma = (t[0, 0].detach() for t in m.prior(0, None, 1))
    z = torch.linspace(0.0, float(mu + 14 * sigma), 400_001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        log_lik = -torch.nn.functional.binary_cross_entropy_with_logits(
            m.out(z), x.expand(len(z), -1), reduction="none").sum(1)
        dens = torch.exp(-0.5 * ((z[:, 0] - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        slab = torch.trapezoid(dens * log_lik.exp(), z[:, 0])
        spike = rg.p_zero(mu, sigma) * log_lik[0].exp()
    return float(torch.log(spike + slab))


@pytest.mark.parametrize("posterior", ["structured", "mean-field"])
def test_the_bounds_against_an_exact_log_likelihood(posterior):
    m = tiny(posterior)
    x = torch.tensor([[1.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    exact = exact_log_px(m, x)
    with torch.no_grad():
        ll, kl = m.log_weights(x.expand(20_000, -1), generator=torch.Generator().manual_seed(1))
    elbo = float((ll - torch.stack(kl).sum(0)).mean())
    assert elbo < exact - 0.01  # the ELBO is below log p(x) by KL(q ‖ posterior) > 0 for an untrained q
    iw = float(importance_weighted(m, x, 200_000, rows=50_000)[0])
    assert iw == pytest.approx(exact, abs=0.01)  # with many samples the importance-weighted bound reaches it
    assert float(importance_weighted(m, x, 1_000)[0]) < exact + 0.01  # a lower bound, up to its noise


def test_the_structured_posterior_weighs_prior_and_evidence_by_precision():
    m = RGVAE(RGVAEConfig(n_input=784, layers="2", width=4))
    prior = (torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 2.0]]))
    evidence = (torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 1.0]]))
    mu, sigma = m.posterior(prior, evidence)
    assert torch.allclose(mu, torch.tensor([[2.0, 3.2]]))  # (1·1 + 3·1)/2; (0·¼ + 4·1)/1.25
    assert torch.allclose(sigma, torch.tensor([[0.5 ** 0.5, 0.8 ** 0.5]]))
    mf = RGVAE(RGVAEConfig(n_input=784, layers="2", width=4, posterior="mean-field"))
    assert mf.posterior(prior, evidence) is evidence


def test_binarisation_is_fixed_by_its_seed_and_keeps_the_intensity():
    x = torch.full((400, 784), 0.3)
    a, b = binarized(x, 123), binarized(x[:100], 123)
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a[:100], b)  # the first digits get the same bits whatever follows
    assert not torch.equal(a, binarized(x, 124))
    assert float(a.mean()) == pytest.approx(0.3, abs=0.005)
    img = np.array([[[0, 255], [51, 0]]], dtype=np.uint8)
    assert torch.allclose(intensities(img), torch.tensor([[0.0, 1.0, 0.2, 0.0]]))


def test_the_kl_warm_up_weighs_the_training_objective():
    torch.manual_seed(0)
    m = RGVAE(RGVAEConfig(n_input=784, layers="8,4", width=8, warmup=4.0)).train()
    m.schedule_(0.0)
    assert m.kl_weight == 0.25
    out = m.losses(torch.rand(16, 784), reduce=False)
    assert torch.allclose(out["objective"], out["recon"] + 0.25 * out["l1"])
    m.schedule_(7.5)
    assert m.kl_weight == 1.0
    m.eval()
    out = m.losses(torch.rand(16, 784), reduce=False)
    assert torch.allclose(out["unsup"], out["recon"] + out["l1"]) and torch.equal(out["objective"], out["unsup"])


def test_a_run_trains_records_its_bound_and_loads(vae_run):
    out, history, data = vae_run
    assert [r["phase"] for r in history] == ["train"] * 3
    first, last = history[0], history[-1]
    assert last["val_elbo"] > first["val_elbo"]  # it learns
    assert last["val_elbo"] == pytest.approx(-(last["val_recon"] + sum(last[f"val_kl_{n}"] for n in (1, 2))))
    assert 0 < last["val_active_1"] <= 24 and 0 < last["val_active_2"] <= 12
    model, _ = load_model(out)
    assert isinstance(model, RGVAE) and model.cfg.sizes == [24, 12] and model.cfg.hidden == 36
    assert get("rg-vae").describe(model.cfg) == "24-12 structured"
    # the recorded validation ELBO is the evaluation's on those digits, same seed, same samples
    from models.families.rg_vae import validate

    again = validate(model, data.val)
    assert again["elbo"] == pytest.approx(last["val_elbo"], abs=1e-3)


def test_likelihood_numbers_hold_together(vae_run):
    out, _, data = vae_run
    model, _ = load_model(out)
    split = data.test.head(400)
    r = likelihood(model, split, iwae_k=50, iwae_digits=40)
    assert r.elbo == pytest.approx(-(r.recon + r.kl))
    assert r.iwae > r.elbo_on_iwae_digits  # more samples, a tighter bound
    assert [la.units for la in r.layers] == [24, 12]
    for la in r.layers:
        assert 0 <= la.zero_fraction <= 1 and 0 <= la.active <= la.units and la.kl > 0
        assert la.p_zero.shape == (la.units,) and 0 <= la.probe_error <= 100
    # the zero fraction is what the posterior's P(0) predicts, on average
    predicted = np.mean(np.concatenate([la.p_zero for la in r.layers]))
    assert r.zero_fraction == pytest.approx(predicted, abs=0.03)


def test_the_hierarchy_views(vae_run):
    out, _, data = vae_run
    model, _ = load_model(out)
    x = data.test.x[:300]
    h = hierarchy(model, x)
    assert [la.images.shape for la in h.layers] == [(24, 784), (12, 784)]
    with torch.no_grad():  # a bottom unit switched on alone is the pixel net on that one-hot code
        want = torch.sigmoid(model.out(torch.diag(torch.as_tensor(h.layers[0].value))))
    assert np.allclose(h.layers[0].images, want.numpy(), atol=1e-6)
    assert h.layers[1].top_digits.shape == (12, 12)
    with torch.no_grad():
        means = model.run(model.evaluation_inputs(x), sample=False).z[1][:, 5]
    assert int(h.layers[1].top_digits[5, 0]) == int(torch.argmax(means))
    s = samples(model, x[0], 6, seed=3)
    assert s.from_bottom.shape == s.from_top.shape == (3, 6, 784)
    for frames in (s.from_bottom, s.from_top):
        assert np.allclose(frames[0], s.reconstruction[None])  # depth 0: the digit's own code
    other = samples(model, x[1], 6, seed=3)
    assert np.allclose(s.from_bottom[2], other.from_bottom[2])  # every layer afresh: the digit no longer matters
    assert np.allclose(s.from_top[2], other.from_top[2], atol=1e-6)
    assert not np.allclose(s.from_bottom[1], other.from_bottom[1])  # the top layer kept: it does
    assert not np.allclose(s.from_top[1], s.from_top[0])  # a new top layer changes the layer the structured
    # posterior infers below it; a mean-field posterior ignores it: its samples stay the digit's reconstruction
    from dataclasses import replace

    mean_field = RGVAE(replace(model.cfg, posterior="mean-field"))
    mean_field.load_state_dict(model.state_dict())
    mf = samples(mean_field, x[0], 6, seed=3)
    assert np.allclose(mf.from_top[1], mf.reconstruction[None], atol=1e-6)
    with torch.no_grad():
        top = model.run(model.evaluation_inputs(x[:1]), sample=False).z[1]
    own = float(top[0, 2])
    frames = traversal(model, x[0], 2, np.array([own, own + 5.0]))
    assert np.allclose(frames[0], carried_down(model, 1, top)[0].numpy(), atol=1e-6)  # its own value: no change
    assert not np.allclose(frames[0], frames[1])
    c = layer_code(model, x[0])
    assert [len(m) for m in c.means] == [24, 12] and c.reconstruction.shape == (784,)


def test_posteriors_side_by_side(tmp_path):
    from models.cli import main

    out = tmp_path / "post"
    assert main(["posteriors", "--out", str(out), "--epochs", "1", "--limit", "500", "--iwae-k", "5",
                 "--iwae-digits", "10", "--digits", "200"]) == 0
    text = (out / "posteriors.md").read_text()
    assert "| structured | 1 |" in text and "| mean-field | 1 |" in text and "Structured − mean-field" in text
    numbers = json.loads((out / "posteriors.json").read_text())
    assert set(numbers) == {"structured", "mean-field"}
    assert numbers["structured"]["iwae_k"] == 5 and len(numbers["mean-field"]["layers"]) == 4


def test_evaluate_prints_the_bound(vae_run, capsys):
    from models.cli import main

    out, _, _ = vae_run
    assert main(["evaluate", str(out), "--sample", "--iwae-k", "5", "--iwae-digits", "10", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["architecture"] == "rg-vae" and r["n_test"] == 1000 and r["iwae_k"] == 5
    assert r["elbo"] < 0 and r["layer_2_units"] == 12


@pytest.mark.parametrize("flags, message", [
    (["--layers", "300,abc"], "--layers must be comma-separated unit counts"),
    (["--layers", "300,0"], "--layers needs 1 to 8 layers"),
    (["--width", "0"], "--width must be in"),
    (["--warmup", "-1"], "--warmup must be in"),
])
def test_bad_settings_fail_in_one_line(tmp_path, capsys, flags, message):
    from models.cli import main

    assert main(["train", "--family", "rg-vae", "--out", str(tmp_path / "r"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_evaluate_refuses_another_precision_in_one_line(vae_run, capsys):
    from models.cli import main

    assert main(["evaluate", str(vae_run[0]), "--sample", "--dtype", "bfloat16"]) == 2
    err = capsys.readouterr().err
    assert "evaluated on the CPU in float32" in err and err.count("\n") == 1
