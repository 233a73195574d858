"""What every page works on: the model chosen in the sidebar (drawn once, in app.py), and its cached views."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from models.analysis.activity import UnitAnalysis
from models.analysis.intervene import Intervention
from models.analysis.steps import Codes, Trace
from models.families import NEEDS, Family
from models.services import catalog
from ui import compute, nav

_KEY = "_selection"


@dataclass
class Selection:
    entry: catalog.Entry
    family: Family
    unroll: int  # the slider: steps to run, 1 .. max_unroll (1 for a model without recurrent steps)
    max_unroll: int

    @property
    def model_key(self) -> tuple[str, float]:
        """What the model's own cached views are keyed by: its file and that file's version."""
        return str(self.entry.path), self.entry.version()

    @property
    def key(self) -> tuple[str, float, str]:
        """What its views over the test samples are keyed by: the model, and the data it was trained on."""
        return (*self.model_key, self.entry.data.key)

    @property
    def caps(self):
        """What the model can do (its family, less a classifier it lacks) and what its data has (labels, images,
        a ground truth): what the pages ask."""
        return self.family.capabilities_of(self.model().cfg).with_data(self.entry.data.layout())

    def samples(self) -> compute.TestSamples:
        """The test samples of the model's data, as its family reads them."""
        return compute.samples_of(*self.key)

    @property
    def trained_unroll(self) -> int:
        return self.entry.unroll

    def model(self):
        """The model itself (cached per file and version)."""
        return compute.model_for(*self.model_key)

    def view(self) -> compute.ModelView:
        """All steps up to the slider's maximum, computed once per model."""
        return compute.view_for(*self.key, self.max_unroll)

    def trace(self, x) -> Trace:
        """One input (as the family reads it) through the slider's steps."""
        return compute.trace_for(*self.model_key, self.unroll, np.asarray(x, dtype=np.float32).tobytes())

    def intervened(self, x, iv: Intervention) -> Trace:
        """The same input through the slider's steps with units held (an intervention)."""
        return compute.intervened_trace_for(*self.model_key, self.unroll, np.asarray(x, dtype=np.float32).tobytes(),
                                            iv)

    def codes(self) -> Codes:
        return compute.codes_for(*self.key, self.unroll)

    def unit_index(self):
        """Every unit's density, preferred class and top samples over the test samples, at the slider's T."""
        return compute.unit_index_for(*self.key, self.unroll)

    @property
    def ranked(self) -> bool:
        """Every unit has been ranked by its ablation at this T (asked once, on the Units page or the Unit browser:
        both then show it)."""
        return st.session_state.get(_RANKED) == (*self.key, self.unroll)

    def rank(self) -> None:
        st.session_state[_RANKED] = (*self.key, self.unroll)

    def analysis(self) -> UnitAnalysis:
        """The paper's per-unit analysis at the trained T (activity over the test samples)."""
        return compute.analysis_for(*self.key)


_RANKED = "u-ranked"  # the model, data and T whose units were ranked by ablation
_RUN, _DRAWN = "_run", "_drawn"  # this run's number; the run in which each kept widget was last drawn


def start_run() -> None:
    """At the top of every run of app.py."""
    st.session_state[_RUN] = st.session_state.get(_RUN, 0) + 1


def keep(key: str, default):
    """Give a keyed widget its default through its state, and write its value back when it was not drawn in the
    last run: a run that stops (st.stop) before a widget keeps the widget's state, but the widget drawn again later
    shows its default while the state holds the old value. Written in every run instead, the value would race a
    user's quick moves (a slider's third key press lost). The widget is then drawn without a default."""
    run = st.session_state.get(_RUN, 0)
    drawn = st.session_state.setdefault(_DRAWN, {})
    if key not in st.session_state or drawn.get(key) != run - 1:
        st.session_state[key] = st.session_state.get(key, default)
    drawn[key] = run
    return st.session_state[key]


def publish(sel: Selection | None) -> None:
    st.session_state[_KEY] = sel


def current() -> Selection | None:
    """The sidebar's model, for a page that works without one."""
    nav.through_app()
    return st.session_state.get(_KEY)


def require(script: str) -> Selection:
    """The selection, for the page `script` (its __file__); without a model that can fill the page, one line
    says what it needs and the page stops there."""
    nav.through_app()
    sel = st.session_state.get(_KEY)
    if sel is None:
        st.info("No model to show: choose another model in the sidebar.")
        st.stop()
    missing = sel.caps.missing(*(nav.spec(script).needs or ()))
    if missing:
        st.info(f"This page needs a model with {' and '.join(NEEDS[m] for m in missing)}; "
                f"{sel.family.short} models have none. Pick another model in the sidebar.")
        st.stop()
    return sel



def clicked(key: str, event, state=None) -> list[int]:
    """The units (points' customdata) a chart's selection `event` newly picked: a selection seen on an earlier run
    is not acted on again (it persists in the chart), so a unit taken out of the picker stays out."""
    state = st.session_state if state is None else state
    picked = sorted({int(p["customdata"]) for p in (event or {}).get("selection", {}).get("points", [])
                     if p.get("customdata") is not None})
    seen, state[f"{key}-seen"] = state.get(f"{key}-seen"), picked
    return picked if picked != seen else []


def with_picked(now: list[int], picked: list[int], adding: bool, most: int) -> tuple[list[int], list[int]]:
    """The units chosen after a click picked `picked`: added to `now` or replacing it; at most `most`, and those
    left out."""
    merged = now + [u for u in picked if u not in now] if adding else list(picked)
    return merged[:most], merged[most:]
