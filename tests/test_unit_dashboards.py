"""Unit dashboards (#43 item 4, part): samples from bands across a unit's activations, not only its peak, and the
units nearest to it by decoder direction; on constructed cases with known answers, and in the Unit browser."""
import numpy as np
import pytest

from models.analysis.codes import SparseCodes
from models.analysis.unit_index import nearest_units, quantile_bands
from tests.test_app import app, get  # noqa: F401  (app: the fixture)


def test_bands_cut_a_units_activations_into_equal_counts_top_first():
    z = np.zeros((120, 3), np.float32)
    z[:100, 1] = np.arange(1, 101)  # unit 1 fires on samples 0..99 with z = 1..100; never on 100..119
    bands = quantile_bands(SparseCodes.of(z), 1, bands=4, per=8, seed=3)
    assert [(b.hi, b.lo, b.fires) for b in bands] == [(100, 76, 25), (75, 51, 25), (50, 26, 25), (25, 1, 25)]
    for b in bands:
        assert len(b.samples) == 8 and np.all((b.values >= b.lo) & (b.values <= b.hi))
        assert np.array_equal(b.values, z[b.samples, 1]) and np.all(np.diff(b.values) <= 0)  # largest first
    again = quantile_bands(SparseCodes.of(z), 1, bands=4, per=8, seed=3)
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(bands, again))  # seeded
    assert quantile_bands(SparseCodes.of(z), 0) == []  # a unit that never fires has no band
    few = quantile_bands(SparseCodes.of(z[:3]), 1, bands=4)
    assert [b.fires for b in few] == [1, 1, 1]


def test_nearest_units_by_decoder_direction():
    d = np.random.default_rng(0).normal(size=(50, 10)).astype(np.float32)
    d[7], d[9], d[11] = 2 * d[3], -d[3], d[3] + 0.1 * d[4]
    units, cosine = nearest_units(d, 3, k=3)
    assert units[0] == 7 and cosine[0] == pytest.approx(1.0) and 11 in units and 9 not in units and 3 not in units
    assert np.all(np.diff(cosine) <= 0)
    assert len(nearest_units(d[:2], 0, k=8)[0]) == 1  # as many as there are other units


def test_the_unit_browser_shows_bands_and_opens_a_nearest_unit(app):  # noqa: F811
    app.switch_page("pages/unit_browser.py").run()
    assert not app.exception, app.exception
    assert sum(c.value.startswith("Band ") for c in app.caption) == 4
    u = get(app, "number_input", "Unit").value
    near = [b for b in app.button if b.key and b.key.startswith("ub-near-")]
    assert len(near) == 8
    near[0].click().run()
    assert get(app, "number_input", "Unit").value == int(near[0].key.rsplit("-", 1)[1]) != u


def test_a_note_on_a_runs_unit_is_kept_in_its_folder_and_shown_where_the_unit_is(app, tiny_run):  # noqa: F811
    import shutil

    from models.services import jobs
    from models.training import run_folder
    from tests.data import DIGITS

    app.switch_page("pages/unit_browser.py").run()  # the embedded default: no notes, said
    assert any("Notes on units are kept in a run's folder" in c.value for c in app.caption)
    shutil.copytree(tiny_run[0], jobs.RUNS_ROOT / "small")
    app.run()
    app.selectbox(key="model-group").set_value(("run", "drsae", 64, 5, DIGITS)).run()
    app.switch_page("pages/unit_browser.py").run()
    u = get(app, "number_input", "Unit").value
    get(app, "text_area", f"Your note on unit {u}").set_value("loops ![x](http://e.example) \u202e")
    app.button(key=f"FormSubmitter:ub-note-form-{u}-Save note").click().run()
    assert any("one line" in e.value or "printable" in e.value for e in app.error)  # a bidi mark: refused
    get(app, "text_area", f"Your note on unit {u}").set_value("loops and ![x](http://e.example)")
    app.button(key=f"FormSubmitter:ub-note-form-{u}-Save note").click().run()
    assert not app.exception and run_folder.read_unit_notes(jobs.RUNS_ROOT / "small") == {
        u: "loops and ![x](http://e.example)"}
    assert "note" in app.dataframe[0].value.columns
    app.session_state["u-sel"] = [u]
    app.switch_page("pages/units.py").run()
    assert any(c.value.startswith("Your note: loops and \\!\\[x\\]") for c in app.caption)
    with pytest.raises(jobs.JobError, match="not one of the run's 64 units"):
        jobs.note_unit(jobs.RUNS_ROOT / "small", 64, "x", 64)
    jobs.note_unit(jobs.RUNS_ROOT / "small", u, "", 64)  # an empty note drops it
    assert run_folder.read_unit_notes(jobs.RUNS_ROOT / "small") == {}


def test_a_sample_searched_lists_the_units_it_fires_most_and_opens_one(app):  # noqa: F811
    from ui.text import plain

    app.switch_page("pages/unit_browser.py").run()
    get(app, "number_input", "Test digit").set_value(7).run()
    assert not app.exception, app.exception
    found = [b for b in app.button if b.key and b.key.startswith("ub-search-")]
    ranked = [int(b.key.rsplit("-", 1)[1]) for b in found]
    values = [float(b.label) for b in found]
    assert len(ranked) == 10 and values == sorted(values, reverse=True) and values[-1] > 0
    found[3].click().run()
    assert get(app, "number_input", "Unit").value == ranked[3]
    assert any(c.value.startswith("The 10 units that fire most on " + plain("test digit no. 7")) for c in app.caption)
