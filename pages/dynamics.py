import numpy as np
import streamlit as st
import torch

from models.data import normalize
from models.digits import DigitError, prepare_upload
from models.explore import group_activity, trace, unit_order
from ui import figures
from ui.state import sidebar, test_digits

st.title("Dynamics")
sel = sidebar()
digits, images, data_name = test_digits()
stats, units = sel.stats(), sel.units()
T = sel.unroll

def pick(container, label: str, n: int, key: str) -> int:
    """An index among n digits (a slider needs at least two)."""
    return 0 if n == 1 else container.slider(label, 0, n - 1, 0, key=key)


# -- which digit -------------------------------------------------------------------------------
mode = st.radio("Digit", ["By class", "Misclassified", "Your own"], horizontal=True, key="dyn-mode")
x, caption = None, ""
if mode == "By class":
    c1, c2 = st.columns([1, 3])
    cls = c1.selectbox("Class", list(range(10)), key="dyn-class")
    pool = np.flatnonzero(stats.labels == cls)
    if len(pool) == 0:
        st.info(f"No digit of class {cls} in the {data_name}.")
        st.stop()
    k = pick(c2, f"Which {cls} ({len(pool)} in the {data_name})", len(pool), f"dyn-k-{cls}")
    i = int(pool[k])
    x, caption = digits.x[i], f"test digit {i}, label {cls}"
elif mode == "Misclassified":
    wrong = np.flatnonzero(stats.preds[T - 1] != stats.labels)
    if len(wrong) == 0:
        st.success(f"No digit of the {data_name} is misclassified at T = {T}.")
        st.stop()
    k = pick(st, f"Misclassified at T = {T} ({len(wrong)} digits)", len(wrong), f"dyn-wrong-{T}")
    i = int(wrong[k])
    x = digits.x[i]
    caption = f"test digit {i}, label {stats.labels[i]}, predicted {stats.preds[T - 1, i]}"
else:
    up = st.file_uploader("A digit image (PNG, JPEG…, at most 2 MB)", type=None, key="dyn-upload")
    if up is None:
        st.info("Upload a picture of one handwritten digit; it is centred and scaled like MNIST.")
        st.stop()
    try:
        img = prepare_upload(up.getvalue())
    except DigitError as e:
        st.error(str(e))
        st.stop()
    x, caption = normalize(img[None])[0], "your digit"

tr = trace(sel.model, torch.as_tensor(x), T)

# -- one step slider for every step view, with a play button -------------------------------------
if st.session_state.get("dyn-step", T) > T:
    st.session_state["dyn-step"] = T
c1, c2 = st.columns([5, 1])
if T == 1:  # nothing to step through
    step = 1
    c1.caption("One step: z_1 = ReLU(E x − b).")
elif "dyn-step" in st.session_state:
    step = c1.slider("Step t", 1, T, key="dyn-step")
else:
    step = c1.slider("Step t", 1, T, T, key="dyn-step")


def _toggle_play():
    """A callback: it runs before the script, when the step slider may still be set."""
    st.session_state["dyn-playing"] = not st.session_state.get("dyn-playing", False)
    if st.session_state["dyn-playing"] and st.session_state.get("dyn-step", T) >= T:
        st.session_state["dyn-step"] = 1


playing = st.session_state.get("dyn-playing", False)
c2.button("⏸ Pause" if playing else "▶ Play", key="dyn-play", on_click=_toggle_play)


@st.fragment(run_every=0.6)
def _ticker():
    """Advances the step while playing; the whole page reruns so every step view follows."""
    if not st.session_state.get("dyn-playing"):
        return
    s = st.session_state.get("dyn-step", T)
    if s >= T:
        st.session_state["dyn-playing"] = False
    else:
        st.session_state["dyn-step"] = s + 1
    st.rerun(scope="app")


if playing:
    _ticker()

kind = units["kind"]
order = unit_order(kind, units["angle"])
probs = tr.probs[step - 1]
pred = int(probs.argmax())
c = st.columns(4)
c[0].markdown(f"**Input**  \n{caption}")
c[1].metric(f"Prediction after step {step}", f"{pred}", f"p = {probs[pred]:.3f}", delta_color="off")
c[2].metric("Active units", int((tr.z[step - 1] > 0).sum()))
c[3].metric("Categorical units active", int((tr.z[step - 1][kind == "categorical"] > 0).sum()))

left, right = st.columns([3, 2])
active_units = order[(tr.z[:, order] > 0).any(0)]  # only units that fire at some step: the rest is blank
zs = tr.z[:, active_units].T
fig = figures.heatmap(zs, x=list(range(1, T + 1)), y=[f"{u} ({kind[u][:4]})" for u in active_units],
                      title=f"z_t for the {len(active_units)} units active at any step (categorical first)",
                      colorscale="Viridis", symmetric=False, xtitle="step t",
                      hover="step %{x}, unit %{y}: %{z:.4f}<extra></extra>", height=max(360, 12 * len(active_units)))
fig.add_vline(x=step, line_color="red")
fig.update_yaxes(type="category", autorange="reversed")
left.plotly_chart(fig, key="dyn-z")
right.plotly_chart(figures.digit_row([tr.x, tr.recon[step - 1]], ["input", f"D z_{step}"], ""), key="dyn-pair")
groups = group_activity(tr.z, kind)
steps = np.arange(1, T + 1)
right.plotly_chart(figures.lines(steps, groups, "Total activity of each group", "step t", "Σ z",
                                 marker_x=step, colors=figures.KIND_COLORS), key="dyn-groups")
right.plotly_chart(figures.lines(steps, {str(k): tr.probs[:, k] for k in np.argsort(-tr.probs[-1])[:4]},
                                 "Class probabilities after each step (top 4)", "step t", "p", marker_x=step),
                   key="dyn-probs")
right.plotly_chart(figures.bars([str(k) for k in range(10)], probs, f"Class probabilities after step {step}",
                                "class", "p"), key="dyn-bar")
