"""What the units learned (#20 parts 2 and 3): supports and compactness, the composition graph, staged learning,
kinds across λ, filter snapshots, and interventions; each on a constructed case with a known answer, then on a run."""
import numpy as np
import pytest
import torch

from models.analysis import composition as comp
from models.analysis.intervene import (
    Intervention, cell_units, intervened_trace, kind_sets, set_ablations, unit_ablations,
)
from models.analysis.prototypes import judgement, kind_meaning
from models.analysis.staging import SETTLE, last_change, staging
from models.analysis.units import unit_table
from models.kinds import angles
from models.checkpoint import load_model
from models.families.base import Hold, UnitWeights
from models.training import run_folder, snapshots


# -- supports, radius, composition ---------------------------------------------------------------

def test_support_counts_the_pixels_holding_90_percent():
    one = np.zeros(784)
    one[5] = 3.0
    flat = np.ones(784)
    half = np.r_[np.full(10, 2.0), np.full(774, 0.0)]
    assert comp.support(np.stack([one, flat, half, np.zeros(784)])).tolist() == [1, 706, 9, 0]  # ceil(0.9·784)


def test_radius_of_gyration_in_pixels():
    point = np.zeros((28, 28))
    point[10, 10] = 1.0
    pair = np.zeros((28, 28))
    pair[4, 4] = pair[4, 10] = -2.0  # the sign does not matter: the mass is w²
    square = np.zeros((28, 28))
    square[0, 0] = square[0, 6] = square[8, 0] = square[8, 6] = 1.0  # corners 3 and 4 from the centre: r = 5
    r = comp.radius_of_gyration(np.stack([point, pair, square]).reshape(3, -1), (28, 28))
    assert r == pytest.approx([0.0, 3.0, 5.0])
    wide = np.zeros((6, 20))  # an image that is not square: rows and columns read off its own width
    wide[1, 2] = wide[1, 14] = 1.0
    assert comp.radius_of_gyration(wide.reshape(1, -1), (6, 20)) == pytest.approx([6.0])


def test_carriers_and_the_composition_graph():
    assert comp.carriers(np.array([0.5, 0.3, 0.1, 0.1, -2.0])) == 3  # 0.5 + 0.3 = 80 % < 90 %; + 0.1 = 90 %
    assert comp.carriers(np.array([-1.0, 0.0])) == 0
    kind = np.array(["categorical", "part", "part", "part", "intermediate", "categorical"])
    S = np.eye(6)
    S[0, 1], S[0, 2], S[0, 3], S[0, 4] = 0.5, 0.3, 0.2, 5.0  # the intermediate unit's input is not a part's
    S[5, 1], S[5, 0] = -0.2, 0.4  # no positive part input
    w = UnitWeights(np.eye(6, 784), np.eye(6, 784), S, None)
    c = comp.composition(w, kind, (28, 28))
    first, last = c.graph
    assert first.unit == 0 and first.parts.tolist() == [1, 2, 3] and first.in_degree == 3
    assert first.carried.tolist() == [1, 2, 3] and first.weights.tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert last.unit == 5 and last.in_degree == 0 and len(last.parts) == 0
    assert c.in_degrees().tolist() == [3, 0]
    assert c.by_kind()["part"]["decoder_support"] == 1
    assert comp.composition(UnitWeights(w.encoder, w.decoder), kind, (28, 28)).graph is None  # no S, no graph
    vectors = comp.composition(w, kind, None)  # samples that are not images: support, but no radius
    assert vectors.decoder_radius is None and "decoder_radius" not in vectors.by_kind()["part"]


# -- staged learning ------------------------------------------------------------------------------

def test_last_change():
    states = np.array([[True, False, True], [True, True, False], [True, True, True]])
    assert last_change(states).tolist() == [0, 1, 2]


def rows_of(angles):
    return [{"epoch": e, "unit_angles": list(a)} for e, a in enumerate(angles)]


def test_staging_finds_when_each_unit_took_its_kind():
    # unit 0 stays a part unit; unit 1 becomes categorical in epoch 3; unit 2 crosses in epoch 2, falls back in 4,
    # and crosses again in 5; unit 3 is categorical from the first epoch but its angle moves until epoch 4
    theta = np.array([[0.1, 0.1, 0.1, 1.0],
                      [0.1, 0.3, 0.8, 1.2],
                      [0.1, 0.9, 0.8, 1.4],
                      [0.1, 0.9, 0.6, 1.5],
                      [0.1, 0.9, 0.9, 1.5]])
    s = staging(rows_of(theta), pretrain_epochs=1)
    assert s.epochs.tolist() == [1, 2, 3, 4, 5]
    assert s.kind.tolist() == ["part", "categorical", "categorical", "categorical"]
    assert s.crossed.tolist() == [1, 3, 5, 1]
    assert s.settled.tolist() == [1, 3, 5, 4]  # unit 3: 1.5 reached in epoch 4 (within SETTLE after)
    assert s.medians() == {"categorical": 3.0, "part": 1.0}
    share = s.share_crossed()
    assert share["categorical"].tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 1.0])
    assert share["part"].tolist() == [1.0] * 5
    assert s.answer().startswith("Part units settle before categorical ones")
    assert "by epoch 1" in s.answer() and "by epoch 4" in s.answer()
    assert SETTLE == 0.05
    assert staging([{"epoch": 0, "val_error": 3.0}]) is None  # a run from before the angles were kept


# -- kinds across λ --------------------------------------------------------------------------------

def test_kind_meaning_tells_prototypes_from_drifted_units():
    y = np.repeat(np.arange(10), 20)
    z = np.zeros((200, 4))
    z[y == 3, 0] = 1.0  # unit 0 answers class 3 only, and C favours 3: a prototype
    z[:, 1] = 0.5  # unit 1 answers every class alike: no prototype
    z[y == 7, 2] = 1.0  # unit 2 answers class 7, but C favours class 1: no prototype
    C = np.zeros((10, 4))
    C[3, 0] = C[2, 1] = C[1, 2] = C[5, 3] = 1.0  # unit 3 is dead
    kind = np.array(["categorical", "categorical", "categorical", "part"])
    m = kind_meaning(kind, z, y, C, sparsity=0.1)
    assert m.counts["categorical"] == 3 and m.prototypes["categorical"] == 1
    assert m.share("categorical") == pytest.approx(1 / 3)
    assert m.selectivity["categorical"] == pytest.approx(1.0)  # median of 1, 0, 1
    assert m.agreement["categorical"] == pytest.approx(1 / 3)
    assert m.dead == {"categorical": 0, "intermediate": 0, "part": 1}
    good = kind_meaning(np.array(["categorical"] * 3 + ["part"]), z[:, [0, 0, 0, 3]], y, C[:, [0, 0, 0, 3]], 0.025)
    assert good.share("categorical") == 1.0
    assert judgement([good, m]).startswith("The angle thresholds do not mean the same at every λ: from λ = 0.1 on")
    assert judgement([good, good]).startswith("The angle thresholds mean about the same")


# -- interventions ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model(tiny_run):
    m, _ = load_model(tiny_run[0])
    return m.eval()


def by_hand(model, x, T, units, value, from_step):
    """The recurrence written out, with the held units set after each step's ReLU from `from_step` on."""
    E, S, b = (t.detach() for t in model.operators())
    z = torch.zeros(len(x), len(b))
    out = []
    for t in range(1, T + 1):
        z = torch.relu(x @ E.T - b + (z @ S.T if t > 1 else 0))
        if t >= from_step:
            z[:, list(units)] = value
        out.append(z.clone())
    return torch.stack(out)


@pytest.mark.parametrize("units,value,from_step", [((3,), 0.0, 1), ((1, 5, 9), 0.7, 3), ((0,), 0.0, 5)])
def test_a_hold_is_the_recurrence_with_those_units_set(model, mnist_small, units, value, from_step):
    x = mnist_small.test.x[:20]
    with torch.no_grad():
        got = model.encode(x, 5, Intervention(units, value, from_step).hold(model.cfg.hidden))
        plain = model.encode(x, 5)
    assert torch.allclose(got, by_hand(model, x, 5, units, value, from_step), atol=1e-6)
    assert torch.equal(got[:from_step - 1], plain[:from_step - 1])  # untouched before the step
    tr = intervened_trace(model, x[0], 5, Intervention(units, value, from_step))
    assert np.allclose(tr.z, got[:, 0].numpy(), atol=1e-6) and tr.probs.shape == (5, 10)


def test_ablations_equal_running_every_unit_on_every_digit(model, mnist_small):
    digits = mnist_small.test.head(150)
    y = digits.y.numpy()
    kind = unit_table(model).kind
    ua = unit_ablations(model, digits, 5)
    with torch.no_grad():
        base = model.classify(model.code(digits.x, 5)).argmax(-1).numpy()
        for u in range(model.cfg.hidden):
            z = model.code(digits.x, 5, Hold(torch.arange(model.cfg.hidden) == u))
            p = model.classify(z).argmax(-1).numpy()
            assert ua.error[u] == pytest.approx(100 * (p != y).mean())
            assert ua.flips[u] == (p != base).sum()
            assert ua.recon[u] == pytest.approx((0.5 * (digits.x - model.decode(z)).pow(2).sum(-1)).mean().item(),
                                                rel=1e-5)
    assert ua.runs == ua.active.sum() < 150 * model.cfg.hidden  # only where a unit fires
    assert ua.error[ua.ranked()[0]] == ua.error.max()
    sets = kind_sets(kind) + (("two", (1, 2)),)
    sa = set_ablations(model, digits, 5, sets)
    with torch.no_grad():
        for name, units in sets:
            mask = torch.zeros(model.cfg.hidden, dtype=torch.bool)
            mask[list(units)] = True
            p = model.classify(model.code(digits.x, 5, Hold(mask))).argmax(-1).numpy()
            assert sa.set_error[name] == pytest.approx(100 * (p != y).mean())
    assert sa.error == pytest.approx(100 * (base != y).mean())
    assert sa.set_units["two"] == 2 and sum(sa.set_units[k] for k in ("categorical", "intermediate", "part")) == 64
    # a confusion cell: its digits' changed predictions per unit
    idx = np.flatnonzero(base != y)[:10]
    cu = cell_units(model, digits, idx, 5)
    with torch.no_grad():
        for u in cu.ranked()[:5]:
            p = model.classify(model.code(digits.x[idx], 5, Hold(torch.arange(model.cfg.hidden) == u))).argmax(-1)
            assert cu.flips[u] == (p.numpy() != base[idx]).sum()
            assert cu.to_true[u] == (p.numpy() == y[idx]).sum()  # these digits were all wrong


# -- snapshots and the run's angles ---------------------------------------------------------------

def test_snapshot_schedule():
    frame = snapshots.frame_bytes(400, 784)
    epochs = snapshots.schedule(105, frame)
    assert epochs[0] == 0 and epochs[-1] == 105 and len(epochs) * frame <= snapshots.BUDGET
    assert epochs == sorted(set(epochs)) and epochs[:3] == [0, 1, 3]  # dense early, sparse late
    assert snapshots.schedule(3, 10) == [0, 1, 2, 3]  # a small model keeps every epoch
    assert snapshots.schedule(50, snapshots.BUDGET) == [0, 50]  # the first and last at least


def test_a_run_records_angles_and_snapshots(tiny_run, tmp_path):
    run, history = tiny_run
    model, _ = load_model(run)
    theta = run_folder.read_unit_angles(run)
    assert theta.shape == (len(history), 64) and all("unit_angles" not in r for r in history)  # rows stay small
    assert np.allclose(theta[-1], unit_table(model).angle, atol=1e-6)
    strip = snapshots.read(run)
    assert strip.epochs.tolist() == [0, 1, 2, 3, 4, 5, 6] and strip.units.tolist() == list(range(64))
    w = model.unit_weights()
    assert np.allclose(strip.decoder[-1], w.decoder, atol=2e-3)  # float16
    assert angles(strip.encoder[0], strip.decoder[0]).max() < 0.01  # ISTA's start ties each encoder row to its decoder column
    s = staging(run_folder.read_metrics(run), 2, theta)
    assert s is not None and s.epochs.tolist() == [1, 2, 3, 4, 5, 6]
    old = [{**r, "unit_angles": a.tolist()} for r, a in zip(run_folder.read_metrics(run), theta)]  # before the file
    assert np.array_equal(staging(old, 2).angles, s.angles)
    # the embedded copy: fewer units and epochs
    size = snapshots.trim(run, tmp_path / snapshots.SNAPSHOTS, np.array([3, 10, 20]), [0, 6])
    small = snapshots.read(tmp_path)
    assert small.units.tolist() == [3, 10, 20] and small.epochs.tolist() == [0, 6] and size < 20_000
    assert np.array_equal(small.decoder[1], strip.decoder[-1][[3, 10, 20]])
    (tmp_path / snapshots.SNAPSHOTS).write_bytes(b"not a safetensors file")
    with pytest.raises(snapshots.SnapshotError, match="cannot be read"):
        snapshots.read(tmp_path)


def test_export_keeps_an_equal_share_of_each_kind_in_the_snapshots(tiny_run, tmp_path):
    from models.services.export import export_run, snapshot_units

    kind = np.array(["part"] * 5 + ["categorical"] * 2 + ["intermediate"] * 3)
    angle = np.array([0.1, 0.4, 0.2, 0.3, 0.0, 1.0, 0.9, 0.6, 0.55, 0.65])
    assert snapshot_units(kind, angle, 6).tolist() == [1, 4, 5, 6, 8, 9]  # each kind: its lowest and highest angle
    # two categorical units only: their unused share goes to the kinds that have more
    assert snapshot_units(kind, angle, 9).tolist() == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert snapshot_units(np.array(["part"] * 6), np.arange(6.0), 3).tolist() == [0, 2, 5]  # one kind: all of n
    export_run(tiny_run[0], tmp_path / "small", snapshot_count=9)
    strip = snapshots.read(tmp_path / "small")
    model, _ = load_model(tmp_path / "small" / "model.safetensors")
    t = unit_table(model)
    assert strip.units.tolist() == snapshot_units(t.kind, t.angle, 9).tolist() and len(strip.units) <= 9
    assert run_folder.read_unit_angles(tmp_path / "small").shape[1] == 64
    export_run(tiny_run[0], tmp_path / "smaller", snapshot_count=0, unit_angles=False)  # a λ group's copy
    assert not (tmp_path / "smaller" / snapshots.SNAPSHOTS).exists()
    rows = run_folder.read_metrics(tmp_path / "smaller")
    assert len(rows) == len(run_folder.read_metrics(tiny_run[0])) and "unit_angles" not in rows[0]
    assert run_folder.read_unit_angles(tmp_path / "smaller") is None
    assert rows[-1]["val_error"] == run_folder.read_metrics(tiny_run[0])[-1]["val_error"]
