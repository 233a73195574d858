import numpy as np
import streamlit as st

from models.explore import trace, unit_activity
from ui import figures
from ui.state import sidebar, test_digits

st.title("Units: categorical and part")
sel = sidebar()
m, units, T = sel.model, sel.units(), sel.unroll
digits, images, data_name = test_digits()
kind, angle = units["kind"], units["angle"]


@st.cache_resource(max_entries=8, show_spinner="Encoding the test digits…")
def activity(path, version, steps):
    return unit_activity(m, digits, steps)


z_T, per_class = activity(*sel.key, T)
if "u-sel" not in st.session_state:
    st.session_state["u-sel"] = [int(i) for i in np.argsort(-angle)[:2]]

left, right = st.columns(2)
ev1 = left.plotly_chart(figures.unit_scatter(angle, units["s_minus_i_norm"], kind, "angle(E_i, D_i) (rad)",
                                             "‖(S − I)_i‖", "Recurrent weight norm against angle",
                                             st.session_state["u-sel"]),
                        key="u-scatter-s", on_select="rerun", selection_mode=("points", "box", "lasso"))
ev2 = right.plotly_chart(figures.unit_scatter(angle, units["c_norm"], kind, "angle(E_i, D_i) (rad)", "‖C_i‖",
                                              "Classifier weight norm against angle", st.session_state["u-sel"]),
                         key="u-scatter-c", on_select="rerun", selection_mode=("points", "box", "lasso"))
for ev in (ev1, ev2):
    picked = sorted({int(p["customdata"]) for p in (ev or {}).get("selection", {}).get("points", [])
                     if p.get("customdata") is not None})
    if picked and picked != st.session_state["u-sel"]:
        st.session_state["u-sel"] = picked[:8]
        st.rerun()

chosen = st.multiselect("Units to compare (click or box-select points above, or type numbers)",
                        list(range(m.cfg.hidden)), key="u-sel", max_selections=8)
if not chosen:
    st.info("Select at least one unit.")
    st.stop()
c1, c2 = st.columns([1, 3])
digit = c1.number_input("Digit for the activity over steps", 0, len(digits) - 1, 0, key="u-digit")
tr = trace(m, digits.x[digit], T)
S = m.S.detach().numpy()
E, D = m.E.detach().numpy(), m.D.detach().numpy().T
cols = st.columns(len(chosen))
for col, u in zip(cols, chosen):
    with col:
        st.markdown(f"**Unit {u}** · {kind[u]}  \nangle {angle[u]:.2f} rad · S_ii {units['s_self'][u]:.2f} · "
                    f"‖C_i‖ {units['c_norm'][u]:.2f} → class {units['c_class'][u]}")
        st.plotly_chart(figures.digit_row([E[u], D[u]], ["encoder E_i", "decoder D_i"]), key=f"u-filt-{u}")
        off = S[u].copy()
        off[u] = 0
        inc = np.argsort(-np.abs(off))[:4]  # strongest inputs to u
        out_col = S[:, u].copy()
        out_col[u] = 0
        outg = np.argsort(-np.abs(out_col))[:4]  # strongest outputs of u
        st.plotly_chart(figures.digit_row([D[j] for j in inc], [f"{j}: {off[j]:+.2f}" for j in inc],
                                          "strongest incoming S (decoders)"), key=f"u-in-{u}")
        st.plotly_chart(figures.digit_row([D[j] for j in outg], [f"{j}: {out_col[j]:+.2f}" for j in outg],
                                          "strongest outgoing S (decoders)"), key=f"u-out-{u}")
        st.plotly_chart(figures.lines(np.arange(1, T + 1), {f"z_{u}": tr.z[:, u]}, f"activity on digit {digit}",
                                      "step t", height=220), key=f"u-steps-{u}")
        st.plotly_chart(figures.bars(list(range(10)), per_class[:, u], "mean z_T per class", "class",
                                     height=220, color=figures.KIND_COLORS[kind[u]]), key=f"u-class-{u}")
        top = np.argsort(-z_T[:, u])[:6]
        st.plotly_chart(figures.digit_row([images[i].astype(np.float32) for i in top],
                                          [f"{z_T[i, u]:.2f}" for i in top], "digits that drive it most"),
                        key=f"u-top-{u}")

# -- the population: the paper's figures ---------------------------------------------------------
st.header("All units")
an = sel.analysis()
t = an.table
left, right = st.columns(2)
left.plotly_chart(figures.unit_scatter(angle, t["p_late_start"], kind, "angle(E_i, D_i) (rad)",
                                       "P(z_1 = 0, z_2 > 0)", "Units that switch on only at step 2",
                                       st.session_state["u-sel"]), key="u-scatter-late")
groups = ["categorical", "part"]
right.plotly_chart(figures.heatmap(np.array([[an.s_blocks[(a, b)] for b in groups] for a in groups]),
                                   x=[f"from {g}" for g in groups], y=[f"to {g}" for g in groups],
                                   title="Mean S_ij between and within the groups (i ≠ j)", height=380,
                                   hover="%{y} %{x}: %{z:.4f}<extra></extra>"), key="u-sblocks")
cats = np.flatnonzero(kind == "categorical")
if len(cats):
    cats = cats[np.argsort(t["c_class"][cats], kind="stable")][:40]
    class_mean = np.stack([digits.x[digits.y == c].mean(0).numpy() for c in range(10)])
    tiles = np.concatenate([class_mean, D[cats]])
    names = [f"mean of class {c}" for c in range(10)] + [f"unit {u} → class {t['c_class'][u]}" for u in cats]
    st.plotly_chart(figures.filter_grid(tiles, names, cols=10, title="Class means (first row) and the decoders of "
                                        "categorical units, by the class their C weight favours"), key="u-protos")
else:
    st.info("This model has no categorical unit (angle > 0.7 rad).")
st.markdown("**Per-step optimal decoders**: for each step t, the decoder D^t that best reconstructs the test "
            "digits from z_t (least squares).")
u0 = st.selectbox("Unit", chosen, key="u-dec-unit")
Tt = an.step_decoders.shape[0]
st.plotly_chart(figures.filter_grid(an.step_decoders[:, :, u0], [f"D^{s + 1} of unit {u0}" for s in range(Tt)],
                                    cols=Tt, title=f"Optimal decoders of unit {u0} at steps 1..{Tt}"),
                key="u-stepdec")
