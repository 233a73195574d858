"""The Dynamics page's frames: one sample's trace as stepper panels (ui/stepper.py), a column per model."""
from __future__ import annotations

import numpy as np

from models.analysis.steps import Trace, group_activity
from models.kinds import unit_order
from ui import figures
from ui.stepper import Panel, bars, heatmap, images, lines


def heading(entry, symbol: str, T: int) -> str:
    """A column's model: its group, its sparsity, the T it runs."""
    from models.services.catalog import group_label

    sparsity = f" · {symbol} {entry.sparsity:g}" if entry.sparsity is not None else ""
    return f"{group_label(entry.group)}{sparsity} · T = {T}"


def trace_panels(tr: Trace, kinds: np.ndarray | None, classes: list[str] | None, shape, noun: str, col: int = 0,
                 heading: str = "", side_by_side: bool = False, angle: np.ndarray | None = None) -> list[Panel]:
    """Every step of `tr` (a sample through T steps): the input and x̂(z_t), the active units' z_t with the step
    marked, each kind's total activity, and the class probabilities after each step. `kinds`: each unit's kind
    where kinds mean something (None: none, and no kind words), ordered by `angle` inside a kind; `classes`: None
    without a classifier. Side by side, all of a model's panels share its column (`col`), under its `heading`."""
    T = len(tr.z)
    steps = np.arange(1, T + 1)
    heat_col, rest_col = (col, col) if side_by_side else (0, 1)
    out = []
    active = (tr.z > 0).sum(1)
    cats = (tr.z[:, kinds == "categorical"] > 0).sum(1) if kinds is not None else None
    titles = [f"Step {t}: {active[t - 1]} units active" + (f", {cats[t - 1]} categorical" if cats is not None else "")
              for t in steps]
    if tr.recon is not None:
        pics = figures.tiles([tr.x, *tr.recon], zoom=1, shape=shape)
        out.append(images("reconstruction", [[pics[0], pics[t]] for t in steps],
                          [["input", f"x̂(z_{t})"] for t in steps], scale=5 if shape and max(shape) <= 32 else 2,
                          col=rest_col, titles=titles, heading=heading))
    if classes is not None:
        pred = tr.probs.argmax(1)
        out.append(bars("probabilities", list(classes), tr.probs, vmax=1.0, xtitle="class", ytitle="p", col=rest_col,
                        titles=[f"Prediction after step {t}: {classes[pred[t - 1]]} (p = {tr.probs[t - 1, pred[t - 1]]:.3f})"
                                for t in steps],
                        caption="The model's answer, read from z_t, if it stopped at step t.",
                        heading="" if tr.recon is not None else heading))
    order = unit_order(kinds, angle) if kinds is not None else np.arange(tr.z.shape[1])
    shown = order[(tr.z[:, order] > 0).any(0)]  # only units that fire at some step: the rest is blank
    out.insert(0 if not side_by_side else len(out), heatmap(
        "z", tr.z[:, shown].T, [str(u) for u in shown], groups=None if kinds is None else [str(kinds[u]) for u in shown],
        units=[int(u) for u in shown], scale="row", col=heat_col,
        title=f"z_t for the {len(shown)} units active at any step" + (", by kind" if kinds is not None else ""),
        caption=f"Each row a unit, each column a step: how strongly the unit answers this {noun} as the recurrence "
                "runs (0: silent); the red box is the step shown. Colour: each row on its own scale (a unit fading "
                "or taking over shows whatever its size), one scale for all, or log. Hover a cell for its value; "
                "click a row to open the unit.",
        **({"titles": titles} if tr.recon is None and classes is None else {})))
    if kinds is not None:
        out.append(lines("kinds", steps, group_activity(tr.z, kinds), figures.KIND_COLORS, ytitle="Σ z", col=rest_col,
                         title="Total activity of each kind",
                         caption="Which kind carries the code at each step."))
    if classes is not None and not side_by_side:
        top = [int(k) for k in np.argsort(-tr.probs[-1])[:4]]
        palette = ["#4c78a8", "#f58518", "#54a24b", "#b279a2"]
        out.append(lines("classes", steps, {classes[k]: tr.probs[:, k] for k in top},
                         {classes[k]: c for k, c in zip(top, palette)}, ytitle="p", col=rest_col,
                         title="Class probabilities after each step (top 4)",
                         caption="The four classes the model ends up favouring, read out after every step."))
    return out
