"""Hierarchy: every unit of every layer of a generative hierarchy switched on alone and carried down to the pixels,
a grid per layer; one unit's top samples and its probability of being exactly 0."""
import numpy as np
import streamlit as st

from ui import compute, figures, url
from ui.state import keep, require

SORTS = {"activity": "most active first", "p_zero": "least often exactly 0 first", "index": "unit number"}


sel = require(__file__)
model = sel.model()
sizes = model.cfg.sizes
st.title("Hierarchy")
samples = sel.samples()
shape, noun = samples.shape, samples.noun
st.markdown(f"What each unit draws on its own: the unit switched on (at the value it reaches on its top 1 % of test "
            f"{samples.nouns}), the rest of its layer at 0, carried down to the pixels through the prior's means. Layer 1 lies "
            "next to the pixels; higher layers draw through the layers below them.")
h = compute.hierarchy_for(*sel.key)
linked = url.take("layer", url.integer(1, len(sizes)), "layer", f"layer {len(sizes)}")
if linked is not None:
    st.session_state["hi-layer"] = linked
keep("hi-layer", len(sizes))
c1, c2, c3 = st.columns(3)
layer_no = c1.radio("Layer", list(range(1, len(sizes) + 1)), horizontal=True, key="hi-layer",
                    format_func=lambda n: f"{n} ({sizes[n - 1]} units)")
url.share(layer=layer_no)
sort = c2.radio("Order", list(SORTS), format_func=SORTS.get, key="hi-sort", horizontal=True)
diff = c3.toggle("Show the change from the layer at 0", key="hi-diff",
                 help="Each image minus what the layer draws with every unit at 0 (red: the unit adds ink)")
layer = h.layers[layer_no - 1]
order = {"activity": np.argsort(-layer.activity, kind="stable"), "p_zero": np.argsort(layer.p_zero, kind="stable"),
         "index": np.arange(len(layer.value))}[sort]
images = layer.images - layer.base if diff else layer.images
inactive = layer.inactive
if inactive.any() and st.toggle(f"Hide the {int(inactive.sum())} inactive units", value=True, key="hi-hide",
                                help=f"Units whose posterior mean hardly varies over the {samples.nouns} "
                                     "(Burda's criterion): each draws what its layer draws at 0"):
    order = order[~inactive[order]]
else:
    order = np.concatenate([order[~inactive[order]], order[inactive[order]]])  # the inactive ones last
st.image(figures.tiles(images[order], zoom=2, signed=diff, shape=shape), width=56, caption=[f"{u}" for u in order])
st.caption(f"{len(order)} units of layer {layer_no}, each captioned with its number; pixel probabilities (the darker, "
           f"the nearer 1) or, with the toggle, their change (red: more ink). Measured on {h.digits:,} test {samples.nouns}."
           + (f" {int(inactive.sum())} of its {len(inactive)} units are inactive: they all draw the same image."
              if inactive.any() else ""))

st.subheader("One unit")
keep(f"hi-unit-{layer_no}", int(order[0]))
unit = st.number_input(f"Unit of layer {layer_no} (0 – {len(order) - 1})", 0, len(order) - 1,
                       key=f"hi-unit-{layer_no}")
m = st.columns(3)
m[0].metric(f"P(exactly 0), mean over {samples.nouns}", f"{layer.p_zero[unit]:.2f}")
m[1].metric("Activity (variance of its mean)", f"{layer.activity[unit]:.3f}")
m[2].metric("Switched on at", f"{layer.value[unit]:.2f}")
top = layer.top_digits[unit]
st.image(figures.tiles([layer.images[unit]], zoom=3, signed=False, shape=shape)
         + figures.tiles([layer.images[unit] - layer.base], zoom=3, signed=True, shape=shape)
         + figures.tiles([samples.split.x[i].numpy() for i in top], zoom=3, signed=False, shape=shape), width=84,
         caption=["what it draws", "its change"] + [f"{noun} {i}" + ("" if samples.split.y is None else f" (label {samples.classes[int(samples.split.y[i])]})") for i in top])
st.caption(f"Right: the test {samples.nouns} on which the unit's posterior mean is highest.")
