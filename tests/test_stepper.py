"""Frames in the page (ui/stepper.py): what the Dynamics and Filters pages send the browser equals the compute path's
arrays, the pictures decode to the very pixels, and the step the browser reports is what the server's other views
(the cards, the intervention's first step, the URL) use. The browser's own stepping is in test_browser."""
import base64
import io

import numpy as np
from PIL import Image

from models.kinds import unit_order
from tests.test_app import app, get, stepper_data  # noqa: F401  (app: the fixture)
from ui import figures
from ui.stepper import png


def decoded(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def test_a_picture_survives_the_palette_png_exactly():
    g = np.random.default_rng(0)
    rgb = figures.tiles(g.normal(size=(3, 784)), shape=(28, 28))[0]
    assert (decoded(png(rgb)) == rgb).all()
    noisy = g.integers(0, 255, size=(20, 30, 3), dtype=np.uint8)  # > 256 colours: plain RGB, exact too
    assert (decoded(png(noisy)) == noisy).all()


def test_the_dynamics_frames_are_the_trace(app):
    app.switch_page("pages/dynamics.py").run()
    assert not app.exception
    data = stepper_data(app)
    panels = {p["name"]: p for p in data["panels"]}
    assert data["steps"] == 11 and data["step"] == 11
    from ui import compute
    from models.services import catalog

    entry = next(e for e in catalog.entries() if e.key == "default:drsae-400x11")
    samples = compute.samples_for(entry.data.key, entry.architecture)
    x = np.asarray(samples.split.x[3], dtype=np.float32)  # the first 0 of the embedded sample: test digit 3
    tr = compute.trace_for(str(entry.path), entry.version(), 11, x.tobytes())
    view = compute.view_for(str(entry.path), entry.version(), entry.data.key, 33)
    order = unit_order(view.units.kind, view.units.angle)
    shown = order[(tr.z[:, order] > 0).any(0)]
    assert np.allclose(panels["z"]["z"], np.round(tr.z[:, shown].T, 5))
    assert [r.split()[0] for r in panels["z"]["rows"]] == [str(u) for u in shown]
    assert np.allclose(panels["probabilities"]["values"], np.round(tr.probs, 5))
    assert panels["probabilities"]["titles"][4].startswith(f"Prediction after step 5: {tr.probs[4].argmax()}")
    recon = panels["reconstruction"]["frames"]
    assert len(recon) == 11
    for t in (0, 6, 10):
        assert (decoded(recon[t][1]) == figures.tiles([tr.recon[t]], zoom=1, shape=(28, 28))[0]).all()
    assert (decoded(recon[0][0]) == figures.tiles([tr.x], zoom=1, shape=(28, 28))[0]).all()


def test_the_step_let_go_of_moves_the_cards_the_intervention_and_the_url(app):
    app.switch_page("pages/dynamics.py").run()
    app.session_state["dyn-step"] = 4  # what the component's callback sets when the slider is let go at 4
    app.run()
    assert not app.exception
    assert any(m.label == "Prediction after step 4" for m in app.metric)
    assert app.query_params["step"] in ("4", ["4"])
    assert stepper_data(app)["step"] == 4
    get(app, "toggle", "Ablate or clamp").set_value(True).run()
    assert app.session_state["dyn-iv-from"] == 4  # the intervention starts where the user stopped
    app.session_state["dyn-step"] = 7
    app.run()
    assert app.session_state["dyn-iv-from"] == 7


def test_side_by_side_sends_both_models_in_columns_of_one_stepper(app):
    app.switch_page("pages/dynamics.py").run()
    get(app, "toggle", "Side by side").set_value(True).run()
    assert not app.exception, app.exception
    other = app.session_state["dyn-other"]
    app.number_input(key="dyn-other-T").set_value(5).run()
    data = stepper_data(app)
    assert data["widths"] == [1, 1] and data["steps"] == 11  # the longer of T = 11 and 5
    cols = {p["col"] for p in data["panels"]}
    assert cols == {0, 1}
    b = [p for p in data["panels"] if p["col"] == 1]
    assert b[0]["heading"].endswith("T = 5") and len(next(p for p in b if p["name"] == "probabilities")["values"]) == 5
    assert other != "default:drsae-400x11"  # another model first
    app.selectbox(key="dyn-other").set_value("default:drsae-400x11").run()  # or this one at another T
    b = [p for p in stepper_data(app)["panels"] if p["col"] == 1]
    assert "λ 0.025 · T = 5" in b[0]["heading"] and not app.exception


def test_the_filmstrip_frames_are_the_snapshots(app):
    from ui import compute
    from models.services import catalog

    app.switch_page("pages/filters.py").run()
    data = stepper_data(app)
    assert data["named"] == ["start", "epoch 1", "epoch 3", "epoch 6", "epoch 16", "epoch 41", "epoch 105"]
    assert data["step"] == 7
    entry = next(e for e in catalog.entries() if e.key == "default:drsae-400x11")
    strip = compute.filmstrip_for(str(entry.path), entry.version()).strip
    enc = next(p for p in data["panels"] if p["name"] == "encoders")
    first = decoded(enc["frames"][0][0])
    tile = figures.tiles([strip.encoder[0][0]], zoom=1, shape=(28, 28))[0]
    assert (first[:28, :28] == tile).all()  # the grid's first tile: the first unit shown, at the start
    app.session_state["flt-frame"] = 5
    app.run()
    assert any(c.value.startswith("After epoch 16 (where the slider was let go)") for c in app.caption)
