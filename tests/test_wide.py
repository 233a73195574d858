"""Wide dictionaries: the sparse codes' measurements against their dense definitions on constructed and random
cases, the one-step shortcuts (held codes, single-unit ablations) against the generic path, batch-size invariance of
the unit analysis, and a 16,384-latent model (a few training steps) through every page it fills, in AppTest."""
import numpy as np
import pytest
import torch

from models.analysis import representation as rep
from models.analysis.activity import analyse, step_decoders
from models.analysis.codes import LinearDecoder, SparseCodes, sample_limit
from models.analysis.intervene import kind_sets, set_ablations, unit_ablations
from models.analysis.steps import codes, step_stats
from models.analysis.unit_index import unit_index
from models.analysis.units import unit_table
from models.data import Split
from models.domains import spec
from models.families import get
from models.training.config import train_config
from models.training.loop import train
from tests.test_app import settle
from tests.test_domain_pages import open_run


def random_codes(n=300, h=40, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.exponential(1.0, (n, h)) * (rng.random((n, h)) < density)
    z[:, 3] = 0  # a dead unit
    return z.astype(np.float32)


def test_sparse_codes_measure_what_the_dense_definitions_measure():
    z = random_codes()
    y = np.random.default_rng(1).integers(0, 6, len(z))
    c = SparseCodes.of(z)
    assert c.n == 300 and len(c.values) == int((z != 0).sum())
    assert np.array_equal(c.dense(), z) and np.array_equal(c.dense([5, 0, 5]), z[[5, 0, 5]])
    assert np.array_equal(rep.density(c), (z > 0).mean(0))
    assert np.allclose(rep.lifetime_sparseness(c), rep.treves_rolls(z, 0), equal_nan=True)
    assert np.allclose(rep.population_sparseness(c), rep.treves_rolls(z, 1), equal_nan=True)
    assert np.allclose(c.class_means(y), rep.class_means(z.astype(np.float64), y))
    assert np.allclose(rep.information(c, y), rep.mutual_information(rep.discretise(z), y))
    assert rep.mig(c, y)[0] == pytest.approx(rep.mig(rep.discretise(z), y)[0])
    u = 7
    rows, values = c.column(u)
    assert np.array_equal(rows, np.argsort(-z[:, u], kind="stable")[:len(rows)]) and (values > 0).all()
    assert c.value(rows[0], u) == z[rows[0], u] and c.value(0, 3) == 0.0
    kept = c.without(np.isin(np.arange(40), [7, 8]))
    want = z.copy()
    want[:, [7, 8]] = 0
    assert np.array_equal(kept.dense(), want)
    assert np.array_equal(SparseCodes.joined([c.between(0, 100), c.between(100, 300)], 40).dense(), z)


def test_the_unit_index_from_entries_equals_the_dense_one():
    z = random_codes(seed=2)
    y = np.random.default_rng(3).integers(0, 4, len(z))
    ix = unit_index(SparseCodes.of(z), y, top=5)
    assert np.allclose(ix.density, (z > 0).mean(0))
    fires = (z > 0).sum(0)
    assert np.allclose(ix.mean, np.where(fires > 0, z.sum(0) / np.maximum(fires, 1), 0))
    for u in range(40):
        best = np.argsort(-z[:, u], kind="stable")[:5]
        assert ix.top[u].tolist() == [int(i) if z[i, u] > 0 else -1 for i in best]
    assert np.allclose(ix.selectivity, rep.selectivity(z, y)) and ix.preferred.tolist() == \
        rep.class_means(z, y).argmax(0).tolist()


def sae(family="topk-sae", d=12, hidden=64, seed=0, **settings):
    f = get(family)
    model = f.create(f.config(n_input=d, hidden=hidden, **settings))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)))
    return model.eval()


def test_a_linear_decoder_of_the_entries_decodes_as_the_model_does():
    model = sae("relu-sae")
    x = torch.randn(50, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        z = model.code(x)
        assert torch.allclose(LinearDecoder.of(model)(SparseCodes.of(z)), model.decode(z), atol=1e-5)
        assert torch.allclose(LinearDecoder.of(model)(SparseCodes.of(z), 10, 20), model.decode(z[10:20]), atol=1e-5)


def test_one_step_shortcuts_give_the_generic_numbers(monkeypatch):
    """Held codes and single-unit ablations of a model without steps, from its codes, against running the model
    with each hold (the generic path: what a model with steps takes)."""
    from models.analysis import intervene

    model = sae("topk-sae", k=6)
    x = torch.randn(120, 12, generator=torch.Generator().manual_seed(1))
    split = Split(x)
    kind = unit_table(model).kind
    sets = kind_sets(kind) + (("chosen", (1, 5, 9)),)
    fast = set_ablations(model, split, 1, sets, batch=50)
    fast_from_codes = set_ablations(model, split, 1, sets, batch=50, codes=codes(model, split, 1).z)
    fast_units = unit_ablations(model, split, 1, batch=50)
    monkeypatch.setattr(intervene, "capabilities", lambda m: type(get("topk-sae").capabilities)(
        **{**get("topk-sae").capabilities.__dict__, "steps": True}))  # as if it had steps: the generic path
    slow = set_ablations(model, split, 1, sets, batch=50)
    slow_units = unit_ablations(model, split, 1, batch=50)
    for a in (fast, fast_from_codes):
        assert a.recon == pytest.approx(slow.recon, rel=1e-5)
        assert all(a.set_recon[k] == pytest.approx(slow.set_recon[k], rel=1e-5) for k in slow.set_recon)
    assert np.allclose(fast_units.recon, slow_units.recon, rtol=1e-4) and fast_units.runs == slow_units.runs
    assert np.array_equal(fast_units.active, slow_units.active)


def test_codes_and_step_stats_agree_and_the_analysis_does_not_depend_on_its_batch(tiny_run, mnist_small):
    from models.checkpoint import load_model

    model, _ = load_model(tiny_run[0])
    split = mnist_small.test.head(700)
    T = model.trained_unroll
    c = codes(model, split, T, batch=300)
    stats = step_stats(model, split, T, batch=300)
    assert c.stats.active[0] == pytest.approx(stats.active[-1]) and c.stats.recon[0] == pytest.approx(stats.recon[-1])
    assert c.stats.error[0] == pytest.approx(stats.error[-1])
    a, b = analyse(model, split, batch=700), analyse(model, split, batch=128)
    for name in ("first_step_mean", "p_late_start", "active_fraction", "recon_share", "selectivity"):
        assert np.allclose(getattr(a.activity, name), getattr(b.activity, name), equal_nan=True), name
    assert np.array_equal(a.first_step_hist, b.first_step_hist) and np.allclose(a.class_means, b.class_means)
    d1, d2 = step_decoders(model, split, batch=700), step_decoders(model, split, batch=100)
    assert np.allclose(d1.decoders, d2.decoders, atol=1e-4) and np.allclose(d1.error, d2.error, rtol=1e-6)


def test_a_wide_model_is_measured_on_fewer_samples():
    assert sample_limit(400, 10_000) == 10_000 and sample_limit(16_384, 10_000) == 4_096
    assert sample_limit(1 << 20, 10_000) == 1_000 and sample_limit(1 << 20, 300) == 300


WIDE = 16_384


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory):
    """A TopK SAE of 16,384 latents on 64-d labelled vectors, a few updates (its pages, not its quality)."""
    root = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1500, 64)).astype(np.float32)
    np.savez(root / "acts.npz", x=x, labels=(x[:, 0] > 0).astype(np.int64))
    family = get("topk-sae")
    data = spec("vectors", vectors=str(root / "acts.npz"))
    train(family.config(hidden=WIDE, k=16), train_config(family, epochs=1, batch_size=400), root / "wide",
          device="cpu", spec=data)
    return root / "wide"


def test_a_16384_latent_model_through_every_page(wide_run, monkeypatch, tmp_path):
    from models.checkpoint import load_model
    from ui import nav

    at, entry = open_run(monkeypatch, tmp_path, wide_run)
    assert any("What the model reads**: unit-norm: each sample scaled to norm 1" in c.value for c in at.caption)
    assert any("On the 150 test vectors" in c.value for c in at.caption)  # a small file: all its test samples
    model, _ = load_model(entry.path)
    assert model.cfg.hidden == WIDE
    caps = get(entry.architecture).capabilities_of(model.cfg).with_data(entry.data.layout())
    assert not caps.kinds and "Composition" not in {p.title for p in nav.offered(caps)}
    for page in nav.offered(caps):
        at.switch_page(page.path).run()
        assert not at.exception, (page.title, at.exception)
        settle(at)
        assert not at.error, (page.title, [e.value for e in at.error])
        words = " ".join(str(e.value) for kind in ("title", "markdown", "caption", "info") for e in at.get(kind))
        assert "categorical" not in words.lower(), page.title  # a one-pass SAE: no kind words
    at.switch_page("pages/filters.py").run()
    assert any("16,384 of 16,384 units match; units 1–400 of them shown" in c.value for c in at.caption)
    at.number_input(key="flt-page").set_value(41).run()  # the last page: 16,001–16,384
    assert any("units 16,001–16,384 of them shown" in c.value for c in at.caption)
    at.switch_page("pages/unit_browser.py").run()
    assert len(at.dataframe[0].value) <= WIDE and not at.exception


def test_unit_angles_are_a_row_an_epoch_and_a_lost_row_stays_in_its_place(tmp_path):
    from models.analysis.staging import staging
    from models.training import run_folder

    theta = np.random.default_rng(0).uniform(0, 1.5, (3, 5)).astype(np.float32)
    for row in theta:
        run_folder.append_unit_angles(tmp_path, row)
    assert np.array_equal(run_folder.read_unit_angles(tmp_path), theta)
    assert (tmp_path / run_folder.UNIT_ANGLES).stat().st_size == 16 + 3 * 5 * 4  # 4 bytes a unit an epoch
    run_folder.keep_unit_angles(tmp_path, 2)  # resumed from the checkpoint after epoch 2
    assert np.array_equal(run_folder.read_unit_angles(tmp_path), theta[:2])
    run_folder.keep_unit_angles(tmp_path, 4)  # a crash lost the angles of two epochs the checkpoint holds
    kept = run_folder.read_unit_angles(tmp_path)
    assert kept.shape == (4, 5) and np.isnan(kept[2:]).all()
    run_folder.append_unit_angles(tmp_path, theta[2])  # epoch 5 lands in row 5
    rows = [{"epoch": e} for e in range(5)]
    s = staging(rows, 0, run_folder.read_unit_angles(tmp_path))
    assert s.epochs.tolist() == [1, 2, 5] and np.allclose(s.angles[-1], theta[2])
