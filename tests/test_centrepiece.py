"""The centrepiece, seen (issue #42): the Dynamics heatmap's rows by kind, the S − I matrix drawn as a matrix, the
class prototypes under their classes, the Units page starting on a sample its first unit answers; and the smaller
items, each on the embedded default through AppTest or on a constructed case."""
import dataclasses

import numpy as np
import pytest
import torch

from models.analysis.recovery import by_epoch
from models.analysis.units import unit_table
from models.assets import default_model_path
from models.checkpoint import load_model
from models.kinds import KINDS
from models.training.validate import evaluate_split
from models.data import Split
from tests.test_app import app, charts, stepper_data  # noqa: F401  (app: the fixture)


def test_the_dynamics_heatmap_groups_its_rows_by_kind_and_names_each_unit(app):  # noqa: F811
    app.switch_page("pages/dynamics.py").run()
    assert not app.exception
    heat = next(p for p in stepper_data(app)["panels"] if p["kind"] == "heatmap")
    model, _ = load_model(default_model_path())
    kind = unit_table(model).kind
    units, groups = heat["units"], heat["groups"]
    assert heat["rows"] == [str(u) for u in units] and groups == [str(kind[u]) for u in units]
    rank = [KINDS.index(g) for g in groups]
    assert rank == sorted(rank) and len(set(groups)) >= 2  # categorical, then intermediate, then part: together
    assert heat["scale"] == "row" and "click a row to open the unit" in heat["caption"]


def test_the_recurrent_weights_are_drawn_as_a_matrix(app):  # noqa: F811
    app.switch_page("pages/filters.py").run()
    s = next(c for c in charts(app) if c["layout"]["title"]["text"].startswith("Recurrent weights S − I"))
    x, y = s["data"][0]["x"], s["data"][0]["y"]
    z = s["data"][0]["z"]
    assert x == y and z["shape"] == f"{len(x)}, {len(x)}"  # rows and columns: the same units, in the same order
    assert s["layout"]["yaxis"]["type"] == "category" and s["layout"]["yaxis"]["autorange"] == "reversed"
    assert s["layout"]["xaxis"]["type"] == "category"  # equal cells, the first unit at the top left


def test_each_categorical_decoder_sits_under_its_class_mean_and_the_units_page_starts_on_its_class(app):  # noqa: F811
    app.switch_page("pages/units.py").run()
    assert not app.exception
    protos = next(c for c in charts(app) if c["layout"]["title"]["text"].startswith("Class means (first row)"))
    labels = protos["data"][1]["text"]
    model, _ = load_model(default_model_path())
    t = unit_table(model)
    cats = np.flatnonzero(t.kind == "categorical")
    named = [s for s in labels if s.startswith("unit ")]
    assert len(named) == len(cats)  # every categorical unit, not the first 40
    for i, s in enumerate(labels[10:]):  # below the means: row by row, a class a column
        if s.startswith("unit "):
            assert int(s.rsplit("class ", 1)[1]) == i % 10, s
    chosen = app.session_state["u-sel"][0]
    digit = app.number_input(key="u-digit").value
    assert int(app.session_state["u-digit"]) == digit
    from ui.compute import samples_of
    from models.services import catalog

    entry = next(e for e in catalog.entries() if e.key == "default:drsae-400x11")
    labels_of = samples_of(str(entry.path), entry.version(), entry.data.key).split.y.numpy()
    assert labels_of[digit] == t.c_class[chosen]  # a sample of the class its first unit answers


def test_quartiles_of_epochs_are_said_once_an_epoch():
    assert by_epoch([1, 1, 1]) == "three quarters of them by epoch 1"
    assert by_epoch([1, 2, 4]) == "a quarter of them by epoch 1, half by epoch 2, three quarters by epoch 4"
    assert by_epoch([1, 1, 3]) == "half of them by epoch 1, three quarters by epoch 3"
    from ui.figures import histogram

    fig = histogram(np.array([1, 1, 2, 3]), "t", "epoch", bins=4, whole=True)
    assert fig.layout.xaxis.tickformat == "d" and fig.data[0].xbins.size == 1 and fig.data[0].xbins.start == 0.5


def test_a_code_cost_that_is_not_l1_is_named_as_such():
    class L0Model(torch.nn.Module):
        """A 'model' whose code cost counts active units (as JumpReLU's does)."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.unsup_weight = 1.0

        def forward(self, x, unroll=None):
            return x.clamp_min(0), x, None

        def code_cost(self, z):
            return (z > 0).float().sum(1)

    x = torch.tensor([[2.0, 0.0, 3.0], [0.5, 0.0, 0.0]])
    r = evaluate_split(L0Model(), Split(x))
    assert r["l1"] == pytest.approx(1.5) and r["l1_norm"] == pytest.approx(2.75) and r["active"] == 1.5


def test_a_second_start_while_every_trainer_is_busy_is_queued(app, monkeypatch, digits_in_cache):  # noqa: F811
    from models.services import jobs
    from tests.test_app import get

    monkeypatch.setenv("SPARSELAB_MAX_TRAINERS", "1")
    app.switch_page("pages/training.py").run()
    get(app, "number_input", "Hidden units").set_value(16)
    get(app, "number_input", "Samples per split").set_value(300)
    get(app, "number_input", "Supervised epochs").set_value(200)
    get(app, "button", "Start training").click().run()
    assert any("running" in s.value for s in app.success), [e.value for e in app.error]
    get(app, "number_input", "Supervised epochs").set_value(201)  # another run, while the first trains
    get(app, "button", "Start training").click().run()
    assert not app.error, [e.value for e in app.error]
    assert any("is queued: it starts as soon as a trainer is free" in s.value for s in app.success)
    runs = {j.state: j.run for j in jobs.list_jobs(jobs.RUNS_ROOT)}
    assert sorted(runs) == ["queued", "running"], runs
    jobs.stop(runs["queued"])  # out of the queue first, so that the trainer's exit starts nothing
    jobs.stop(runs["running"])


def test_the_training_form_and_curves_speak_the_family_and_the_data(app):  # noqa: F811
    from tests.test_app import get

    app.switch_page("pages/training.py").run()
    app.selectbox(key="train-family").set_value("topk-sae").run()
    labels = [w.label for w in app.number_input] + [w.label for w in app.selectbox]
    assert "Training epochs" in labels and not [s for s in labels if "L_S" in s or "Classifier lr" in s]
    train_on = get(app, "selectbox", "Train on")
    assert not [o for o in train_on.options if "digit" in o.lower()] and "Samples per split" in labels
    get(app, "selectbox", "Embedded model").set_value("default:topk-sae-128").run()
    loss = next(c.value for c in app.caption if c.value.startswith("L_U:"))
    assert loss.startswith("L_U: ½‖x − x̂‖² (k sets the sparsity") and "L_S" not in loss and "λ" not in loss
    get(app, "selectbox", "Embedded model").set_value("default:drsae-400x11").run()
    loss = next(c.value for c in app.caption if c.value.startswith("L_U:"))
    assert loss.startswith("L_U: ½‖x − x̂‖² + λ‖z‖₁; L_S: the classifier's cross-entropy")


def test_ista_quotes_its_converged_codes_beside_its_own(app):  # noqa: F811
    from models.analysis.evaluate import evaluate
    from models.services import catalog
    from ui.compute import samples_of

    entry = next(e for e in catalog.entries() if e.key == "default:ista-400x11")
    app.selectbox(key="model-group").set_value(entry.group).run()
    assert not app.exception
    card = next(m for m in app.metric if m.label.startswith("Converged codes"))
    model, _ = load_model(entry.path)
    x = samples_of(str(entry.path), entry.version(), entry.data.key).split.x
    with torch.no_grad():
        z = model.converged(x)
        want = float((0.5 * (x - model.decode(z)).pow(2).sum(1)).mean())
    assert card.value == f"{want:.4f}" and card.delta.startswith(f"at L0 {float((z > 0).sum(1).float().mean()):.1f}")
    r = evaluate(entry.path, sample=True)
    assert r["converged_reconstruction_loss"] == pytest.approx(want, rel=1e-5)
    assert r["converged_reconstruction_loss"] < r["reconstruction_loss"]  # T steps short of the minimum
    assert "converged_fvu" not in evaluate(default_model_path(), sample=True)  # a DrSAE has no such codes


def test_the_radius_of_gyration_says_its_mass():
    from models.analysis.composition import radius_of_gyration

    w = np.zeros((1, 25))
    w[0, 12] = 2.0  # the centre of a 5 × 5 image: weight 2
    w[0, [2, 10, 14, 22]] = 1.0  # four pixels 2 away: weight 1 each
    # squared mass: (4 · 1 · 4) / (4 + 4) = 2 -> √2; absolute: (4 · 1 · 4) / (2 + 4) = 8/3
    assert radius_of_gyration(w, (5, 5))[0] == pytest.approx(np.sqrt(2))
    assert radius_of_gyration(w, (5, 5), "absolute")[0] == pytest.approx(np.sqrt(8 / 3))


def test_the_composition_page_gives_both_radii(app):  # noqa: F811
    app.switch_page("pages/composition.py").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "0.69 × the radius with squared weights as mass, 0.91 × with absolute weights" in text
    cols = list(app.dataframe[0].value.columns)
    assert "radius, w² as mass (pixels) decoder" in cols and "radius, |w| as mass (pixels) decoder" in cols


def test_each_recovery_number_has_its_own_random_baseline():
    from models.analysis.recovery import expected_best_cosine, expected_recovered, random_mcc, recovery

    d, k, n = 64, 16, 400
    best = expected_best_cosine(d, n)
    mcc = random_mcc(d, k, n, draws=20)
    assert 0 < mcc < best  # one to one, a random dictionary matches below each atom's best
    assert expected_recovered(d, n) < 1e-6  # a cosine of 0.9 by chance in 64 dimensions: never
    rng = np.random.default_rng(5)
    r = recovery(rng.standard_normal((d, k)), rng.standard_normal((n, d)))
    assert r.mcc == pytest.approx(r.chance_mcc, abs=0.05) and r.recovered == 0.0  # random against random
    assert r.best.mean() == pytest.approx(r.chance, abs=0.05)


def test_make_app_takes_torchs_cpu_build_without_a_gpu(tmp_path):
    import shutil
    import subprocess

    from tests.conftest import ROOT

    if not shutil.which("make"):
        pytest.skip("no make")
    dry = lambda *args: subprocess.run(["make", "-n", "-B", f"VENV={tmp_path / 'v'}", *args, f"{tmp_path}/v/bin/.installed"],  # noqa: E731
                                       cwd=ROOT, capture_output=True, text=True).stdout
    plain = dry()
    if shutil.which("nvidia-smi"):
        assert "--index-url" not in plain  # a GPU: PyPI's build
    else:  # first the CPU index for torch and torchvision at their pins, then everything (a closed network: PyPI's)
        assert "--index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1" in plain
        assert plain.index("--index-url") < plain.index("-r requirements.txt")
    assert "--index-url" not in dry("TORCH_INDEX=")


def test_compare_measures_what_applies_to_a_one_pass_autoencoder():
    """FVU and dead units on a constructed case: a decoder of zeros leaves x̂ = b_d = the samples' mean (FVU 1 exactly);
    half the latents' biases far below zero fire on nothing (dead 50 %); no steps, so no sparse-coding rows."""
    from models.analysis.compare import compare_model
    from models.services.comparison import COLUMNS
    from tests.test_saes import model_of

    m = model_of("topk-sae", d=6, hidden=8, k=2)
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        m.W_dec.zero_()
        m.b_dec.copy_(x.mean(0))
        m.b_enc[4:] = -1e6
    c = compare_model(m, x, torch.zeros(200, dtype=torch.long))
    assert c.fvu == pytest.approx(1.0, abs=1e-6) and c.dead == 0.5 and 0 < c.l0 <= 2  # k = 2 (of the positive)
    assert c.objective is None and c.objective_gap is None and c.condition is None and c.error is None
    iterations = next(col for col in COLUMNS if col.header == "≡ ISTA iterations")
    assert iterations.shown(c, None) is None  # not "> 1000": the row does not apply
    with torch.no_grad():  # the identity as its dictionary, every latent kept: x̂ = x on non-negative x
        m.W_dec.copy_(torch.eye(6, 8)), m.W_enc.copy_(torch.eye(8, 6)), m.b_enc.zero_(), m.b_dec.zero_()
    m.cfg = dataclasses.replace(m.cfg, k=8)
    assert compare_model(m, x.abs(), torch.zeros(200, dtype=torch.long)).fvu == pytest.approx(0.0, abs=1e-9)


def test_compare_starts_from_a_sparse_autoencoder_in_the_sidebar(app):  # noqa: F811
    from models.services import catalog
    from tests.test_app import get, settle

    group = next(e for e in catalog.entries() if e.key == "default:topk-sae-128").group
    app.selectbox(key="model-group").set_value(group).run()
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    picked = get(app, "multiselect", "Models").value
    assert picked[:2] == ["default:topk-sae-128", "default:jumprelu-sae-128"] and len(picked) == 4  # alike first
    settle(app)
    table = app.dataframe[0].value
    rows = dict(zip(table.iloc[:, 0], range(len(table))))
    topk, drsae = table.columns[1], next(c for c in table.columns if c.startswith(("DrSAE", "SR-DrSAE")))
    assert 0 < float(table[topk].iloc[rows["variance unexplained (FVU)"]]) < 1
    assert float(table[topk].iloc[rows["active units (L0)"]]) == pytest.approx(16.0)  # its k
    assert table[topk].iloc[rows["≡ ISTA iterations"]] == "—" and table[drsae].iloc[rows["≡ ISTA iterations"]] != "—"
    assert table[topk].iloc[rows["test error (%)"]] == "—"
    assert any("one-pass autoencoder" in c.value for c in app.caption)
    assert any(c["layout"]["title"]["text"].startswith("Validation reconstruction") for c in charts(app))


def test_the_unroll_slider_carries_t_only_between_models_trained_with_the_same_t(app, tiny_run):  # noqa: F811
    """Item 16: T = 2 on a run trained with T = 5 stays out of the T = 11 default (it showed 1 there after a model
    trained with T = 1); from λ 0.025 to λ 0.05 of the default (both T = 11) the T moved to goes along; reruns (the
    Training page's poll reruns the app) keep it."""
    import shutil

    from models.services import jobs
    from tests.data import DIGITS
    from tests.test_app import get

    def T():
        return get(app, "slider", "Unroll steps T").value

    shutil.copytree(tiny_run[0], jobs.RUNS_ROOT / "small")
    app.run()
    app.selectbox(key="model-group").set_value(("run", "drsae", 64, 5, DIGITS)).run()
    assert T() == 5
    get(app, "slider", "Unroll steps T").set_value(2).run()
    app.selectbox(key="model-group").set_value(("default", "drsae", 400, 11, DIGITS)).run()
    assert T() == 11
    get(app, "slider", "Unroll steps T").set_value(8).run()
    app.switch_page("pages/training.py").run()
    app.run()
    app.run()
    assert T() == 8 and not app.exception
    app.select_slider(key=f"sparsity-{('default', 'drsae', 400, 11, DIGITS)}").set_value(0.05).run()
    assert T() == 8  # another λ of the same model: the same T
