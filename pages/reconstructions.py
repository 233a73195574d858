import numpy as np
import streamlit as st

from ui import figures, url
from ui.compute import test_digits
from ui.export import chart
from ui.own_digit import HOW, own_digit
from ui.state import keep, require

sel = require(__file__)
st.title("Reconstructions")
digits = test_digits()
T = sel.unroll
linked = url.take("digit", url.integer(0, len(digits.split) - 1), "digit", "digit 0")
if linked is not None:
    st.session_state.update({"rec-mode": "Test digit", "rec-digit": linked})
mode = st.radio("Digit", ["Test digit", *HOW], horizontal=True, key="rec-mode")
if mode == "Test digit":
    keep("rec-digit", 0)
    i = st.number_input(f"Test digit (0 – {len(digits.split) - 1})", 0, len(digits.split) - 1, key="rec-digit")
    url.share(digit=i or None)
    x, name, short = digits.split.x[i], f"Digit {i} (label {int(digits.split.y[i])})", f"digit {i}"
else:
    url.share(digit=None)  # a digit of the user's own cannot be shared
    x, short = own_digit(mode, "rec")
    name = short[0].upper() + short[1:]
tr = sel.trace(x)
steps = len(tr.recon)
imgs = [tr.x] + list(tr.recon) + [tr.x - tr.recon[-1]]
titles = ["input"] + [f"x̂(z_{t + 1})" for t in range(steps)] + [f"residual (T={steps})"]
chart(st, figures.digit_row(imgs, titles, f"{name} reconstructed "
                            + ("after each step" if sel.caps.steps else "from its code"),
                            cols=min(len(imgs), 12)), key="rec-row",
      caption="Red: positive pixel values, blue: negative; each image on its own scale. The residual is what the "
              "last reconstruction misses.")
if sel.caps.steps:
    err = 0.5 * ((tr.x[None] - tr.recon) ** 2).sum(1)
    stats = sel.view().stats
    all_steps = np.arange(1, stats.steps + 1)
    chart(st, figures.lines(all_steps, {f"mean over the {digits.name}": stats.recon,
                                        short: np.r_[err, [np.nan] * (stats.steps - T)]},
                            "Reconstruction error ½‖x − x̂(z_t)‖² against t", "step t", "½‖x − x̂‖²", marker_x=T),
          key="rec-curve", caption="This digit's error after each step against the mean over the test digits; the "
                                   "dotted line is the sidebar's T.")
else:
    st.caption(f"½‖x − x̂‖² = {0.5 * float(((tr.x - tr.recon[-1]) ** 2).sum()):.4f} for this digit; "
               f"mean over the {digits.name}: {sel.view().stats.recon[0]:.4f}.")
