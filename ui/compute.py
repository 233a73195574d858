"""The one compute path of the pages: cached functions over models/, each returning a dataclass.

Cached by (model file, its mtime, the data it was trained on, settings), so a rerun or a slider move only indexes arrays. Nothing here
draws; pages render what these return.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, fields

import numpy as np
import streamlit as st
import torch

from models.analysis.activity import UnitAnalysis, analyse, step_decoders
from models.analysis.codes import sample_limit
from models.analysis.compare import Training, compare_model, training_numbers
from models.analysis.composition import Composition, composition
from models.analysis.gabor import fit_filters
from models.analysis.recovery import Recovery, RecoveryOverTraining, over_training, recovery
from models.analysis.intervene import (
    CellUnits, Intervention, SetAblations, UnitAblations, cell_units, intervened_trace, set_ablations, unit_ablations,
    unit_runs,
)
from models.analysis.prototypes import KindMeaning, kind_meaning
from models.analysis.matching import Matching, match_units
from models.analysis.representation import Representation, probe_errors, representation
from models.analysis.staging import Staging, run_staging
from models.analysis.unit_index import Band, UnitIndex, nearest_units, quantile_bands, unit_index
from models.analysis.steps import Codes, Converged, StepStats, Trace, codes, converged, step_stats, trace
from models.analysis.units import UnitTable, unit_table
from models.checkpoint import CheckpointError, load_model
from models.data import DataError
from models.data import Split
from models.domains import SHOWN_SAMPLES, Domain, Layout, Shown, Truth, spec_of
from models.families import Family, capabilities, get, of_model, of_saved
from models.families.base import UnitWeights
from models.services import catalog, jobs
from models.training import run_folder, snapshots
from models.training.config import TrainConfig
from ui import background


@dataclass
class TestSamples:
    """The test samples a model's pages show: its data's (models/domains), as its family reads them."""
    split: Split  # inputs as the family reads them, labels where the data has them
    name: str  # what captions call them: "1,000 embedded test samples"
    fingerprint: str  # of the test set they are (or were drawn from): models/data.py
    domain: Domain
    layout: Layout
    class_means: np.ndarray | None  # (classes, d) mean input of each class (None: no labels)
    truth: Truth | None  # the generating dictionary, where the data has one
    inputs: object  # raw samples -> what the family reads (a drawn or uploaded sample goes through it too)
    warning: str = ""  # why the configured data could not be used

    @property
    def noun(self) -> str:
        return self.domain.noun

    @property
    def nouns(self) -> str:
        return self.domain.nouns

    @property
    def shape(self) -> tuple[int, int] | None:
        """How one sample is shown: an image of this shape, or None for a vector (a bar strip)."""
        return self.layout.image

    @property
    def classes(self) -> tuple[str, ...]:
        return self.layout.classes or ()


@st.cache_resource(max_entries=8, show_spinner="Loading the test samples…")
def shown_for(data: str) -> Shown:
    """`data`: a models.domains.DataSpec's key. What its domain shows: its test split (digits: $SPARSELAB_DATA's,
    else the embedded sample)."""
    spec = spec_of({"domain": json.loads(data)})
    return spec.domain.test_samples(spec.cfg)


@st.cache_resource(max_entries=8, show_spinner=False)
def samples_for(data: str, family_name: str, limit: int = SHOWN_SAMPLES) -> TestSamples:
    """The data's test samples as the family reads them (its input transform of the raw samples), the first `limit`
    of them."""
    spec = spec_of({"domain": json.loads(data)})
    shown = shown_for(data)
    inputs = spec.inputs(get(family_name))
    arrays = shown.arrays.head(limit)
    name = shown.name if len(arrays) == len(shown.arrays) else f"first {len(arrays):,} of the {shown.name}"
    split = arrays.split(inputs)
    means = None
    if split.y is not None:
        y = split.y.numpy()
        means = np.stack([split.x[split.y == c].mean(0).numpy() if (y == c).any() else np.zeros(split.x.shape[1])
                          for c in range(spec.layout().n_classes)])
    return TestSamples(split, name, shown.fingerprint, spec.domain, spec.layout(), means, shown.truth,
                       inputs, shown.warning)


def samples_of(path: str, version: float, data: str) -> TestSamples:
    """The test samples a model's pages measure on (fewer for a wide dictionary: sample_limit)."""
    model = model_for(path, version)
    return samples_for(data, of_model(model).name, sample_limit(model.cfg.hidden, SHOWN_SAMPLES))


@dataclass
class LoadedModel:
    model: object
    restored_from: str | None  # the previous checkpoint, where the latest one is damaged


@st.cache_resource(max_entries=12, show_spinner="Loading the model…")
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
    stats: StepStats  # per-step numbers over the test samples
    kinds: np.ndarray | None = None  # each unit's kind, where kinds mean something (Capabilities.kinds)
    converged: Converged | None = None  # its dictionary's converged codes, where it has them


@st.cache_resource(max_entries=24, show_spinner="Running the model over the test samples…")
def view_for(path: str, version: float, data: str, max_steps: int) -> ModelView:
    model = model_for(path, version)
    family = of_model(model)
    caps = capabilities(model)
    weights = None
    if caps.filters:  # float32 for display: half the JSON of float64, and the precision a figure shows
        w = model.unit_weights()
        weights = UnitWeights(*(None if a is None else a.astype(np.float32)  # (astuple would deep-copy them first)
                                for a in (getattr(w, f.name) for f in fields(w))))
    # a model without steps: its one step measured in the pass that keeps its codes (one encoding, not two)
    stats = (step_stats(model, samples_of(path, version, data).split, max_steps) if caps.steps else
             codes_for(path, version, data, 1).stats)
    units = unit_table(model, w) if caps.filters else None
    best = converged(model, samples_of(path, version, data).split) if caps.converged else None
    return ModelView(family, model.cfg.hidden, weights, units, stats, units.kind if caps.kinds else None, best)


_SUMMARIES: OrderedDict = OrderedDict()  # (path, version, data, steps) -> (l0, error, recon) or the reason it failed
SUMMARIES_KEPT = 1024


def summaries_for(entries: list) -> tuple[dict, dict, background.Task | None]:
    """For the Sweep: each catalog entry's (active units, test error %, reconstruction) at its trained T, and why an
    entry could not be measured; the entries not measured yet are measured by one task on the worker (loading and
    encoding a model of each: seconds for wide ones), returned while it runs."""
    from models.services.sweep import measure

    keys = {e.key: (str(e.path), e.version(), e.data.key, e.unroll) for e in entries}
    missing = [(e, keys[e.key]) for e in entries if keys[e.key] not in _SUMMARIES]
    numbers = {k: _SUMMARIES[v] for k, v in keys.items() if isinstance(_SUMMARIES.get(v), tuple)}
    failed = {k: _SUMMARIES[v] for k, v in keys.items() if isinstance(_SUMMARIES.get(v), str)}
    if not missing:
        return numbers, failed, None

    def work(report):
        for i, (e, key) in enumerate(missing):
            try:
                _SUMMARIES[key] = measure(e.path, e.data, e.unroll)
            except (DataError, CheckpointError, ValueError) as err:  # its data file gone, its checkpoint damaged
                _SUMMARIES[key] = str(err)
            while len(_SUMMARIES) > SUMMARIES_KEPT:
                _SUMMARIES.popitem(last=False)
            report((i + 1) / len(missing))
    task = background.start(("summaries", *(key for _, key in missing)),
                            f"Measuring {len(missing)} model{'s' if len(missing) > 1 else ''} on their test samples",
                            work)
    return numbers, failed, task


@st.cache_resource(max_entries=8, show_spinner="Measuring the codes at every step (sparsity, information)…")
def representation_for(path: str, version: float, data: str, steps: int) -> Representation:
    return representation(model_for(path, version), samples_of(path, version, data).split, steps)


def probe_errors_task(path: str, version: float, data: str, steps: int) -> background.Task:
    """The linear probe's error at each step (a logistic regression a step: seconds), on the worker."""
    model, split = model_for(path, version), samples_of(path, version, data).split
    return background.start(("probe", path, version, data, steps), "Fitting a linear probe at each step",
                            lambda report: probe_errors(model, split, steps, progress=report))


@st.cache_resource(max_entries=64, show_spinner=False)
def trace_for(path: str, version: float, steps: int, x: bytes) -> Trace:
    """One input (float32 bytes of the family's inputs) through `steps` steps."""
    model = model_for(path, version)
    return trace(model, torch.from_numpy(np.frombuffer(x, dtype=np.float32).copy()), steps)


def codes_for(path: str, version: float, data: str, steps: int) -> Codes:
    """The test samples' codes after `steps` steps (sparse), kept once per model and step count (a model without
    steps has one)."""
    return _codes_for(path, version, data, steps if capabilities(model_for(path, version)).steps else 1)


@st.cache_resource(max_entries=8, show_spinner="Encoding the test samples…")
def _codes_for(path: str, version: float, data: str, steps: int) -> Codes:
    return codes(model_for(path, version), samples_of(path, version, data).split, steps)


@st.cache_resource(max_entries=8, show_spinner=False)
def unit_index_for(path: str, version: float, data: str, steps: int) -> UnitIndex:
    split = samples_of(path, version, data).split
    return unit_index(codes_for(path, version, data, steps).z, None if split.y is None else split.y.numpy())


@dataclass(frozen=True)
class UnitDetail:
    """What the Unit browser shows of one unit beyond its row: samples across its range, its nearest units."""
    bands: list[Band]  # top band first
    nearest: np.ndarray  # units whose decoders point most alike, closest first
    cosine: np.ndarray  # their decoder cosines


def unit_notes(entry: catalog.Entry) -> dict[int, str] | None:
    """The notes kept on a run's units (unit -> text); None for an embedded model (it keeps none). Read on every
    rerun: a few KB, and another tab's new note shows at once."""
    return None if entry.state == "embedded" else run_folder.read_unit_notes(entry.folder)


@st.cache_resource(max_entries=64, show_spinner=False)
def unit_detail_for(path: str, version: float, data: str, steps: int, max_steps: int, unit: int) -> UnitDetail:
    weights = view_for(path, version, data, max_steps).weights  # the view's float32 copy, made once a model
    near, cos = nearest_units(weights.decoder, unit) if weights is not None else (np.array([], int), np.array([]))
    return UnitDetail(quantile_bands(codes_for(path, version, data, steps).z, unit), near, cos)


@st.cache_resource(max_entries=96, show_spinner=False)
def figure(builder: str, *args, **kwargs):
    """figures.<builder>(*args, **kwargs), built once for the same inputs: figures that a slider does not change
    (a model's filters, its units' scatter plots) cost a hash of their inputs on a rerun, not a new build. The
    figure is shared between sessions, which is safe: st.plotly_chart only reads it."""
    from ui import figures

    return getattr(figures, builder)(*args, **kwargs)


@st.cache_resource(max_entries=8, show_spinner="Analysing the units over the test samples…")
def analysis_for(path: str, version: float, data: str) -> UnitAnalysis:
    return analyse(model_for(path, version), samples_of(path, version, data).split)


def step_decoders_task(path: str, version: float, data: str) -> background.Task:
    """Each step's least-squares decoder over the test samples (seconds: on the worker)."""
    model, split = model_for(path, version), samples_of(path, version, data).split
    return background.start(("step decoders", path, version, data), "Solving each step's least-squares decoder",
                            lambda report: step_decoders(model, split, progress=report))


def report_task(path: str, version: float, data: str, label: str) -> background.Task:
    """The paper's claims checked on the test samples (models/analysis/report.py: seconds), on the worker."""
    from models.analysis import report

    model, samples = model_for(path, version), samples_of(path, version, data)
    return background.start(("report", path, version, data), "Checking the paper's claims on the test samples",
                            lambda progress: report.render(label, model, samples.split, samples.name, samples.shape,
                                                           progress=progress))


def through_host_task(path: str, version: float, data: str) -> background.Task:
    """The model measured through the host its activations came from (loss recovered), on the worker."""
    from models.analysis.through_host import through_host

    model, spec = model_for(path, version), spec_of({"domain": json.loads(data)})
    return background.start(("through-host", path, version, data), "Running the host with its layer reconstructed",
                            lambda progress: through_host(model, spec, of_model(model)))


def dictionaries_of(host: dict) -> list[catalog.Entry]:
    """Every model here (with a decoder) trained on activations of this host's layer (the same host, weights and
    layer, whichever harvest)."""
    keys = ("host", "weights", "layer", "data")
    out = []
    for e in catalog.entries():
        try:
            h = e.data.host()
            if h is not None and all(h.get(k) == host.get(k) for k in keys) and \
                    get(e.architecture).capabilities.decoder:
                out.append(e)
        except (ValueError, OSError):  # a run whose data is gone: not on the frontier
            continue
    return out


def unit_effect_task(path: str, version: float, data: str, unit: int) -> background.Task:
    """One unit's effect on the host's outputs (its decoder direction added to the layer), on the worker."""
    from models.analysis.through_host import unit_effect

    model, spec = model_for(path, version), spec_of({"domain": json.loads(data)})
    return background.start(("unit-effect", path, version, data, unit), "Running the host with the unit added",
                            lambda progress: unit_effect(model, spec, unit, of_model(model)))


COMPARE_SAMPLES = 500  # test samples the Compare page measures each model on (the CLI: all of them)
COMPARE_REFERENCE = 200  # of those, the samples ISTA's objective curve runs on (1,000 iterations)


def comparison_task(path: str, version: float, data: str) -> background.Task:
    """One model's measurements for the Compare table (objective, ISTA iterations, noise, attack), on the worker."""
    model, split = model_for(path, version), samples_of(path, version, data).split.head(COMPARE_SAMPLES)
    return background.start(("comparison", path, version, data), "Measuring each model (objective, ISTA "
                            "iterations, noise, attack)",
                            lambda report: compare_model(model, split.x, split.y, reference_digits=COMPARE_REFERENCE))


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
def composition_for(path: str, version: float, data: str) -> Composition:
    model = model_for(path, version)
    return composition(model.unit_weights(), unit_table(model).kind, samples_of(path, version, data).shape)


GABOR_BATCH = 32  # decoders fitted per solve on the worker: the bar moves every few hundred ms


def gabor_task(path: str, version: float, data: str) -> background.Task:
    """A 2-D Gabor fitted to each unit's decoder column (a model trained on images), on the worker."""
    decoder, shape = model_for(path, version).unit_weights().decoder, samples_of(path, version, data).shape
    return background.start(("gabor", path, version, data), "Fitting a Gabor to every decoder",
                            lambda report: fit_filters(decoder, shape, batch=GABOR_BATCH, progress=report))


@dataclass
class RecoveryView:
    """How a model trained on data with a known dictionary recovered it, now and over training."""
    now: Recovery
    training: RecoveryOverTraining | None  # None: the run kept no filter snapshots (or they cannot be read)
    truth: Truth
    note: str = ""  # why there is no `training`


@st.cache_resource(max_entries=8, show_spinner="Matching the true atoms to the decoders…")
def recovery_for(path: str, version: float, data: str) -> RecoveryView:
    truth = samples_of(path, version, data).truth
    now = recovery(truth.dictionary, model_for(path, version).unit_weights().decoder, truth.parents)
    try:
        strip = snapshots.read(path)
    except snapshots.SnapshotError as e:
        return RecoveryView(now, None, truth, f"The filter snapshots cannot be read: {e}.")
    if strip is None:
        return RecoveryView(now, None, truth, "This model's run kept no filter snapshots.")
    return RecoveryView(now, over_training(truth.dictionary, strip.epochs, strip.decoder), truth)


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


@st.cache_resource(max_entries=16, show_spinner=False)
def filmstrip_panels_for(path: str, version: float, units: tuple[int, ...], cols: int, shape, whens: tuple[str, ...]):
    """The filmstrip's frames for these units (ui/stepper panels: an encoder and a decoder picture per snapshot),
    their PNGs built once, not on every rerun."""
    from ui import figures, stepper

    strip = filmstrip_for(path, version).strip
    pos = np.searchsorted(strip.units, np.array(units, dtype=int))
    return [stepper.images(part, [[figures.grid_picture(figures.tiles(W[f][pos], shape=shape, zoom=1), cols)]
                                  for f in range(len(strip.epochs))], [[""] for _ in whens], col=k, scale=2,
                           titles=[f"{title} {w}" for w in whens])
            for k, (part, W, title) in enumerate((("encoders", strip.encoder, "Encoder rows"),
                                                  ("decoders", strip.decoder, "Decoder columns")))]


@st.cache_resource(max_entries=32, show_spinner=False)
def trace_panels_for(path: str, version: float, data: str, max_steps: int, steps: int, x: bytes, classes, shape,
                     noun: str, col: int, heading: str, side_by_side: bool):
    """One sample's Dynamics frames (ui/step_views), their pictures built once per model, T and sample."""
    from ui import step_views

    tr = trace_for(path, version, steps, x)
    view = view_for(path, version, data, max_steps)
    return step_views.trace_panels(tr, view.kinds, None if classes is None else list(classes), shape, noun, col=col,
                                   heading=heading, side_by_side=side_by_side, angle=None if view.units is None else
                                   view.units.angle)


MEANING_SAMPLES = 2000  # test samples each model's kinds are judged on


@st.cache_resource(max_entries=16, show_spinner="Measuring what each model's units answer…")
def meaning_for(path: str, version: float, data: str) -> KindMeaning:
    model = model_for(path, version)
    split = samples_of(path, version, data).split.head(MEANING_SAMPLES)
    z = codes(model, split, model.trained_unroll).z
    return kind_meaning(unit_table(model).kind, z, split.y.numpy(), model.unit_weights().classifier,
                        getattr(model.cfg, "sparsity", None))


@st.cache_resource(max_entries=32, show_spinner="Ablating the units on the test samples…")
def set_ablations_for(path: str, version: float, data: str, steps: int, sets: tuple) -> SetAblations:
    """`sets`: (name, units) pairs (intervene.kind_sets for the kinds), each ablated on its own."""
    model = model_for(path, version)
    codes = None if capabilities(model).steps else codes_for(path, version, data, 1).z  # kept: not encoded again
    return set_ablations(model, samples_of(path, version, data).split, steps, sets, codes=codes)


@st.cache_resource(max_entries=16, show_spinner=False)
def unit_runs_for(path: str, version: float, data: str, steps: int) -> int:
    if not capabilities(model_for(path, version)).steps:  # the entries of its one code, already kept
        return int(codes_for(path, version, data, 1).z.fires().sum())
    return unit_runs(model_for(path, version), samples_of(path, version, data).split, steps)


def unit_ablations_task(path: str, version: float, data: str, steps: int) -> background.Task:
    """Every unit alone ablated on the test samples where it fires (seconds to minutes: on the worker, with its
    share done)."""
    model, split = model_for(path, version), samples_of(path, version, data).split
    return background.start(("unit ablations", path, version, data, steps), "Ablating every unit alone on the test "
                            "samples", lambda report: unit_ablations(model, split, steps, progress=report))


@st.cache_resource(max_entries=64, show_spinner="Ablating each unit on these samples…")
def cell_units_for(path: str, version: float, data: str, steps: int, idx: tuple[int, ...]) -> CellUnits:
    return cell_units(model_for(path, version), samples_of(path, version, data).split, np.array(idx, dtype=np.int64), steps)


@st.cache_resource(max_entries=64, show_spinner=False)
def intervened_trace_for(path: str, version: float, steps: int, x: bytes, iv: Intervention) -> Trace:
    model = model_for(path, version)
    return intervened_trace(model, torch.from_numpy(np.frombuffer(x, dtype=np.float32).copy()), steps, iv)


# -- a generative hierarchy (the `layers` capability: the model's own likelihood, hierarchy, samples...) ----------

LIKELIHOOD_SAMPLES = 2000  # test samples the app measures a bound on (the CLI: all of them)
APP_IWAE_K, APP_IWAE_SAMPLES = 100, 200  # the app's importance-weighted bound (the CLI: k = 1,000 on 1,000)


def likelihood_task(path: str, version: float, data: str) -> background.Task:
    """A model with a likelihood: its bound on the test samples (ELBO, an importance-weighted estimate, each
    layer), on the worker."""
    model, split = model_for(path, version), samples_of(path, version, data).split.head(LIKELIHOOD_SAMPLES)
    return background.start(("likelihood", path, version, data), "Measuring the bound on the test samples (ELBO, "
                            "an importance-weighted estimate, each layer)",
                            lambda report: model.likelihood(split, APP_IWAE_K, APP_IWAE_SAMPLES))


@st.cache_resource(max_entries=8, show_spinner="Carrying every unit down to the pixels…")
def hierarchy_for(path: str, version: float, data: str):
    return model_for(path, version).hierarchy(samples_of(path, version, data).split.x)


def _vector(x: bytes | None) -> torch.Tensor | None:
    return None if x is None else torch.from_numpy(np.frombuffer(x, dtype=np.float32).copy())


DRAWS = 24  # samples a depth shows


@st.cache_resource(max_entries=32, show_spinner=False)
def draws_for(path: str, version: float, x: bytes | None, seed: int):
    """For one input (float32 bytes of the family's inputs; None: fresh samples), every depth at once."""
    return model_for(path, version).samples(_vector(x), DRAWS, seed)


@st.cache_resource(max_entries=64, show_spinner=False)
def traversal_for(path: str, version: float, x: bytes | None, unit: int, values: tuple[float, ...]) -> np.ndarray:
    return model_for(path, version).traversal(_vector(x), unit, np.array(values))


@st.cache_resource(max_entries=64, show_spinner=False)
def layer_code_for(path: str, version: float, x: bytes):
    return model_for(path, version).layer_code(_vector(x))


@dataclass
class BenchmarkView:
    """A benchmark folder as its page shows it (models/services/benchmark.py)."""
    saved: object  # benchmark.Saved: the result dict and the decoders
    rows: list[dict]  # a row per family × sparsity, seeds averaged
    claims: list[dict]  # the published claims it can check
    shape: tuple[int, int] | None  # the decoders' thumbnails' shape (None: bar strips)
    frontier: dict  # metric -> its frontier figure


@st.cache_resource(max_entries=4, show_spinner="Reading the benchmark…")
def benchmark_for(folder: str, version: float) -> BenchmarkView:
    from models.services import benchmark
    from models.services.figures import frontier

    saved = benchmark.read(folder)
    image = saved.result.get("image")
    figs = {y: frontier(saved.result, y) for y in ("fvu", "recon")}
    return BenchmarkView(saved, saved.rows, benchmark.claims(saved.result), tuple(image) if image else None, figs)


@dataclass
class RunRow:
    """One run (or embedded model) as the Runs page lists it."""
    key: str  # its catalog key where it can be opened ("run:NAME", "default:NAME"), else "run:NAME"
    values: dict  # column -> value: name, source, family, data, state, epochs, settings, final numbers
    curves: dict  # metrics key -> (epochs, values) of every number it recorded each epoch
    data: str  # its data's key (what Compare groups by)


SHOWN_NUMBERS = ("val_error", "val_recon", "val_unsup", "val_active", "val_dead", "val_elbo", "elapsed")


def _run_row(key: str, name: str, source: str, cfg: dict, state: str, rows: list[dict],
             about: dict | None = None) -> RunRow | None:
    try:
        family, data = of_saved(cfg), spec_of(cfg)
        model = family.config.from_dict(cfg["model"]).to_dict()
        train = TrainConfig.from_dict(cfg["train"]).to_dict()
    except (ValueError, TypeError, KeyError):  # damaged, or a family this version does not know
        return None
    last = rows[-1] if rows else {}
    about = about or {}
    values = {"run": name, "name": about.get("name", ""), "note": about.get("note", ""), "source": source,
              "family": family.short, "data": data.describe(), "state": state,
              "epochs": (last.get("epoch", -1) + 1) if rows else 0}
    values |= {f"model.{k}": v for k, v in model.items() if not isinstance(v, (list, dict))}
    values |= {f"train.{k}": v for k, v in train.items() if not isinstance(v, (list, dict))}
    values |= {k: last.get(k) for k in SHOWN_NUMBERS if last.get(k) is not None}
    curves = {}
    for k in {k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}:
        pts = [(r["epoch"] + 1, r[k]) for r in rows if isinstance(r.get(k), (int, float))]
        curves[k] = ([p[0] for p in pts], [p[1] for p in pts])
    return RunRow(key, values, curves, data.key)


@st.cache_resource(max_entries=4, show_spinner="Reading the runs…")
def runs_for(stamp: tuple) -> list[RunRow]:
    """Every run of the registry and every embedded model, with its settings and its numbers. `stamp`: the runs'
    names and the times their metrics changed (the cache key)."""
    out = []
    for e in (e for e in catalog.entries() if e.state == "embedded"):
        r = _run_row(e.key, e.folder.name, "embedded", run_folder.read_config(e.folder) or {}, "embedded",
                     run_folder.read_metrics(e.folder))
        out.append(r) if r else None
    for j in jobs.list_jobs():
        if j.config is None:
            continue
        r = _run_row(f"run:{j.name}", j.name, "run", j.config, j.state, run_folder.read_metrics(j.run),
                     run_folder.read_about(j.run))
        out.append(r) if r else None
    return out


def runs_stamp() -> tuple:
    """What changes when any run's metrics or state change: the Runs page's cache key."""
    stamp = []
    for r in run_folder.list_runs(jobs.RUNS_ROOT):
        for name in (run_folder.METRICS, run_folder.STATUS, run_folder.ABOUT):
            try:
                stamp.append((r.name, name, (r / name).stat().st_mtime))
            except OSError:
                pass
    return tuple(stamp)
