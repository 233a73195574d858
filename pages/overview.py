import numpy as np
import streamlit as st

from models.units import kind_counts
from ui import figures
from ui.state import sidebar, test_digits

st.title("sparselab · Discriminative Recurrent Sparse Auto-Encoder")
st.markdown(
    "A DrSAE encodes a digit by running `z_{t+1} = ReLU(E x + S z_t − b)` for T steps from `z_0 = 0`, "
    "reconstructs it as `D z_T` and classifies it from `C z_T / ‖z_T‖` (Rolfe & LeCun, ICLR 2013). "
    "Move **Unroll steps T** in the sidebar: every figure follows. Pages: *Filters* (E, D, S, C), *Dynamics* "
    "(one digit step by step), *Reconstructions*, *Confusion*, *Units* (categorical vs part units), *Training*."
)
sel = sidebar()
stats = sel.stats()
t = sel.unroll
_, _, data_name = test_digits()
units = sel.units()
counts = kind_counts(units["kind"])
c = st.columns(5)
c[0].metric(f"Test error at T = {t}", f"{stats.error[t - 1]:.2f} %")
c[1].metric("Reconstruction ½‖x − Dz‖²", f"{stats.recon[t - 1]:.4f}")
c[2].metric("Active units", f"{stats.active[t - 1]:.1f} / {sel.model.cfg.hidden}")
c[3].metric("Categorical units", counts["categorical"])
c[4].metric("Part units", counts["part"])
st.caption(f"On the {data_name}. Model: {sel.entry.label}, λ = {sel.entry.sparsity:g}, trained with T = {sel.model.cfg.unroll}.")
steps = np.arange(1, stats.steps + 1)
left, right = st.columns(2)
left.plotly_chart(figures.lines(steps, {"test error (%)": stats.error}, "Classification error after each step",
                                "step t", "error (%)", marker_x=t), key="ov-error")
# No T marker here: a figure that does not change is not redrawn, which halves a slider move's cost.
right.plotly_chart(figures.lines(steps, {"reconstruction": stats.recon, "active units / 100": stats.active / 100},
                                 "Reconstruction and activity after each step", "step t"), key="ov-recon")
