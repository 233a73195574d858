"""Streamlit glue shared by every page: cached computations from models/, and the sidebar.

Everything heavy is cached by (model file, its mtime, settings), so a slider move only indexes arrays.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import streamlit as st

from models import catalog, explore, jobs, runs
from models.assets import sample_images
from models.checkpoint import CheckpointError, load_model
from models.data import DataError, Split, load_pair, normalize, resolve_dir
from models.drsae import DrSAE, DrSAEConfig
from models.train import TrainConfig
from models.units import unit_table

import torch


@st.cache_resource(max_entries=12, show_spinner=False)
def model_for(path: str, version: float) -> DrSAE:
    model, _ = load_model(path)
    return model


@st.cache_resource(show_spinner="Loading test digits…")
def test_digits() -> tuple[Split, np.ndarray, str]:
    """The full test set when a dataset folder is configured ($SPARSELAB_DATA), else the embedded sample."""
    if os.environ.get("SPARSELAB_DATA"):
        try:
            images, labels = load_pair(resolve_dir(download=False), "test")
            return Split(normalize(images), torch.from_numpy(labels.astype(np.int64))), images, "MNIST test set"
        except DataError as e:
            st.warning(f"{e} Using the embedded sample of 1,000 test digits instead.")
    images, labels = sample_images()
    return Split(normalize(images), torch.from_numpy(labels.astype(np.int64))), images, "embedded sample (1,000 test digits)"


@st.cache_resource(max_entries=24, show_spinner="Running the encoder over the test digits…")
def stats_for(path: str, version: float, steps: int) -> explore.StepStats:
    digits, _, _ = test_digits()
    return explore.step_stats(model_for(path, version), digits, steps)


@st.cache_resource(max_entries=24, show_spinner=False)
def units_for(path: str, version: float) -> dict:
    return unit_table(model_for(path, version))


@st.cache_resource(max_entries=8, show_spinner="Analysing the units over the test digits…")
def analysis_for(path: str, version: float):
    from models.analysis import analyse

    digits, _, _ = test_digits()
    return analyse(model_for(path, version), digits)


@dataclass
class Selection:
    entry: catalog.Entry
    model: DrSAE
    unroll: int  # the slider: steps to run, 1 .. 3T
    max_unroll: int

    @property
    def key(self) -> tuple[str, float]:
        return str(self.entry.path), self.entry.version()

    def stats(self) -> explore.StepStats:
        """All steps up to the slider's maximum, computed once per model."""
        return stats_for(*self.key, self.max_unroll)

    def units(self) -> dict:
        return units_for(*self.key)

    def analysis(self):
        """The paper's per-unit analysis at the trained T (activity over the test digits)."""
        return analysis_for(*self.key)


def _kept(key: str, default):
    """A sidebar value that survives page switches (Streamlit drops the state of widgets a page does not draw)."""
    return st.session_state.get("_kept-" + key, default)


def _keep(key: str) -> None:
    st.session_state["_kept-" + key] = st.session_state[key]


def _family_label(fam: tuple[str, int, int]) -> str:
    src, h, t = fam
    return f"{'Embedded default' if src == 'default' else 'Your runs'} · {h} units × {t} steps"


def sidebar(required: bool = True) -> Selection | None:
    """Model family, sparsity and unroll controls; returns what every page works on. Without a usable
    model, a page that requires one says so and stops there (the others keep working)."""
    sel = _sidebar()
    if sel is None and required:
        st.info("No model to show: choose another model in the sidebar.")
        st.stop()
    return sel


def _train_other_lambda(entry: catalog.Entry) -> None:
    """Queue this model's recipe at a new lambda; it joins this family's slider when its first epoch lands."""
    cfg = runs.read_config(entry.path.parent)
    if not cfg:
        return
    with st.sidebar.expander("Train this model at another λ"):
        lam = st.number_input("λ", 0.0, 5.0, round(entry.sparsity * 2, 4), 0.01, format="%.3f", key="new-lambda")
        if st.button("Train in the background", key="new-lambda-go"):
            mc = DrSAEConfig.from_dict({**cfg["model"], "sparsity": float(lam)})
            try:
                j = jobs.start(mc, TrainConfig.from_dict(cfg["train"]))
                st.success(f"{j.name} is training: see the Training page. It appears under 'Your runs'.")
            except jobs.JobError as e:
                st.error(str(e))


def _sidebar() -> Selection | None:
    all_entries = catalog.entries()
    if not all_entries:
        st.sidebar.error("No model found: the embedded default is missing from assets/ and no run has a checkpoint.")
        return None
    families = list(dict.fromkeys(e.family for e in all_entries))
    sb = st.sidebar
    sb.markdown("### Model")
    kept = _kept("family", families[0])
    fam = sb.selectbox("Model", families, index=families.index(kept) if kept in families else 0,
                       format_func=_family_label, key="family", label_visibility="collapsed",
                       on_change=_keep, args=("family",))
    first = next(e for e in all_entries if e.family == fam)  # of the embedded family, the default model
    members = catalog.siblings(first, all_entries)
    lambdas = [e.sparsity for e in members]
    if len(members) > 1:
        default_lambda = first.sparsity
        key = f"lambda-{fam}"
        lam = sb.select_slider("Sparsity λ (a training setting: each value is its own model)", options=lambdas,
                               value=_kept(key, default_lambda) if _kept(key, None) in lambdas else default_lambda,
                               key=key, format_func=lambda v: f"{v:g}", on_change=_keep, args=(key,))
    else:
        lam = lambdas[0]
        sb.caption(f"Sparsity λ = {lam:g} (train another λ on the Training page)")
    entry = next(e for e in members if e.sparsity == lam)
    _train_other_lambda(entry)
    if entry.state not in ("embedded", "done"):
        sb.caption(f"This run is {entry.state}: showing its latest checkpoint.")
    try:
        model = model_for(str(entry.path), entry.version())
    except CheckpointError as e:
        sb.error(f"{entry.label} cannot be opened: {e}")
        return None
    T = model.cfg.unroll
    max_unroll = max(3 * T, 3)
    key = f"unroll-{entry.key}"
    unroll = sb.slider("Unroll steps T", 1, max_unroll, min(_kept(key, T), max_unroll), key=key,
                       help=f"Trained with T = {T}; going past it shows what the dynamics do beyond training.",
                       on_change=_keep, args=(key,))
    if unroll > T:
        sb.caption(f"Beyond the trained T = {T}.")
    return Selection(entry, model, unroll, max_unroll)
