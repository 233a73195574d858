"""The one compute path of the pages: cached functions over models/, each returning a dataclass.

Cached by (model file, its mtime, settings), so a rerun or a slider move only indexes arrays. Nothing here
draws; pages render what these return.
"""
from __future__ import annotations

import os
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from models.analysis.activity import UnitAnalysis, analyse
from models.analysis.compare import Comparison, Training, compare_model, training_numbers
from models.analysis.composition import Composition, composition
from models.analysis.hierarchy import Hierarchy, LayerCode, Samples, hierarchy, layer_code, samples, traversal
from models.analysis.intervene import (
    CellUnits, Intervention, SetAblations, UnitAblations, cell_units, intervened_trace, set_ablations, unit_ablations,
    unit_runs,
)
from models.analysis.likelihood import Likelihood, likelihood
from models.analysis.prototypes import KindMeaning, kind_meaning
from models.analysis.matching import Matching, match_units
from models.analysis.representation import Representation, representation
from models.analysis.staging import Staging, run_staging
from models.analysis.steps import Codes, StepStats, Trace, codes, step_stats, trace
from models.analysis.units import UnitTable, unit_table
from models.assets import DIGITS_FROM, sample_images
from models.checkpoint import load_model
from models.data import DataError, Split, load_test, normalize
from models.families import Family, get, of_model
from models.families.base import UnitWeights
from models.training import run_folder, snapshots


@dataclass
class TestDigits:
    split: Split  # normalised inputs and labels
    images: np.ndarray  # (n, 28, 28) uint8, as the dataset holds them
    name: str  # what captions call them
    class_means: np.ndarray  # (10, 784) mean normalised digit of each class
    fingerprint: str  # of the test set they are (or were drawn from): models/data.py
    warning: str = ""  # why the configured dataset could not be used


@st.cache_resource(show_spinner="Loading test digits…")
def test_digits() -> TestDigits:
    """The configured dataset's test set ($SPARSELAB_DATA), else the embedded sample."""
    warning = ""
    if os.environ.get("SPARSELAB_DATA"):
        try:
            test = load_test(download=False)
            return _digits(test.images, test.labels, f"{len(test.labels):,} test digits of {Path(test.source).name}",
                           test.fingerprint)
        except DataError as e:
            warning = f"{e} Using the embedded sample of 1,000 test digits instead."
    images, labels = sample_images()
    return _digits(images, labels, f"{len(labels):,} embedded test digits", DIGITS_FROM, warning)


def _digits(images, labels, name, source_fingerprint, warning="") -> TestDigits:
    split = Split(normalize(images), torch.from_numpy(labels.astype(np.int64)))
    means = np.stack([split.x[split.y == c].mean(0).numpy() if (split.y == c).any() else np.zeros(784)
                      for c in range(10)])
    return TestDigits(split, images, name, means, source_fingerprint, warning)


@dataclass
class LoadedModel:
    model: object
    restored_from: str | None  # the previous checkpoint, where the latest one is damaged


@st.cache_resource(max_entries=12, show_spinner=False)
def loaded(path: str, version: float) -> LoadedModel:
    model, meta = load_model(path)
    return LoadedModel(model, meta.get("restored_from"))


def model_for(path: str, version: float):
    return loaded(path, version).model


@dataclass
class ModelView:
    """Everything about one model that the pages index into, for steps 1..max_steps."""
    family: Family
    hidden: int
    weights: UnitWeights | None  # per-unit filters (a model with the `filters` capability)
    units: UnitTable | None  # angles and kinds (likewise)
    stats: StepStats  # per-step numbers over the test digits


@st.cache_resource(max_entries=24, show_spinner="Running the model over the test digits…")
def view_for(path: str, version: float, max_steps: int) -> ModelView:
    model = model_for(path, version)
    family = of_model(model)
    caps = family.capabilities
    weights = None
    if caps.filters:  # float32 for display: half the JSON of float64, and the precision a figure shows
        w = model.unit_weights()
        weights = UnitWeights(*(None if a is None else a.astype(np.float32) for a in astuple(w)))
    return ModelView(family, model.cfg.hidden, weights, unit_table(model) if caps.filters else None,
                     step_stats(model, test_digits().split, max_steps))


@st.cache_resource(max_entries=256, show_spinner="Measuring the runs on the test digits…")
def summary_for(path: str, version: float, steps: int) -> tuple[float, float | None, float | None]:
    """(active units, test error %, reconstruction) at `steps` steps, for the sweep's trade-off."""
    stats = step_stats(model_for(path, version), test_digits().split, steps)
    last = lambda a: None if a is None else float(a[-1])  # noqa: E731
    return float(stats.active[-1]), last(stats.error), last(stats.recon)


@st.cache_resource(max_entries=8, show_spinner="Measuring the codes at every step (sparsity, information, probes)…")
def representation_for(path: str, version: float, steps: int) -> Representation:
    return representation(model_for(path, version), test_digits().split, steps)


@st.cache_resource(max_entries=64, show_spinner=False)
def trace_for(path: str, version: float, steps: int, x: bytes) -> Trace:
    """One input (float32 bytes of its normalised pixels) through `steps` steps."""
    model = model_for(path, version)
    return trace(model, torch.from_numpy(np.frombuffer(x, dtype=np.float32).copy()), steps)


@st.cache_resource(max_entries=8, show_spinner="Encoding the test digits…")
def codes_for(path: str, version: float, steps: int) -> Codes:
    return codes(model_for(path, version), test_digits().split, steps)


@st.cache_resource(max_entries=96, show_spinner=False)
def figure(builder: str, *args, **kwargs):
    """figures.<builder>(*args, **kwargs), built once for the same inputs: figures that a slider does not change
    (a model's filters, its units' scatter plots) cost a hash of their inputs on a rerun, not a new build. The
    figure is shared between sessions, which is safe: st.plotly_chart only reads it."""
    from ui import figures

    return getattr(figures, builder)(*args, **kwargs)


@st.cache_resource(max_entries=8, show_spinner="Analysing the units over the test digits…")
def analysis_for(path: str, version: float) -> UnitAnalysis:
    return analyse(model_for(path, version), test_digits().split)


COMPARE_DIGITS = 500  # test digits the Compare page measures each model on (the CLI: all of them)
COMPARE_REFERENCE = 200  # of those, the digits ISTA's objective curve runs on (1,000 iterations)


@st.cache_resource(max_entries=16, show_spinner="Measuring the model (objective, ISTA iterations, noise, "
                   "attack)…")
def comparison_for(path: str, version: float) -> Comparison:
    split = test_digits().split.head(COMPARE_DIGITS)
    return compare_model(model_for(path, version), split.x, split.y, reference_digits=COMPARE_REFERENCE)


@st.cache_resource(max_entries=32, show_spinner=False)
def training_for(path: str, version: float) -> Training:
    """The run's per-epoch metrics beside the model (none for a model file without them)."""
    return training_numbers(run_folder.read_metrics(run_folder.folder_of(path)))


@dataclass
class MatchedUnits:
    matching: Matching
    decoder_a: np.ndarray  # (units, n_input) float32, for display
    decoder_b: np.ndarray


@st.cache_resource(max_entries=16, show_spinner=False)
def matching_for(path_a: str, version_a: float, path_b: str, version_b: float) -> MatchedUnits:
    da = model_for(path_a, version_a).unit_weights().decoder
    db = model_for(path_b, version_b).unit_weights().decoder
    return MatchedUnits(match_units(da, db), da.astype(np.float32), db.astype(np.float32))


@st.cache_resource(max_entries=16, show_spinner=False)
def composition_for(path: str, version: float) -> Composition:
    model = model_for(path, version)
    return composition(model.unit_weights(), unit_table(model).kind)


@st.cache_resource(max_entries=16, show_spinner=False)
def staging_for(path: str, version: float) -> Staging | None:
    """When each unit took its kind, from the run's per-epoch angles (None: a run trained before they were kept)."""
    return run_staging(path)


@dataclass
class FilmstripView:
    strip: snapshots.Filmstrip | None  # None: the run kept no snapshots (or they cannot be read: `error`)
    error: str = ""


@st.cache_resource(max_entries=8, show_spinner=False)
def filmstrip_for(path: str, version: float) -> FilmstripView:
    try:
        return FilmstripView(snapshots.read(path))
    except snapshots.SnapshotError as e:
        return FilmstripView(None, f"The filter snapshots cannot be shown: {e}.")


MEANING_DIGITS = 2000  # test digits each model's kinds are judged on


@st.cache_resource(max_entries=16, show_spinner="Measuring what each model's units answer…")
def meaning_for(path: str, version: float) -> KindMeaning:
    model = model_for(path, version)
    split = test_digits().split.head(MEANING_DIGITS)
    z = codes(model, split, model.trained_unroll).z
    return kind_meaning(unit_table(model).kind, z, split.y.numpy(), model.unit_weights().classifier,
                        getattr(model.cfg, "sparsity", None))


@st.cache_resource(max_entries=32, show_spinner="Ablating the units on the test digits…")
def set_ablations_for(path: str, version: float, steps: int, sets: tuple) -> SetAblations:
    """`sets`: (name, units) pairs (intervene.kind_sets for the kinds), each ablated on its own."""
    return set_ablations(model_for(path, version), test_digits().split, steps, sets)


@st.cache_resource(max_entries=16, show_spinner=False)
def unit_runs_for(path: str, version: float, steps: int) -> int:
    return unit_runs(model_for(path, version), test_digits().split, steps)


@st.cache_resource(max_entries=8, show_spinner="Ablating every unit alone on the test digits…")
def unit_ablations_for(path: str, version: float, steps: int) -> UnitAblations:
    return unit_ablations(model_for(path, version), test_digits().split, steps)


@st.cache_resource(max_entries=64, show_spinner="Ablating each unit on these digits…")
def cell_units_for(path: str, version: float, steps: int, idx: tuple[int, ...]) -> CellUnits:
    return cell_units(model_for(path, version), test_digits().split, np.array(idx, dtype=np.int64), steps)


@st.cache_resource(max_entries=64, show_spinner=False)
def intervened_trace_for(path: str, version: float, steps: int, x: bytes, iv: Intervention) -> Trace:
    model = model_for(path, version)
    return intervened_trace(model, torch.from_numpy(np.frombuffer(x, dtype=np.float32).copy()), steps, iv)


# -- a generative hierarchy (the `layers` capability) ----------------------------------------------------------

LIKELIHOOD_DIGITS = 2000  # test digits the app measures a bound on (the CLI: all of them)
APP_IWAE_K, APP_IWAE_DIGITS = 100, 200  # the app's importance-weighted bound (the CLI: k = 1,000 on 1,000)


@st.cache_resource(max_entries=4, show_spinner=False)
def inputs_for(family_name: str) -> Split:
    """The test digits as this family reads them (its input transform of the dataset's images)."""
    digits = test_digits()
    return Split(get(family_name).inputs(digits.images), digits.split.y)


def _inputs(model) -> Split:
    return inputs_for(of_model(model).name)


@st.cache_resource(max_entries=8, show_spinner="Measuring the bound on the test digits (ELBO, an importance-weighted "
                   "estimate, each layer)…")
def likelihood_for(path: str, version: float) -> Likelihood:
    model = model_for(path, version)
    return likelihood(model, _inputs(model).head(LIKELIHOOD_DIGITS), APP_IWAE_K, APP_IWAE_DIGITS)


@st.cache_resource(max_entries=8, show_spinner="Carrying every unit down to the pixels…")
def hierarchy_for(path: str, version: float) -> Hierarchy:
    model = model_for(path, version)
    return hierarchy(model, _inputs(model).x)


def _vector(x: bytes | None) -> torch.Tensor | None:
    return None if x is None else torch.from_numpy(np.frombuffer(x, dtype=np.float32).copy())


SAMPLES = 24  # samples a depth shows


@st.cache_resource(max_entries=32, show_spinner=False)
def samples_for(path: str, version: float, x: bytes | None, seed: int) -> Samples:
    """For one input (float32 bytes of the family's inputs; None: fresh samples), every depth at once."""
    return samples(model_for(path, version), _vector(x), SAMPLES, seed)


@st.cache_resource(max_entries=64, show_spinner=False)
def traversal_for(path: str, version: float, x: bytes | None, unit: int, values: tuple[float, ...]) -> np.ndarray:
    return traversal(model_for(path, version), _vector(x), unit, np.array(values))


@st.cache_resource(max_entries=64, show_spinner=False)
def layer_code_for(path: str, version: float, x: bytes) -> LayerCode:
    return layer_code(model_for(path, version), _vector(x))
