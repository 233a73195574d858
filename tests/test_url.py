"""The view in the URL (ui/url.py): a link opens the same model, T, digit, step and units; every bad value falls back
to the default with a one-line notice; the URL follows the widgets."""
import pytest
from streamlit.testing.v1 import AppTest

from models.services import jobs
from ui.text import plain
from tests.test_app import ROOT, get, server_navigation, stepper_data
from ui import url

L005 = "default:drsae-400x11-l0.05"


@pytest.fixture
def open_link(monkeypatch, tmp_path):
    """A fresh session opened on `page` with these URL parameters."""
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs")

    def go(page: str, **params) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params.update(params)
        at.switch_page(page).run()
        assert not at.exception, at.exception
        return at
    return go



def notices(at) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("The link's")]


def test_dynamics_link_opens_the_same_view(open_link):
    at = open_link("pages/dynamics.py", model=L005, T="5", digit="123", step="3")
    assert not notices(at)
    assert get(at, "slider", "Unroll steps").value == 5
    assert at.session_state["dyn-step"] == 3 and stepper_data(at)["step"] == 3
    assert get(at, "select_slider", "Sparsity").value == 0.05
    assert "test digit 123, label 6" in at.markdown[0].value  # digit 123 of the embedded sample is a 6
    assert dict(at.query_params) == {"model": L005, "T": "5", "digit": "123", "step": "3"}


def test_units_and_reconstructions_links(open_link):
    at = open_link("pages/units.py", units="137,5", digit="42")
    assert get(at, "multiselect", "Units to compare").value == [137, 5]
    assert get(at, "number_input", "Digit for the activity").value == 42
    assert at.query_params["units"] == "137,5" and at.query_params["model"] == "default:drsae-400x11"
    at = open_link("pages/reconstructions.py", digit="7")
    assert get(at, "number_input", "Test digit").value == 7


@pytest.mark.parametrize("page, params, says", [
    ("pages/overview.py", {"model": "run:gone"}, "model `run:gone` is not among the models here"),
    ("pages/overview.py", {"T": "abc"}, "unroll T `abc` is not a whole number"),
    ("pages/overview.py", {"T": "0"}, "unroll T `0` is outside 1 – 33"),
    ("pages/dynamics.py", {"digit": "5000"}, "digit `5000` is outside 0 – 999"),
    ("pages/dynamics.py", {"step": "12"}, "step `12` is outside 1 – 11"),
    ("pages/units.py", {"units": "9999"}, "units `9999` is outside 0 – 399"),
    ("pages/units.py", {"units": "1,2,3,4,5,6,7,8,9"}, "units `1,2,3,4,5,6,7,8,9` names more than 8"),
    ("pages/units.py", {"units": ","}, "units `,` names none"),
    ("pages/reconstructions.py", {"digit": "-1"}, "digit `-1` is outside 0 – 999"),
])
def test_a_bad_value_falls_back_with_one_notice(open_link, page, params, says):
    at = open_link(page, **params)
    assert [says in n for n in notices(at)] == [True], notices(at)
    assert not at.error
    assert at.query_params["model"] == (L005 if params.get("model") == L005 else "default:drsae-400x11")
    if page == "pages/dynamics.py":
        assert at.session_state["dyn-step"] == 11  # the default step: the last


def test_the_url_follows_the_widgets(open_link):
    at = open_link("pages/dynamics.py")
    # T and step at their defaults stay out; the default digit is the sample's first 0, test digit 3
    assert dict(at.query_params) == {"model": "default:drsae-400x11", "digit": "3"}
    get(at, "slider", "Unroll steps").set_value(4).run()
    at.session_state["dyn-step"] = 2  # the browser let go of the step slider at 2
    at.run()
    assert at.query_params["T"] == "4" and at.query_params["step"] == "2"
    get(at, "radio", "Digit").set_value("Upload").run()
    assert "digit" not in at.query_params  # an uploaded digit cannot be shared


def test_link_values_belong_to_the_first_run(open_link):
    """A value the first page did not use is dropped, not applied to a page visited later."""
    at = open_link("pages/overview.py", digit="123")
    at.switch_page("pages/dynamics.py").run()
    assert "test digit 123" not in at.markdown[0].value


def test_parsers():
    assert url.integer(1, 5)("3") == 3
    assert url.integers(0, 9, 3)("4, 2,4") == [4, 2]  # in order, once each
    for parse, raw, reason in [(url.integer(1, 5), "6", "is outside 1 – 5"), (url.integer(1, 5), "2.5",
                               "is not a whole number"), (url.integers(0, 9, 2), "1,2,3", "names more than 2")]:
        with pytest.raises(ValueError, match=reason):
            parse(raw)


def test_compare_link(open_link):
    pair = "default:drsae-400x11,default:ista-400x11"
    at = open_link("pages/compare.py", models=pair)
    assert get(at, "multiselect", "Models").value == pair.split(",") and at.query_params["models"] == pair
    at = open_link("pages/compare.py", models="default:drsae-400x11,run:gone")
    assert notices(at) == ["The link's models `default:drsae-400x11,run:gone` " + plain("names run:gone, not among "
                           "the models here") + ": showing the sidebar's model and one of each other family."]
    assert len(get(at, "multiselect", "Models").value) == 4
