"""Traversal: one top unit of a generative hierarchy clamped over a range of values, the rest of its layer at a
sample's own code, carried down to the pixels."""
import numpy as np
import streamlit as st

from ui import compute, figures, stepper
from ui.export import named
from ui.own_sample import pick_sample
from ui.state import keep, require

sel = require(__file__)
model = sel.model()
top = len(model.cfg.sizes)
st.title("Traversal")
samples = sel.samples()
shape, noun = samples.shape, samples.noun
st.markdown(f"Clamp one unit of the top layer (layer {top}) at a range of values, leave the rest of that layer at a "
            f"{noun}'s own code, and carry it down to the pixels through the prior's means: what the unit changes in "
            f"the {noun}.")
h = compute.hierarchy_for(*sel.key)
layer = h.layers[-1]
order = np.argsort(-layer.activity)  # the most active units first: the ones that carry something
x, name = pick_sample("trv", samples, fresh="None: the top layer at 0")
keep("trv-unit", int(order[0]))
unit = st.selectbox("Top unit (most active first)", [int(u) for u in order], key="trv-unit",
                    format_func=lambda u: f"unit {u}: activity {layer.activity[u]:.3f}, P(0) {layer.p_zero[u]:.2f}")
high = float(max(3 * layer.value[unit], 1.0))
values = tuple(float(v) for v in np.round(np.linspace(0.0, high, 11), 4))
frames = compute.traversal_for(*sel.model_key, None if x is None else x.tobytes(), unit, values)
st.session_state.setdefault("trv-at", 3)  # the stepper's frame 3: the third value
left, right = st.columns([1, 3])
with left:  # every value's picture in the page: the browser steps through them
    pictures = figures.tiles(frames, zoom=1, signed=False, shape=shape)
    stepper.stepper([stepper.images("traversal", [[p] for p in pictures],
                                    [[f"unit {unit} = {v:.2f}"] for v in values], scale=8)],
                    len(values), "trv-at", name=named(f"traversal unit {unit}"), label="Value of the unit",
                    steps_named=[f"{v:.2f}" for v in values])
right.image(figures.tiles(frames, zoom=3, signed=False, shape=shape), width=84, caption=[f"{v:.2f}" for v in values])
st.caption(f"From 0 (the unit exactly off) to {high:.2f}, three times what the unit reaches on its top 1 % of test "
           f"{samples.nouns} ({layer.value[unit]:.2f}). Starting point: {name}. Pixel probabilities: the darker, the nearer 1.")
