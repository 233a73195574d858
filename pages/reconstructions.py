import numpy as np
import streamlit as st

from models.explore import trace
from ui import figures
from ui.state import sidebar, test_digits

st.title("Reconstructions")
sel = sidebar()
digits, images, data_name = test_digits()
T = sel.unroll
i = st.number_input(f"Test digit (0 – {len(digits) - 1})", 0, len(digits) - 1, 0, key="rec-digit")
tr = trace(sel.model, digits.x[i], T)
imgs = [tr.x] + list(tr.recon) + [tr.x - tr.recon[T - 1]]
titles = ["input"] + [f"D z_{t + 1}" for t in range(T)] + [f"residual (T={T})"]
st.plotly_chart(figures.digit_row(imgs, titles, f"Digit {i} (label {int(digits.y[i])}) reconstructed after each step",
                                  cols=min(len(imgs), 12)), key="rec-row")
err = 0.5 * ((tr.x[None] - tr.recon) ** 2).sum(1)
stats = sel.stats()
steps = np.arange(1, stats.steps + 1)
st.plotly_chart(figures.lines(steps, {f"mean over the {data_name}": stats.recon,
                                      f"digit {i}": np.r_[err, [np.nan] * (stats.steps - T)]},
                              "Reconstruction error ½‖x − D z_t‖² against t", "step t", "error", marker_x=T),
                key="rec-curve")
