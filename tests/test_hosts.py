"""Host models and harvesting (#43, part): the embedded digits CNN and torchvision architectures opened from a spec,
their layers listed with output shapes, a layer's outputs written as an activation store (a vector a sample, or a
vector a position with its sample and position), the same vectors the host gives, a killed harvest continued to the
same files, a family trained on the result, and every bad request said in one line."""
import json

import numpy as np
import pytest
import torch

from models import cli
from models.data import intensities
from models.domains import dataset, spec
from models.hosts import HostError, layer_shapes, open_host
from models.hosts.harvest import PROGRESS, harvest, run_to
from models.store import MANIFEST
from ui.text import plain


@pytest.fixture(scope="module")
def cnn():
    return open_host("digits-cnn")


@pytest.fixture(scope="module")
def digits():
    return dataset(spec("digits"), limit=300, inputs=intensities)[0]


def test_the_embedded_host_classifies_digits_and_lists_its_layers(cnn, digits, capsys):
    x = cnn.inputs(digits.test.x, (28, 28))
    with torch.no_grad():
        error = (cnn.module(x).argmax(1) != digits.test.y).float().mean().item()
    assert error < 0.05  # 1.18 % on all 10,000 test digits (assets/hosts/digits-cnn/metrics.json)
    shapes = dict(layer_shapes(cnn, x[:1]))
    assert shapes["relu2"] == (32, 14, 14) and shapes["relu3"] == (64,) and shapes["fc2"] == (10,)
    assert cli.main(["hosts", "digits-cnn"]) == 0
    out = capsys.readouterr().out
    assert "relu2" in out and "32×14×14" in out and "(1, 28, 28)" in out
    assert cli.main(["hosts"]) == 0 and "torchvision" in capsys.readouterr().out


def test_a_dense_layer_is_harvested_as_the_hosts_own_vectors(cnn, digits, tmp_path):
    m = harvest(cnn, "relu3", spec("digits"), tmp_path / "h", limit=300, batch=64, log=lambda s: None)
    assert m["dimension"] == 64 and m["dtype"] == "float16" and m["host"]["layer"] == "relu3"
    assert [sum(s["rows"] for s in m[p]) for p in ("train", "val", "test")] == [300, 300, 300]
    x = np.load(tmp_path / "h" / m["test"][0]["file"]).astype(np.float32)
    want = run_to(cnn, "relu3", cnn.inputs(digits.test.x, (28, 28))).numpy()
    np.testing.assert_allclose(x, want, rtol=2e-3, atol=2e-3)  # float16's precision
    labels = np.load(tmp_path / "h" / m["test"][0]["labels"])
    assert np.array_equal(labels, digits.test.y.numpy())
    meta = np.load(tmp_path / "h" / m["test"][0]["meta"])
    assert np.array_equal(meta[:, 0], np.arange(300)) and not meta[:, 1].any()


def test_a_convolutional_layer_gives_a_vector_a_position(cnn, digits, tmp_path):
    m = harvest(cnn, "relu2", spec("digits"), tmp_path / "h", limit=20, dtype="float32", log=lambda s: None)
    assert m["dimension"] == 32 and m["meta_columns"] == ["sample", "position"]
    x = np.load(tmp_path / "h" / m["train"][0]["file"])
    meta = np.load(tmp_path / "h" / m["train"][0]["meta"])
    assert x.shape == (20 * 196, 32)
    out = run_to(cnn, "relu2", cnn.inputs(digits.train.x[:20], (28, 28))).numpy()  # (20, 32, 14, 14)
    for row in (0, 197, 3000):
        sample, position = meta[row]
        np.testing.assert_allclose(x[row], out[sample, :, position // 14, position % 14], rtol=1e-6)


def test_a_stopped_harvest_continues_to_the_same_files(cnn, tmp_path):
    whole = harvest(cnn, "relu3", spec("digits"), tmp_path / "a", limit=300, batch=32, shard_rows=64,
                    log=lambda s: None)
    asked = []
    stopped = harvest(cnn, "relu3", spec("digits"), tmp_path / "b", limit=300, batch=32, shard_rows=64,
                      log=lambda s: None, should_stop=lambda: asked.append(1) or len(asked) > 5)
    assert stopped is None and not (tmp_path / "b" / MANIFEST).exists()  # not presented as complete
    # stopped before its 6th batch: the last shard written ended at the 4th (shards of 64 rows at least)
    assert json.loads((tmp_path / "b" / PROGRESS).read_text())["parts"]["train"]["samples"] == 128
    again = harvest(cnn, "relu3", spec("digits"), tmp_path / "b", limit=300, batch=32, shard_rows=64,
                    log=lambda s: None)
    assert again["train"] == whole["train"] and len(whole["train"]) == 5
    for part in ("train", "val", "test"):
        for s in whole[part]:
            assert np.array_equal(np.load(tmp_path / "a" / s["file"]), np.load(tmp_path / "b" / s["file"]))


def test_a_family_trains_on_a_harvest(tmp_path, capsys):
    assert cli.main(["harvest", "--host", "digits-cnn", "--layer", "relu3", "--out", str(tmp_path / "h"),
                     "--limit", "600"]) == 0
    assert "600 train, 600 val, 600 test vectors of 64" in capsys.readouterr().out
    assert cli.main(["train", "--family", "topk-sae", "--domain", "vectors", "--vectors", str(tmp_path / "h"),
                     "--hidden", "32", "--k", "4", "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert cli.main(["evaluate", str(tmp_path / "run"), "--json"]) == 0
    numbers = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 < numbers["fvu"] < 1
    assert numbers["data_note"].startswith("the activations of digits-cnn's layer relu3")  # the run names its host


def test_a_torchvision_architecture_with_a_weights_file(tmp_path, capsys):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "w.pt")
    with pytest.raises(HostError, match="does not fit torchvision's resnet18: shape of fc.weight"):
        open_host("torchvision:resnet18", str(tmp_path / "w.pt"))  # 10 classes, not 1,000
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "w.pt")
    opened = open_host("torchvision:resnet18", str(tmp_path / "w.pt"))
    assert opened.describe == "torchvision resnet18, weights w.pt"
    m = harvest(opened, "layer1", spec("digits"), tmp_path / "h", limit=8, log=lambda s: None)
    assert m["dimension"] == 64 and sum(s["rows"] for s in m["train"]) == 8 * 7 * 7  # 28 → 7 × 7 positions
    assert cli.main(["hosts", "torchvision:resnet18", "--host-weights", str(tmp_path / "w.pt")]) == 0
    assert "layer4.1.conv2" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["harvest", "--host", "digits-cnn", "--layer", "relu", "--out", "{tmp}/h"], "no layer 'relu' (nearest: relu"),
    (["harvest", "--host", "nope", "--layer", "x", "--out", "{tmp}/h"], "unknown host 'nope'"),
    (["hosts", "torchvision:resnet1800"], "torchvision has no architecture 'resnet1800' (near: "),
    (["hosts", "digits-cnn", "--host-weights", "{tmp}/junk.safetensors"], "does not hold the digits CNN's weights"),
    (["hosts", "torchvision:resnet18", "--host-weights", "{tmp}/junk.pt"], "not a weights file torch reads"),
    (["harvest", "--host", "digits-cnn", "--layer", "relu3", "--out", "{tmp}/full"], "is not empty and holds no "),
])
def test_a_bad_host_request_is_said_in_one_line(tmp_path, capsys, argv, says):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("a user's file")
    assert cli.main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert (tmp_path / "full" / "mine.txt").read_text() == "a user's file"  # nothing of the user's touched


def test_a_folder_of_another_harvest_is_refused(cnn, tmp_path):
    harvest(cnn, "relu3", spec("digits"), tmp_path / "h", limit=100, log=lambda s: None)
    with pytest.raises(HostError, match="holds a harvest of other settings"):
        harvest(cnn, "relu2", spec("digits"), tmp_path / "h", limit=100, log=lambda s: None)
    assert harvest(cnn, "relu3", spec("digits"), tmp_path / "h", limit=100, log=lambda s: None)["dimension"] == 64


@pytest.mark.parametrize("layer", ["relu3", "relu2"])
def test_loss_recovered_is_one_for_a_perfect_reconstruction_and_zero_for_none(cnn, tmp_path, layer):
    """Constructed dictionaries with known answers: the identity (every latent kept) gives the layer back exactly,
    so the host's loss is its clean loss (recovered 1); a decoder of zeros gives zeros (recovered 0 against the
    zero ablation). The layer's vectors are non-negative (after a ReLU), so the identity's TopK keeps them all."""
    from models.analysis.through_host import through_host
    from tests.test_saes import model_of

    folder = tmp_path / "h"
    harvest(cnn, layer, spec("digits"), folder, limit=300, log=lambda s: None)
    data = spec("vectors", vectors=str(folder))
    dim = {"relu3": 64, "relu2": 32}[layer]
    m = model_of("topk-sae", d=dim, hidden=dim, k=dim)
    with torch.no_grad():
        m.W_enc.copy_(torch.eye(dim)), m.W_dec.copy_(torch.eye(dim)), m.b_enc.zero_(), m.b_dec.zero_()
    r = through_host(m, data, samples=300)
    assert r.samples == 300 and r.loss["clean"] < r.loss["zero"]
    assert r.recovered("zero") == pytest.approx(1.0, abs=1e-4) and r.unchanged == 1.0 and r.fvu < 1e-10
    assert r.accuracy["reconstructed"] == r.accuracy["clean"] > 90
    with torch.no_grad():
        m.W_dec.zero_()
    r = through_host(m, data, samples=300)
    assert r.recovered("zero") == pytest.approx(0.0, abs=1e-6) and r.loss["reconstructed"] == r.loss["zero"]


def test_evaluate_measures_a_harvest_run_through_its_host(tmp_path, capsys):
    assert cli.main(["harvest", "--host", "digits-cnn", "--layer", "relu3", "--out", str(tmp_path / "h"),
                     "--limit", "600"]) == 0
    assert cli.main(["train", "--family", "topk-sae", "--domain", "vectors", "--vectors", str(tmp_path / "h"),
                     "--hidden", "64", "--k", "8", "--epochs", "2", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", str(tmp_path / "run"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["host"] == "digits-cnn" and r["host_layer"] == "relu3" and r["host_samples"] == 600
    assert r["loss_clean"] < r["loss_reconstructed"] < r["loss_zero"] and 0 < r["loss_recovered"] < 1
    assert r["host_fvu"] == pytest.approx(r["fvu"], rel=1e-3)  # the same test samples' vectors, as given


@pytest.fixture(scope="module")
def host_run(tmp_path_factory):
    """A TopK SAE trained briefly on the embedded CNN's relu3, over 600 digits of each split."""
    root = tmp_path_factory.mktemp("host")
    assert cli.main(["harvest", "--host", "digits-cnn", "--layer", "relu3", "--out", str(root / "acts"),
                     "--limit", "600"]) == 0
    assert cli.main(["train", "--family", "topk-sae", "--domain", "vectors", "--vectors", str(root / "acts"),
                     "--hidden", "64", "--k", "8", "--epochs", "2", "--out", str(root / "runs" / "cnn")]) == 0
    return root / "runs" / "cnn"


@pytest.fixture
def host_app(host_run, tmp_path, monkeypatch):
    """The app opened on a copy of the host run, in a runs folder of its own."""
    import shutil

    from streamlit.testing.v1 import AppTest

    from models.services import jobs
    from tests.test_app import ROOT, server_navigation

    server_navigation(monkeypatch)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs")
    shutil.copytree(host_run, tmp_path / "runs" / "cnn")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["model"] = "run:cnn"
    at.run()
    assert not at.exception, at.exception
    return at


def test_every_page_opens_on_a_host_run_and_the_overview_measures_it_through_its_host(host_app, host_run):
    from models.analysis.through_host import through_host
    from models.checkpoint import load_model
    from tests.test_app import PAGES, metric, settle

    at = host_app
    assert any(s.value == f"Through its host: {plain('digits-cnn')}, layer relu3" for s in at.subheader)
    settle(at)
    model, _ = load_model(host_run)
    want = through_host(model, spec("vectors", vectors=str(host_run.parent.parent / "acts")))
    assert metric(at, "Loss recovered (zero ablation)") == f"{want.recovered('zero'):.3f}"
    assert any(plain("the activations of digits-cnn's layer relu3") in c.value for c in at.caption)  # its note
    for page in PAGES + ["pages/compare.py", "pages/runs.py"]:
        try:
            at.switch_page(page)
        except ValueError:  # a page a one-pass model on vectors does not offer
            continue
        at.run()
        assert not at.exception, (page, at.exception)


def test_a_torch_export_file_is_a_host_with_the_same_layers(cnn, tmp_path):
    x = torch.zeros(2, 1, 28, 28)
    dynamic = torch.export.export(cnn.module, (x,), dynamic_shapes={"x": {0: torch.export.Dim.DYNAMIC}})
    torch.export.save(dynamic, tmp_path / "cnn.pt2")
    exported = open_host(f"export:{tmp_path / 'cnn.pt2'}")
    a = harvest(cnn, "relu2", spec("digits"), tmp_path / "a", limit=20, dtype="float32", log=lambda s: None)
    b = harvest(exported, "relu2", spec("digits"), tmp_path / "b", limit=20, dtype="float32", log=lambda s: None)
    assert a["dimension"] == b["dimension"] == 32 and b["host"]["host"].startswith("export:")
    np.testing.assert_allclose(np.load(tmp_path / "a" / a["test"][0]["file"]),
                               np.load(tmp_path / "b" / b["test"][0]["file"]), rtol=1e-5, atol=1e-6)
    torch.export.save(torch.export.export(cnn.module, (x,)), tmp_path / "static.pt2")
    with pytest.raises(HostError, match="exported for batches of 2 only: export it with a dynamic batch"):
        open_host(f"export:{tmp_path / 'static.pt2'}")
    (tmp_path / "junk.pt2").write_bytes(b"PK not really")
    with pytest.raises(HostError, match="is not a torch.export file"):
        open_host(f"export:{tmp_path / 'junk.pt2'}")


def test_a_harvest_folder_that_cannot_be_written_is_said_in_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    assert cli.main(["harvest", "--host", "digits-cnn", "--layer", "relu3", "--out", str(tmp_path / "a-file" / "h"),
                     "--limit", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a-file" in err, err


def test_a_units_effect_on_the_hosts_outputs_is_its_direction_through_the_rest(cnn, tmp_path):
    """After relu3 the CNN is linear (fc2): adding α d̂ to relu3 moves the logits by exactly α W d̂ on every sample,
    so the mean change must be that; a unit pointing along class 3's row of W pushes class 3 up most."""
    from models.analysis.through_host import unit_effect
    from tests.test_saes import model_of

    harvest(cnn, "relu3", spec("digits"), tmp_path / "h", limit=300, log=lambda s: None)
    data = spec("vectors", vectors=str(tmp_path / "h"))
    W = cnn.module.fc2.weight.detach()
    m = model_of("topk-sae", d=64, hidden=64, k=64)
    with torch.no_grad():
        m.W_enc.copy_(torch.eye(64)), m.W_dec.copy_(torch.eye(64)), m.b_enc.zero_(), m.b_dec.zero_()
        m.W_dec[:, 0] = W[3] / W[3].norm()  # unit 0's decoder column: class 3's direction
    e = unit_effect(m, data, 0, samples=300)
    assert e.samples == 300 and 0 < e.fires <= 300 and e.scale > 0
    np.testing.assert_allclose(e.logit, e.scale * (W @ (W[3] / W[3].norm())).numpy(), rtol=1e-4, atol=1e-5)
    assert int(np.argmax(e.logit)) == 3 and e.probability.sum() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        m.W_enc[0].zero_()  # unit 0 never fires: its size, and so its effect, is unknown
        m.b_enc[0] = -1.0
    assert unit_effect(m, data, 0, samples=300) is None


def test_the_unit_browser_shows_a_host_units_effect(host_app):
    from tests.test_app import charts, settle

    at = host_app
    at.switch_page("pages/unit_browser.py").run()
    settle(at)
    assert not at.exception, at.exception
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert any(t.startswith("What unit") and t.endswith("digits-cnn's outputs") for t in titles), titles


def test_the_overview_draws_every_dictionary_of_the_layer_on_a_frontier(host_app, host_run, tmp_path):
    from tests.test_app import charts, settle

    acts = host_run.parent.parent / "acts"
    assert cli.main(["train", "--family", "relu-sae", "--domain", "vectors", "--vectors", str(acts), "--hidden", "32",
                     "--epochs", "2", "--out", str(tmp_path / "runs" / "relu")]) == 0
    at = host_app
    at.run()
    settle(settle(at))  # this model's measurement, then the others' (started once it is drawn)
    assert not at.exception, at.exception
    frontier = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("Every dictionary of this layer"))
    named = {t["name"]: len(t["x"]) for t in frontier["data"] if t.get("showlegend", True)}
    assert named == {"TopK SAE": 1, "ReLU SAE": 1}, named
    assert any(not t.get("showlegend", True) for t in frontier["data"])  # this model ringed
    assert not at.get("json") and not [m for m in at.markdown if "None" in m.value]  # no stray magic output
