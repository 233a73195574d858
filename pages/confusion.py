"""Confusion: the confusion matrix and per-class error at the sidebar's T; a clicked cell shows its samples and the
units whose ablation changes their predictions most."""
import numpy as np
import streamlit as st

from ui import figures
from ui.compute import cell_units_for
from ui.export import chart
from ui.state import require

CELL_SAMPLES = 200  # samples of a clicked cell whose units are ranked

sel = require(__file__)
st.title("Confusion")
samples = sel.samples()
noun, classes = samples.noun, list(range(len(samples.classes)))
stats, T = sel.view().stats, sel.unroll
cm = stats.confusion(T)
normalized = st.toggle("Normalize rows (fraction of each true class)", key="cf-norm")
shown = cm / cm.sum(1, keepdims=True).clip(1) if normalized else cm
per_class = 100 * (1 - np.diag(cm) / cm.sum(1).clip(1))
st.caption(f"After T = {T} steps on the {samples.name}: error {stats.error[T - 1]:.2f} % "
           f"({int(cm.sum() - np.trace(cm))} of {int(cm.sum())}). Click a cell to see its {samples.nouns}.")
left, right = st.columns([3, 2])
event = chart(left, figures.confusion(cm, shown, normalized), key="cf-matrix", on_select="rerun",
              selection_mode="points")
chart(right, figures.bars(classes, per_class, "Error per true class (%)", "class", "error (%)",
                          every_x=True), key="cf-per-class",
      caption=f"The share of each class's test {samples.nouns} the model gets wrong at the sidebar's T.")

points = (event or {}).get("selection", {}).get("points", []) if event else []
clicked = (int(points[0]["y"]), int(points[0]["x"])) if points else None
if clicked and clicked != st.session_state.get("cf-clicked"):  # a new click; later selectbox edits win
    st.session_state["cf-clicked"] = clicked
    st.session_state["cf-true"], st.session_state["cf-pred"] = clicked
if {st.session_state.get("cf-true"), st.session_state.get("cf-pred")} - set(classes) or "cf-true" not in \
        st.session_state:  # first open (or another model's classes): the most frequent confusion, not an empty cell
    off = cm - np.diag(np.diag(cm))
    st.session_state["cf-true"], st.session_state["cf-pred"] = (int(i) for i in np.unravel_index(off.argmax(),
                                                                                                   off.shape))
c1, c2 = st.columns(2)
true = c1.selectbox("True class", classes, key="cf-true", format_func=lambda k: samples.classes[k])
pred = c2.selectbox("Predicted class", classes, key="cf-pred", format_func=lambda k: samples.classes[k])
idx = np.flatnonzero((stats.labels == true) & (stats.preds[T - 1] == pred))
if len(idx) == 0:
    st.info(f"No test {noun} of class {samples.classes[true]} is predicted as {samples.classes[pred]} at T = {T}.")
else:
    show = idx[:60]
    conf = stats.confidence[T - 1, show]
    labels = [f"{noun} {i} · p({pred}) = {c:.2f}" for i, c in zip(show, conf)]
    chart(st, figures.filter_grid(samples.split.x[show].numpy(), labels, cols=min(15, len(show)), signed=False,
                                  title=f"{len(idx)} {samples.nouns} of class {samples.classes[true]} predicted as "
                                        f"{samples.classes[pred]}" + (" (first 60)" if len(idx) > 60 else ""),
                                  shape=samples.shape), key="cf-digits",
          caption=f"Each {noun} with the probability the model gave the wrong class {samples.classes[pred]}.")

    # -- the units responsible ---------------------------------------------------------------------
    if sel.caps.steps and sel.caps.filters:
        cell = tuple(int(i) for i in idx[:CELL_SAMPLES])
        cu = cell_units_for(*sel.key, T, cell)
        order = [u for u in cu.ranked() if cu.flips[u] > 0][:12]
        what = f"class {pred}"
        st.subheader(f"Units whose ablation changes these {samples.nouns}' predictions most")
        if not order:
            st.info(f"Ablating any one unit alone changes none of these {len(cell)} predictions.")
        else:
            kind = sel.view().kinds  # None where kinds mean nothing
            st.dataframe({"unit": order, **({"kind": kind[order].tolist()} if kind is not None else {}),
                          f"predictions changed (of {len(cell)})": cu.flips[order].tolist(),
                          f"of which to the true class {true}": cu.to_true[order].tolist()}, hide_index=True)
            w = sel.view().weights
            st.image(figures.tiles(w.decoder[order[:8]], zoom=2, shape=samples.shape),
                     caption=[f"unit {u}" + (f" ({kind[u]})" if kind is not None else "") + f": {cu.flips[u]} changed"
                              for u in order[:8]])
            st.caption(f"Each unit held at 0 at every step, alone, on these {samples.nouns} (predicted {what} without "
                       "the intervention)" + (f"; the first {CELL_SAMPLES} of them" if len(idx) > CELL_SAMPLES
                                                           else "") + ". The images are the units' decoders.")
