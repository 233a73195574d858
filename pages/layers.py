"""Layers: any sample's code in a generative hierarchy, layer by layer: its binarisation, its reconstruction, and each
unit's posterior mean and probability of being exactly 0."""
import numpy as np
import streamlit as st

from ui import compute, figures
from ui.export import chart
from ui.own_sample import pick_sample
from ui.state import require

ON, OFF = "#1f77b4", "#c7c7c7"

sel = require(__file__)
st.title("Layers")
samples = sel.samples()
st.markdown(f"Any {samples.noun}'s code, layer by layer: each unit's posterior mean, and its probability of being exactly 0, "
            "with the reconstruction the code gives.")
x, name = pick_sample("lay", samples)
c = compute.layer_code_for(*sel.model_key, x.tobytes())
st.image(figures.tiles([x, c.digit, c.reconstruction], zoom=4, signed=False, shape=samples.shape), width=112,
         caption=[name, "binarised, as the model sees it", "reconstruction: p(x | the posterior means)"])
bce = -float(np.sum(c.digit * np.log(np.clip(c.reconstruction, 1e-7, 1)) + (1 - c.digit) *
                    np.log(np.clip(1 - c.reconstruction, 1e-7, 1))))
st.caption(f"−log p(x | code) = {bce:.1f} nats for this {samples.noun}.")
cols = st.columns(2)
for i, (mean, p0) in enumerate(zip(c.means, c.p_zero)):
    n = len(mean)
    on = int((p0 < 0.5).sum())
    chart(cols[i % 2], figures.bars(np.arange(n), mean, f"Layer {i + 1}: {on} of {n} units more likely on than 0",
                                    "unit", "posterior mean", color=np.where(p0 < 0.5, ON, OFF).tolist()),
          key=f"lay-{i}", caption="Bar height: the unit's posterior mean; blue: the unit is more likely on than "
                                  f"exactly 0 for this {samples.noun}, grey: more likely 0.")
