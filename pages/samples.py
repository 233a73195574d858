import streamlit as st

from ui import compute, figures, url
from ui.own_digit import pick_digit
from ui.state import keep, require

sel = require(__file__)
model = sel.model()
L = len(model.cfg.sizes)
st.title("Samples")
st.markdown("Digits drawn by the model, top-down. **Depth** is how many layers, counted from the pixels up, are drawn "
            "afresh from the prior; the layers above keep a chosen digit's own code (its posterior means). At depth 0 "
            f"you see the digit's reconstruction; at depth {L}, fresh samples that owe the digit nothing. What stays "
            "fixed as the depth grows is what the upper layers hold.")
digits = compute.inputs_for(sel.family.name)
x, name = pick_digit("smp", digits, sel.family.inputs, fresh="None: fresh samples")
linked = url.take("depth", url.integer(0, L), "depth", f"depth {L}")
if linked is not None:
    st.session_state["smp-depth"] = linked
keep("smp-depth", L if x is None else 1)
depth = st.slider("Depth: layers drawn afresh (from the pixels up)", 0, L, key="smp-depth", disabled=x is None,
                  help="0: the digit's own code in every layer; "
                       f"{L}: every layer from the prior")
url.share(depth=depth)
seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="smp-seed", help="another seed, other samples")
s = compute.samples_for(*sel.key, None if x is None else x.tobytes(), int(seed))
shown = L if x is None else depth
if x is not None:
    st.image(figures.tiles([x, s.digit, s.reconstruction], zoom=4, signed=False), width=112,
             caption=[name, "binarised, as the model sees it", "its code carried down (depth 0)"])
kept = "none" if shown == L else ", ".join(str(i + 1) for i in range(shown, L))
st.image(figures.tiles(s.frames[shown], zoom=3, signed=False), width=84,
         caption=[f"sample {i + 1}" for i in range(len(s.frames[shown]))])
st.caption(f"Depth {shown}: layers {', '.join(str(i + 1) for i in range(shown)) or 'none'} drawn afresh; layers "
           f"{kept} from {'the digit' if x is not None else 'nowhere'}. Each image shows pixel probabilities (the "
           "darker, the nearer 1). Layer 1 lies next to the pixels.")
