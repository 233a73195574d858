"""The Compare page, and every page opened on each embedded family (ISTA, LISTA, structured + residual DrSAE)."""
import numpy as np
import pytest

from models.analysis.matching import match_units
from tests.test_app import PAGES, app, get, settle  # noqa: F401  (app: the fixture)
from tests.data import DIGITS

FAMILIES = [("default", "ista", 400, 11, DIGITS), ("default", "lista", 400, 11, DIGITS), ("default", "structured-drsae", 400, 11, DIGITS)]


def test_matching_recovers_a_permutation_and_ranks_pairs():
    g = np.random.default_rng(0)
    a = g.normal(size=(30, 50))
    perm = g.permutation(30)
    b = a[perm] + 0.01 * g.normal(size=(30, 50))
    m = match_units(a, b)
    assert len(m.pairs) == 30 and (np.diff(m.cosine) <= 1e-12).all()
    assert all(perm[j] == i for i, j in m.pairs)  # B's unit j is A's unit perm[j]
    assert m.share_above(0.99) == 1.0
    few = match_units(a[:5], b)  # as many pairs as the smaller model has units
    assert len(few.pairs) == 5 and len(set(few.pairs[:, 1])) == 5


def test_compare_page_measures_the_embedded_encoders(app):
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    picked = get(app, "multiselect", "Models").value
    assert {k.split(":")[1] for k in picked} == {"drsae-400x11", "ista-400x11", "lista-400x11",
                                                 "structured-drsae-400x11"}
    settle(app)  # the measurements, on the worker
    table = app.dataframe[0].value
    assert table.shape == (23, 5)  # 20 measures and Gregor & LeCun's code error with its two equivalents
    rows = dict(zip(table.iloc[:, 0], range(len(table))))
    ista = [c for c in table.columns if "ISTA" in c and "LISTA" not in c][0]
    # ISTA at T = 11 is worth about 11 ISTA iterations: its own step a follows ‖D‖ by power iteration
    assert int(table[ista].iloc[rows["≡ ISTA iterations"]]) in (11, 12)
    lista = [c for c in table.columns if "LISTA" in c][0]
    assert int(table[lista].iloc[rows["≡ ISTA iterations"]]) > 50  # LISTA's T = 11 is worth many more
    # by code error LISTA is worth more ISTA than FISTA iterations (FISTA converges faster)
    by_ista = int(table[lista].iloc[rows["≡ ISTA iterations by code error"]])
    assert by_ista > int(table[lista].iloc[rows["≡ FISTA iterations by code error"]]) >= 11
    for c in table.columns[1:]:
        assert float(table[c].iloc[rows["test error (%)"]]) < 10
    assert len(app.get("plotly_chart")) >= 1 + 4  # the curves, and each model's z_t
    # the same model as A and B: every unit is its own match
    get(app, "selectbox", "Model B").set_value(picked[0]).run()
    assert any("Median cosine 1.00; 100% of the pairs above 0.9" in c.value for c in app.caption)
    get(app, "multiselect", "Models").set_value(picked[:1]).run()
    assert any("at least two" in i.value for i in app.info)


@pytest.mark.parametrize("group", FAMILIES, ids=[g[1] for g in FAMILIES])
def test_every_page_opens_on_each_embedded_family(app, group):
    from models.checkpoint import load_model
    from models.families import get as family
    from models.services import catalog
    from ui import nav

    app.selectbox(key="model-group").set_value(group).run()
    assert not app.exception, app.exception
    entry = next(e for e in catalog.entries() if e.group == tuple(group))
    model, _ = load_model(entry.path)
    offered = {p.path for p in nav.offered(family(entry.architecture).capabilities_of(model.cfg)
                                           .with_data(entry.data.layout()))}
    for page in [p for p in PAGES if p in offered]:
        app.switch_page(page).run()
        assert not app.exception, (page, app.exception)
        assert not app.error, (page, [e.value for e in app.error])


def test_training_page_shows_how_the_embedded_models_were_trained(app):
    from models.services import catalog

    shipped = {e.key: e for e in catalog.entries() if e.state == "embedded"}
    assert catalog.command(shipped["default:drsae-400x11"]) == \
        "python -m models train --family drsae --out runs/drsae-400x11"  # the CLI's defaults: no flag
    assert catalog.command(shipped["default:drsae-400x11-l0.05"]).endswith("--sparsity 0.05")
    assert "--dictionary assets/models/ista-400x11/model.safetensors" in catalog.command(shipped["default:lista-400x11"])
    app.switch_page("pages/training.py").run()
    assert not app.exception
    assert app.code[0].value == catalog.command(shipped["default:drsae-400x11"])
    assert len(app.get("plotly_chart")) == 3  # its losses, error and activity per epoch
    get(app, "selectbox", "Embedded model").set_value("default:lista-400x11").run()
    assert "--family lista" in app.code[0].value and not app.exception
