import numpy as np

from ui.figures import unit_scatter


def test_selected_units_get_labels_that_do_not_sit_on_each_other():
    x = np.array([0.3, 1.70, 1.71, 1.72, 0.9])  # units 1..3 nearly on one spot
    y = np.array([0.1, 5.0, 5.0, 4.99, 0.2])
    kind = np.array(["part", "categorical", "categorical", "categorical", "categorical"])
    fig = unit_scatter(x, y, kind, "angle", "|C_i|", selected=[1, 2, 3])
    labels = fig.layout.annotations
    assert [a.text for a in labels] == ["1", "2", "3"]
    assert [(a.x, a.y) for a in labels] == [(1.70, 5.0), (1.71, 5.0), (1.72, 4.99)]
    assert len({(a.ax, a.ay) for a in labels}) == 3  # each label its own offset from its point
    ring = [t for t in fig.data if t.name == "selected"][0]
    assert list(ring.customdata) == [1, 2, 3]
    assert sum(len(t.x) for t in fig.data if t.name != "selected") == 5  # every unit plotted once
