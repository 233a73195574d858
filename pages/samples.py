"""Samples: a generative model's own samples: fresh ancestral samples, or between a chosen sample's own code (depth 0)
and fresh samples (every layer drawn afresh), from the pixels up or from the top down."""
import streamlit as st

from ui import compute, figures, stepper, url
from ui.export import named
from ui.own_sample import pick_sample
from ui.state import require


def _bad():
    raise ValueError("is not 'bottom' or 'top'")


sel = require(__file__)
model = sel.model()
L = len(model.cfg.sizes)
st.title("Samples")
samples = sel.samples()
noun = samples.noun
st.markdown(f"{samples.nouns.capitalize()} drawn by the model, top-down, between a chosen {noun}'s own code and fresh "
            f"samples. **Depth** is how many layers are drawn afresh from the prior: at depth 0 you see the {noun}'s "
            f"reconstruction, at depth {L} fresh samples that owe the {noun} nothing. Drawn afresh from the pixels up, "
            f"the upper layers keep the {noun}'s code (its posterior means): what stays is what they hold. Drawn "
            f"afresh from the top down, the layers below are inferred from the {noun} given the new layers above: how "
            f"much the {noun}'s evidence pulls the sample back (a mean-field posterior ignores the layers above, so its "
            f"lower layers stay the {noun}'s).")
x, name = pick_sample("smp", samples, fresh="None: fresh samples")
linked = url.take("depth", url.integer(0, L), "depth", f"depth {L}")
if linked is not None:
    st.session_state["smp-step"] = linked + 1  # the stepper counts from 1: depth 0 is its first frame
ORDERS = {"bottom": f"from the pixels up (the {noun}'s upper layers kept)",
          "top": f"from the top down (the layers below inferred from the {noun})"}
linked = url.take("order", lambda v: v if v in ORDERS else _bad(), "order", "from the pixels up")
if linked is not None:
    st.session_state["smp-order"] = linked
order = st.radio("Drawn afresh", list(ORDERS), format_func=ORDERS.get, horizontal=True, key="smp-order",
                 disabled=x is None)
seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="smp-seed", help="another seed, other samples")
s = compute.draws_for(*sel.model_key, None if x is None else x.tobytes(), int(seed))
if x is not None:
    st.image(figures.tiles([x, s.digit, s.reconstruction], zoom=4, signed=False, shape=samples.shape), width=112,
             caption=[name, "binarised, as the model sees it", "its code carried down (depth 0)"])
drawn = s.from_bottom if order == "bottom" else s.from_top
names = lambda ls: ", ".join(str(i + 1) for i in ls) or "none"  # noqa: E731
how = f"the {noun}'s own code" if order == "bottom" else f"inferred from the {noun} given the layers above"


def said(depth: int) -> str:
    fresh = list(range(depth)) if order == "bottom" else list(range(L - depth, L))
    rest = [i for i in range(L) if i not in fresh]
    return f"Depth {depth}: layers {names(fresh)} drawn afresh; layers {names(rest)} {how}."


if x is None:  # fresh samples: every layer from the prior, nothing to step through
    depth = L
    st.image(figures.tiles(drawn[L], zoom=3, signed=False, shape=samples.shape), width=84,
             caption=[f"sample {i + 1}" for i in range(len(drawn[L]))])
    st.caption(said(L))
else:  # every depth's samples in the page: the browser steps through them
    if st.session_state.get("smp-step", 2) > L + 1:
        st.session_state["smp-step"] = 2
    st.session_state.setdefault("smp-step", 2)  # depth 1: the first layer drawn afresh
    panel = stepper.images("samples", [figures.tiles(drawn[d], zoom=1, signed=False, shape=samples.shape)
                                       for d in range(L + 1)],
                           [[f"sample {i + 1}" for i in range(len(drawn[d]))] for d in range(L + 1)], scale=3,
                           titles=[said(d) for d in range(L + 1)])
    depth = stepper.stepper([panel], L + 1, "smp-step", name=named("samples"), label="Depth",
                            steps_named=[f"depth {d}" for d in range(L + 1)]) - 1
url.share(depth=depth if x is not None else None, order=None if order == "bottom" else order)
st.caption("Each image shows pixel probabilities (the darker, the nearer 1). Layer 1 lies next to the pixels.")
