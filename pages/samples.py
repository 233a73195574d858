"""Samples: a generative model's own samples: fresh ancestral samples, or between a chosen sample's own code (depth 0)
and fresh samples (every layer drawn afresh), from the pixels up or from the top down."""
import streamlit as st

from ui import compute, figures, url
from ui.own_sample import pick_sample
from ui.state import keep, require


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
x, name = pick_sample("smp", samples, sel.family.inputs, fresh="None: fresh samples")
linked = url.take("depth", url.integer(0, L), "depth", f"depth {L}")
if linked is not None:
    st.session_state["smp-depth"] = linked
keep("smp-depth", L if x is None else 1)
depth = st.slider("Depth: layers drawn afresh", 0, L, key="smp-depth", disabled=x is None,
                  help=f"0: the {noun}'s own code in every layer; "
                       f"{L}: every layer from the prior")
ORDERS = {"bottom": f"from the pixels up (the {noun}'s upper layers kept)",
          "top": f"from the top down (the layers below inferred from the {noun})"}
linked = url.take("order", lambda v: v if v in ORDERS else _bad(), "order", "from the pixels up")
if linked is not None:
    st.session_state["smp-order"] = linked
order = st.radio("Drawn afresh", list(ORDERS), format_func=ORDERS.get, horizontal=True, key="smp-order",
                 disabled=x is None)
url.share(depth=depth, order=None if order == "bottom" else order)
seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="smp-seed", help="another seed, other samples")
s = compute.draws_for(*sel.model_key, None if x is None else x.tobytes(), int(seed))
shown = L if x is None else depth
if x is not None:
    st.image(figures.tiles([x, s.digit, s.reconstruction], zoom=4, signed=False, shape=samples.shape), width=112,
             caption=[name, "binarised, as the model sees it", "its code carried down (depth 0)"])
frames = (s.from_bottom if order == "bottom" else s.from_top)[shown]
st.image(figures.tiles(frames, zoom=3, signed=False, shape=samples.shape), width=84,
         caption=[f"sample {i + 1}" for i in range(len(frames))])
fresh = list(range(shown)) if order == "bottom" else list(range(L - shown, L))
rest = [i for i in range(L) if i not in fresh]
names = lambda ls: ", ".join(str(i + 1) for i in ls) or "none"  # noqa: E731
how = f"the {noun}'s own code" if order == "bottom" else f"inferred from the {noun} given the layers above"
st.caption(f"Depth {shown}: layers {names(fresh)} drawn afresh; layers {names(rest)} {how}. Each image shows pixel "
           "probabilities (the darker, the nearer 1). Layer 1 lies next to the pixels.")
