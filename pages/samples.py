import streamlit as st

from ui import compute, figures, url
from ui.own_digit import pick_digit
from ui.state import keep, require



def _bad():
    raise ValueError("is not 'bottom' or 'top'")


sel = require(__file__)
model = sel.model()
L = len(model.cfg.sizes)
st.title("Samples")
st.markdown("Digits drawn by the model, top-down, between a chosen digit's own code and fresh samples. **Depth** is "
            "how many layers are drawn afresh from the prior: at depth 0 you see the digit's reconstruction, at depth "
            f"{L} fresh samples that owe the digit nothing. Drawn afresh from the pixels up, the upper layers keep the "
            "digit's code (its posterior means): what stays is what they hold. Drawn afresh from the top down, the "
            "layers below are inferred from the digit given the new layers above: how much the digit's evidence pulls "
            "the sample back (a mean-field posterior ignores the layers above, so its lower layers stay the digit's).")
digits = compute.inputs_for(sel.family.name)
x, name = pick_digit("smp", digits, sel.family.inputs, fresh="None: fresh samples")
linked = url.take("depth", url.integer(0, L), "depth", f"depth {L}")
if linked is not None:
    st.session_state["smp-depth"] = linked
keep("smp-depth", L if x is None else 1)
depth = st.slider("Depth: layers drawn afresh", 0, L, key="smp-depth", disabled=x is None,
                  help="0: the digit's own code in every layer; "
                       f"{L}: every layer from the prior")
ORDERS = {"bottom": "from the pixels up (the digit's upper layers kept)",
          "top": "from the top down (the layers below inferred from the digit)"}
linked = url.take("order", lambda v: v if v in ORDERS else _bad(), "order", "from the pixels up")
if linked is not None:
    st.session_state["smp-order"] = linked
order = st.radio("Drawn afresh", list(ORDERS), format_func=ORDERS.get, horizontal=True, key="smp-order",
                 disabled=x is None)
url.share(depth=depth, order=None if order == "bottom" else order)
seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="smp-seed", help="another seed, other samples")
s = compute.samples_for(*sel.key, None if x is None else x.tobytes(), int(seed))
shown = L if x is None else depth
if x is not None:
    st.image(figures.tiles([x, s.digit, s.reconstruction], zoom=4, signed=False), width=112,
             caption=[name, "binarised, as the model sees it", "its code carried down (depth 0)"])
frames = (s.from_bottom if order == "bottom" else s.from_top)[shown]
st.image(figures.tiles(frames, zoom=3, signed=False), width=84, caption=[f"sample {i + 1}" for i in range(len(frames))])
fresh = list(range(shown)) if order == "bottom" else list(range(L - shown, L))
rest = [i for i in range(L) if i not in fresh]
names = lambda ls: ", ".join(str(i + 1) for i in ls) or "none"  # noqa: E731
how = "the digit's own code" if order == "bottom" else "inferred from the digit given the layers above"
st.caption(f"Depth {shown}: layers {names(fresh)} drawn afresh; layers {names(rest)} {how}. Each image shows pixel "
           "probabilities (the darker, the nearer 1). Layer 1 lies next to the pixels.")
