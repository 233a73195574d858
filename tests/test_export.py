"""Downloads (ui/export.py): CSV on constructed cases, the model file read back, and every chart's camera button
named after the model and the figure, in the sidebar's format."""
import json

import pytest
import torch

from models.checkpoint import read_exported
from models.domains import spec
from models.families import get
from tests.test_app import stepper_data, app, get as widget, settle  # noqa: F401  (the app fixture)
from ui import export


def test_csv_of_columns_and_rows():
    assert export.csv_text({"unit": [3, 7], "kind": ["part", None], "note": ['a "b", c', "d"]}) == \
        'unit,kind,note\n3,part,"a ""b"", c"\n7,,d\n'
    with pytest.raises(ValueError, match="different lengths"):
        export.csv_text({"a": [1, 2], "b": [1]})
    # metrics rows: a key first seen late (a later epoch's new number) is a column, empty where a row lacks it
    assert export.rows_csv([{"epoch": 0, "err": 5.0}, {"epoch": 1, "err": 4.0, "grad": 0.5}]) == \
        "epoch,err,grad\n0,5.0,\n1,4.0,0.5\n"


def test_slug():
    assert export.slug("sparselab embedded · drsae-400x11 Class probabilities after step 3") == \
        "sparselab-embedded-drsae-400x11-class-probabilities-after-step-3"
    assert export.slug("λ = 0.05: z_t") == "λ-0.05-z-t"
    assert export.slug("···") == "figure"


def test_model_file_reads_back_as_the_same_model(tmp_path):
    family = get("drsae")
    model = family.new(family.fit(family.config(hidden=16, unroll=3), spec().layout()), torch.rand(64, 784), 1,
                       None).eval()
    path = tmp_path / "m.safetensors"
    path.write_bytes(export.model_file(model, "a label"))
    back, meta = read_exported(path)
    assert meta == {"exported_from": "a label"} and back.cfg == model.cfg
    assert model.state_dict().keys() == back.state_dict().keys()
    for k, v in model.state_dict().items():
        assert torch.allclose(v.float(), back.state_dict()[k], rtol=1e-3, atol=1e-4), k  # float16 on disk
    x = torch.rand(8, 784)
    assert torch.allclose(model.code(x), back.code(x), rtol=1e-2, atol=1e-3)


def charts_config(at) -> list[dict]:
    return [json.loads(c.proto.config) for c in at.get("plotly_chart")]


def test_every_chart_downloads_named_in_the_chosen_format(app):  # noqa: F811
    for page in ("pages/overview.py", "pages/reconstructions.py", "pages/units.py"):
        app.switch_page(page).run()
        configs = charts_config(app)
        assert configs and all(c["toImageButtonOptions"]["format"] == "png" for c in configs)
        names = [c["toImageButtonOptions"]["filename"] for c in configs]
        assert all(n.startswith("sparselab-embedded-drsae-400x11-") for n in names), names
    assert "sparselab-embedded-drsae-400x11-mean-z-t-per-class" in names
    app.switch_page("pages/dynamics.py").run()  # frames in the page: their PNGs are named the same way
    assert stepper_data(app)["name"] == "sparselab-embedded-drsae-400x11-dynamics"
    app.switch_page("pages/units.py").run()
    widget(app, "radio", "Figure downloads").set_value("svg").run()
    assert {c["toImageButtonOptions"]["format"] for c in charts_config(app)} == {"svg"}


def test_download_buttons(app):  # noqa: F811
    from models.analysis import report
    from models.assets import default_model_path
    from models.checkpoint import load_model
    from ui import background

    labels = lambda: [b.proto.label for b in app.get("download_button")]  # noqa: E731
    assert labels() == ["This model (float16 safetensors)"]  # the report: seconds of work, once asked for
    model, _ = load_model(default_model_path())
    assert report.missing(model) == []
    app.button(key="ov-report-go").click().run()
    task = next(t for k, t in background._TASKS.items() if k[0] == "report")  # on the worker, behind a bar
    settle(app)
    assert labels()[:2] == ["This model (float16 safetensors)", "The paper's claims checked (markdown)"]
    assert "claims hold" in task.future.result()
    app.switch_page("pages/training.py").run()
    assert "Metrics (CSV, a row per epoch)" in labels()  # the embedded model's curves


def test_the_embedded_assets_stay_under_15_mb():
    """The app works at once, offline, from assets/: models, sample data and a benchmark, under 15 MB in all."""
    from models.assets import ASSETS

    total = sum(p.stat().st_size for p in ASSETS.rglob("*") if p.is_file())
    assert 5e6 < total < 15e6, total
