"""A ▶ Play / ⏸ Pause button that walks a slider through its values, one every `interval` seconds; the whole page
reruns at each value, so every view that reads the slider follows (the Dynamics step, the Filters filmstrip).

A running script cannot set a slider it has already drawn, so the ticker leaves the next value aside and the page
hands it to the slider before drawing it (`advance`, called just before the slider)."""
from __future__ import annotations

import time

import streamlit as st


def advance(slider_key: str) -> None:
    """Before the slider is drawn: move it to the value the ticker left, if any."""
    nxt = st.session_state.pop(f"{slider_key}-next", None)
    if nxt is not None:
        st.session_state[slider_key] = nxt


def player(slider_key: str, values: list, where, key: str, interval: float = 0.6) -> None:
    """Draw the button in `where`; while playing, move the slider to the next of `values` every `interval`."""
    playing_key, last_key = f"{key}-playing", f"{key}-at"

    def toggle():
        """A callback: it runs before the script, when the slider may still be set."""
        st.session_state[playing_key] = not st.session_state.get(playing_key, False)
        if st.session_state[playing_key] and st.session_state.get(slider_key, values[-1]) == values[-1]:
            st.session_state[slider_key] = values[0]
        st.session_state[last_key] = time.monotonic()  # the first frame stays for a whole interval

    playing = st.session_state.get(playing_key, False)
    where.button("⏸ Pause" if playing else "▶ Play", key=key, on_click=toggle)

    @st.fragment(run_every=interval)
    def ticker():
        # Runs in every full run too: only a tick an interval after the last one advances.
        if not st.session_state.get(playing_key) or time.monotonic() - st.session_state.get(last_key, 0) < 0.9 * interval:
            return
        now = st.session_state.get(slider_key, values[-1])
        if now not in values or now == values[-1]:
            st.session_state[playing_key] = False
        else:
            st.session_state[f"{slider_key}-next"] = values[values.index(now) + 1]
        st.session_state[last_key] = time.monotonic()
        st.rerun(scope="app")

    if playing:
        ticker()
