"""The sidebar, drawn once per run by app.py before the page: model, sparsity λ and unroll T."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from models.checkpoint import CheckpointError
from models.data import DataError
from models.families import get
from models.services import catalog, jobs
from models.training import run_folder
from models.training.config import TrainConfig
from ui import compute, export, url
from ui.state import Selection, keep, publish
from ui.text import plain


_OPEN = "_open_model"


_LAST_T = "unroll-last"  # the model, T and trained T last shown: a switch of λ keeps T
_LISTED = "sidebar-listed"  # the catalog keys the model picker offered in its last draw


def listed() -> set[str]:
    """The catalog keys the model picker offered when it was last drawn."""
    return st.session_state.get(_LISTED, set())


def missing_runs(shown: set[str]) -> set[str]:
    """Runs that can be opened now but that the model picker did not list (`shown`): a run started from this tab has
    written its first checkpoint. The Training page's poll redraws the app for them."""
    return {e.key for e in catalog.entries() if e.key.startswith("run:")} - shown

def open_model(key: str, page: str = "pages/overview.py") -> None:
    """Show the model with this catalog key on `page`: the sidebar selects it in the next run."""
    st.session_state[_OPEN] = key
    st.switch_page(page)


def draw() -> Selection | None:
    sel = _draw()
    publish(sel)
    st.sidebar.radio("Figure downloads", list(export.FORMATS), format_func=export.FORMATS.get, horizontal=True,
                     key=export.FORMAT_KEY, help="What the camera button above each chart downloads, named after "
                                                 "the model and the chart")
    return sel


def _train_other_sparsity(entry: catalog.Entry, family) -> None:
    """Queue this model's recipe at a new sparsity (λ or k); it joins this group's slider when its first epoch
    lands."""
    try:
        cfg = run_folder.read_config(entry.folder)
    except run_folder.DamagedRun:
        cfg = None
    if not cfg or not family.has_sparsity:
        return
    symbol = family.sparsity_symbol
    with st.sidebar.expander(f"Train this model at another {symbol}"):
        if isinstance(entry.sparsity, int):  # a count of active latents
            sparsity = st.number_input(symbol, 1, 4096, entry.sparsity * 2, 1, key="new-lambda")
        else:
            sparsity = st.number_input(symbol, 0.0, 5.0, round(entry.sparsity * 2, 4), 0.01, format="%.3f",
                                       key="new-lambda")
        if st.button("Train in the background", key="new-lambda-go"):
            try:
                mc = family.config.from_dict(family.with_sparsity(cfg["model"], sparsity))
                j = jobs.start(mc, TrainConfig.from_dict(cfg["train"]), data=entry.data)
                st.success(f"{j.name} is training: see the Training page. It appears under 'Your runs'.")
            except (jobs.JobError, ValueError) as e:
                st.error(plain(e))


def _known(key: str, by_key: dict[str, catalog.Entry]) -> catalog.Entry:
    if key not in by_key:
        raise ValueError("is not among the models here (a deleted run, or another machine's)")
    return by_key[key]


def _draw() -> Selection | None:
    sb = st.sidebar
    all_entries = catalog.entries()
    st.session_state[_LISTED] = {e.key for e in all_entries}
    if not all_entries:
        sb.error("No model found: the embedded default is missing from assets/ and no run has a checkpoint.")
        return None
    groups = list(dict.fromkeys(e.group for e in all_entries))
    by_key = {e.key: e for e in all_entries}
    linked = url.take("model", lambda key: _known(key, by_key), "model", "the default model")
    for chosen in (linked, by_key.get(st.session_state.pop(_OPEN, None))):  # a link's, or one a page opened
        if chosen is not None:
            st.session_state.update({"model-group": chosen.group, f"sparsity-{chosen.group}": chosen.sparsity,
                                     f"run-{chosen.group}-{chosen.sparsity}": chosen.key})
    sb.markdown("### Model")
    group = sb.selectbox("Model", groups, format_func=catalog.group_label, key="model-group",
                         label_visibility="collapsed")
    members = catalog.members(group, all_entries)  # the embedded default first in its group
    values = sorted({e.sparsity for e in members}, key=lambda v: -1 if v is None else v)
    symbol = get(members[0].architecture).sparsity_symbol
    if len(values) > 1:
        keep(f"sparsity-{group}", members[0].sparsity)  # a link's λ, else the group's default model's
        sparsity = sb.select_slider(f"Sparsity {symbol} (a training setting: each value is its own model)",
                                    options=values, key=f"sparsity-{group}", format_func=lambda v: f"{v:g}")
    else:
        sparsity = values[0]
        if sparsity is not None:
            sb.caption(f"Sparsity {symbol} = {sparsity:g} (train another {symbol} on the Training page)")
    at = [e for e in members if e.sparsity == sparsity]
    if len(at) > 1:  # runs that differ in something else: seed, epochs, data...
        labels = catalog.differences(at)
        key = sb.selectbox("Run", [e.key for e in at], format_func=labels.get, key=f"run-{group}-{sparsity}",
                           help="Models of this size and λ that differ in other settings")
        entry = next(e for e in at if e.key == key)
    else:
        entry = at[0]
    family = get(entry.architecture)
    if entry.title or entry.note:
        sb.markdown(f"**{plain(entry.title or entry.folder.name)}**" + (f"  \n{plain(entry.note, lines=True)}"
                                                                           if entry.note else ""))
    _train_other_sparsity(entry, family)
    if entry.state not in ("embedded", "done"):
        sb.caption(f"This run is {entry.state}: showing its latest checkpoint.")
    try:
        opened = compute.loaded(str(entry.path), entry.version())
    except CheckpointError as e:
        sb.error(f"{plain(entry.label)} cannot be opened: {plain(e)}")
        return None
    if opened.restored_from:
        sb.warning(f"Its latest checkpoint is damaged: showing the one before it ({Path(opened.restored_from).name}).")
    try:
        shown = compute.shown_for(entry.data.key)
    except (DataError, ValueError) as e:  # its data is gone (a vectors file moved), or cannot be read
        sb.error(f"{plain(entry.label)} cannot be shown: its data cannot be loaded ({plain(e)}).")
        return None
    trained = entry.settings.get("data.test_fingerprint")
    if trained and trained != shown.fingerprint:
        sb.warning(f"This model was trained with another dataset than the {shown.name} shown here: "
                   "its errors on them measure a transfer, not the model.")
    if shown.warning:
        sb.warning(shown.warning)
    T = entry.unroll
    if not family.capabilities.steps:
        url.share(model=entry.key, T=None)
        return Selection(entry, family, 1, 1)
    max_unroll = max(3 * T, 3)
    linked_T = url.take("T", url.integer(1, max_unroll), "unroll T", f"the trained T = {T}")
    last = st.session_state.get(_LAST_T)  # (model, T) the user looked at last
    if linked_T is not None:
        st.session_state[f"unroll-{entry.key}"] = linked_T
    elif last and last[0] != entry.key and last[2] == T:  # another λ or run trained with the same T: the same T
        st.session_state[f"unroll-{entry.key}"] = last[1]  # (from a model trained with T = 1, not 1 on a T = 11 one)
    keep(f"unroll-{entry.key}", T)
    unroll = sb.slider("Unroll steps T", 1, max_unroll, key=f"unroll-{entry.key}",
                       help=f"Trained with T = {T}; going past it shows what the dynamics do beyond training.")
    st.session_state[_LAST_T] = (entry.key, unroll, T)
    if unroll > T:
        sb.caption(f"Beyond the trained T = {T}.")
    url.share(model=entry.key, T=unroll if unroll != T else None)
    return Selection(entry, family, unroll, max_unroll)
