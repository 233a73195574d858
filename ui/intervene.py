"""The controls of an intervention (Dynamics and Units pages): which units, held at what, from which step."""
from __future__ import annotations

import numpy as np
import streamlit as st

from models.analysis.intervene import Intervention
from models.kinds import KINDS
from ui.state import keep

TARGETS = ("a kind", "chosen units")
HOW = ("at 0 (ablate)", "at a value (clamp)")


def intervention_controls(hidden: int, kind: np.ndarray | None, T: int, z: np.ndarray, key: str,
                          default_units: list[int] | None = None) -> Intervention | None:
    """`z`: (steps, hidden) the sample's untouched codes (the chosen units' default: its most active ones; the clamp
    value's: its largest activity); `kind`: each unit's kind (None where kinds mean nothing: chosen units only).
    None while no unit is chosen."""
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
    targets = TARGETS if kind is not None else TARGETS[1:]
    if st.session_state.get(f"{key}-target") not in targets:  # another model's choice
        st.session_state[f"{key}-target"] = targets[0]
    target = c1.radio("Hold", targets, key=f"{key}-target")
    if target == TARGETS[0]:
        keep(f"{key}-kind", "categorical")
        k = c2.selectbox("Kind", KINDS, key=f"{key}-kind", format_func=lambda k: f"{k} ({int((kind == k).sum())} units)")
        chosen = [int(u) for u in np.flatnonzero(kind == k)]
    else:
        ukey = f"{key}-units"
        default = default_units or [int(u) for u in np.argsort(-z[-1])[:3]]
        if default_units and st.session_state.get(f"{ukey}-follows") != list(default_units):
            st.session_state[f"{ukey}-follows"] = list(default_units)  # the page's choice changed: follow it
            st.session_state[ukey] = list(default_units)
        kept = [u for u in st.session_state.get(ukey, default) if 0 <= u < hidden]  # another model's units go
        if kept != st.session_state.get(ukey):
            st.session_state[ukey] = kept
        chosen = c2.multiselect("Units", list(range(hidden)), key=ukey)
    how = c3.radio("Held", HOW, key=f"{key}-how")
    value = 0.0
    if how == HOW[1]:
        keep(f"{key}-value", float(np.round(max(z.max(), 0.05), 2)))
        value = c3.number_input("Value", 0.0, 100.0, step=0.05, key=f"{key}-value")
    from_step = 1
    if T > 1:
        if keep(f"{key}-from", 1) > T:  # a smaller T than before
            st.session_state[f"{key}-from"] = T
        from_step = c4.slider("From step", 1, T, key=f"{key}-from")
    return Intervention(tuple(chosen), float(value), int(from_step)) if chosen else None
