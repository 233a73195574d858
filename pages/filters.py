import numpy as np
import streamlit as st

from models.explore import unit_order
from ui import figures
from ui.state import sidebar

st.title("Filters")
sel = sidebar()
m, units = sel.model, sel.units()
kind, angle = units["kind"], units["angle"]

c1, c2, c3 = st.columns([2, 2, 1])
kinds = c1.multiselect("Unit kinds", ["categorical", "intermediate", "part"],
                       default=["categorical", "intermediate", "part"], key="flt-kinds")
lo, hi = c2.slider("Encoder–decoder angle (rad)", 0.0, float(np.pi), (0.0, float(np.pi)), 0.01, key="flt-angle")
order_by = c3.radio("Sort by", ["kind, then angle", "angle", "unit number", "‖C_i‖"], key="flt-sort")

order = {"kind, then angle": unit_order(kind, angle), "angle": np.argsort(-angle),
         "unit number": np.arange(len(angle)), "‖C_i‖": np.argsort(-units["c_norm"])}[order_by]
shown = np.array([i for i in order if kind[i] in kinds and lo <= angle[i] <= hi], dtype=int)
st.caption(f"{len(shown)} of {len(angle)} units shown. Part units: angle < 0.5 rad; categorical: > 0.7 rad.")
if len(shown) == 0:
    st.warning("No unit matches these filters.")
    st.stop()

labels = [f"unit {i} · {kind[i]} · angle {angle[i]:.2f} · class {units['c_class'][i]}" for i in shown]
cols = int(min(20, max(5, np.ceil(np.sqrt(len(shown))))))
E = m.E.detach().numpy()[shown]
D = m.D.detach().numpy().T[shown]
left, right = st.columns(2)
left.plotly_chart(figures.filter_grid(E, labels, cols, "Encoder rows E_i"), key="flt-E")
right.plotly_chart(figures.filter_grid(D, labels, cols, "Decoder columns D_i"), key="flt-D")

S = m.S.detach().numpy()[np.ix_(shown, shown)]
C = m.C.detach().numpy()[:, shown]
left, right = st.columns([3, 2])
left.plotly_chart(figures.heatmap(S - np.eye(len(shown)) * (1.0 if st.session_state.get("flt-sub-i", True) else 0.0),
                                  title="Recurrent weights S − I (rows: to, columns: from; in the order above)",
                                  hover="to %{y}, from %{x}: %{z:.3f}<extra></extra>", height=520,
                                  x=[str(i) for i in shown], y=[str(i) for i in shown]), key="flt-S")
left.checkbox("Subtract the identity (ISTA's S is I − a DᵀD)", value=True, key="flt-sub-i")
right.plotly_chart(figures.heatmap(C, x=[str(i) for i in shown], y=[str(k) for k in range(10)],
                                   title="Classifier C (rows: classes)", ytitle="class", height=520,
                                   hover="class %{y}, unit %{x}: %{z:.3f}<extra></extra>"), key="flt-C")
