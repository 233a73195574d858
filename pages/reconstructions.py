"""Reconstructions: a test sample, or one you draw or upload where the data takes them: its reconstruction after each
step, and the residual."""
import numpy as np
import streamlit as st

from ui import figures
from ui.export import chart
from ui.own_sample import pick_sample
from ui.state import require

sel = require(__file__)
st.title("Reconstructions")
samples = sel.samples()
T = sel.unroll
x, name = pick_sample("rec", samples)
short = name.split(" (")[0]
name = name[0].upper() + name[1:]
tr = sel.trace(x)
steps = len(tr.recon)
imgs = [tr.x] + list(tr.recon) + [tr.x - tr.recon[-1]]
titles = ["input"] + [f"x̂(z_{t + 1})" for t in range(steps)] + [f"residual (T={steps})"]
chart(st, figures.sample_row(imgs, titles, f"{name} reconstructed "
                            + ("after each step" if sel.caps.steps else "from its code"),
                            cols=min(len(imgs), 12), shape=samples.shape), key="rec-row",
      caption="Red: positive pixel values, blue: negative; each image on its own scale. The residual is what the "
              "last reconstruction misses.")
if sel.caps.steps:
    err = 0.5 * ((tr.x[None] - tr.recon) ** 2).sum(1)
    stats = sel.view().stats
    all_steps = np.arange(1, stats.steps + 1)
    chart(st, figures.lines(all_steps, {f"mean over the {samples.name}": stats.recon,
                                        short: np.r_[err, [np.nan] * (stats.steps - T)]},
                            "Reconstruction error ½‖x − x̂(z_t)‖² against t", "step t", "½‖x − x̂‖²", marker_x=T),
          key="rec-curve", caption=f"This {samples.noun}'s error after each step against the mean over the test "
                                   f"{samples.nouns}; the dotted line is the sidebar's T.")
else:
    st.caption(f"½‖x − x̂‖² = {0.5 * float(((tr.x - tr.recon[-1]) ** 2).sum()):.4f} for this {samples.noun}; "
               f"mean over the {samples.name}: {sel.view().stats.recon[0]:.4f}.")
