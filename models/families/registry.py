"""The model-family registry: what a family declares, and finding it again from a saved file.

A family is one module that builds a `Family` and registers it: a name (the `architecture` key of saved
configs and checkpoints), a config class of settings (models/settings.py), how to build and initialise the
model, and its capabilities, which are all the pages and analyses ever ask about.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from models.registry import Registry

DEFAULT = "drsae"  # saved files without an `architecture` key were all written before families: DrSAEs

NEEDS = {  # a capability, as a page says what it needs
    "steps": "recurrent steps z_1..z_T",
    "decoder": "a decoder",
    "classifier": "a classifier",
    "likelihood": "a likelihood bound",
    "filters": "per-unit encoder and decoder filters",
    "layers": "a hierarchy of stochastic layers",
    "labels": "labelled data",
    "image": "samples that are images",
    "ground_truth": "data with a known generating dictionary",
    "converged": "a dictionary's converged sparse codes",
    "kinds": "units of two kinds (categorical and part, by the angle between a unit's encoder and decoder): an "
             "encoder learned apart from the decoder, and a recurrence",
}


@dataclass(frozen=True)
class Capabilities:
    steps: bool = False  # a recurrence z_1..z_T that runs for any T (without it, a model has one step)
    decoder: bool = False  # decode(z) reconstructs the input
    classifier: bool = False  # classify(z) gives class logits
    likelihood: bool = False  # a bound on log p(x)
    filters: bool = False  # unit_weights(): each unit's encoder row and decoder column (a linear code)
    # the DrSAE paper's kinds of unit (categorical and part, by the encoder–decoder angle) mean something: an encoder
    # learned apart from its decoder, and a recurrence. Elsewhere (ISTA's tied encoder, one-pass autoencoders) the
    # angle is a plain number and nothing is called categorical or part.
    kinds: bool = False
    converged: bool = False  # converged(x): its dictionary's converged sparse codes, which its T steps approach
    # (sparse coding's minimum: ISTA and LISTA), so its reconstruction at T is quoted beside theirs
    layers: bool = False  # a generative hierarchy of stochastic layers: run(), generate(), log_weights(), and
    # likelihood(), hierarchy(), samples(), traversal(), layer_code() (what its pages show)
    # what the data it was trained on has (models/domains: a domain's Layout)
    labels: bool = False  # class labels
    image: bool = False  # each sample is an image (filters are shown as images, Gabors fitted)
    ground_truth: bool = False  # a known generating dictionary and true codes

    def missing(self, *needs: str) -> list[str]:
        return [n for n in needs if not getattr(self, n)]

    def with_data(self, layout) -> "Capabilities":
        """These capabilities, with what the data (a models.domains.Layout) has."""
        return replace(self, labels=layout.classes is not None, image=layout.image is not None,
                       ground_truth=layout.ground_truth)


@dataclass(frozen=True)
class Curve:
    """One chart of a run's per-epoch metrics on the Training page: a line per (label, metrics key)."""
    key: str  # the chart's name on the page
    title: str
    series: dict[str, str]
    ytitle: str = ""
    caption: str = ""
    log_y: bool = False


OBJECTIVE = "½‖x − x̂‖² + λ‖z‖₁"  # what L_U is, in a family's Training charts (Family.objective)


def code_curves(rows: list[dict], held_out: bool = True, objective: str = OBJECTIVE) -> list[Curve]:
    """A sparse code's training: its losses, its validation error where it classifies, and its units (a series
    named after a unit kind takes that kind's colour). `held_out`: the validation samples were not trained on;
    `objective`: what the family's L_U is, in words."""
    supervised = any(r.get("train_sup") is not None for r in rows)
    units = {"active per sample (L0)": "val_active", "dead": "val_dead", "dense": "val_dense",
             "categorical": "units_categorical", "part": "units_part"}
    return [
        Curve("loss", "Losses", {"L_U train": "train_unsup", "L_U val": "val_unsup", "L_S train": "train_sup",
                         "L_S val": "val_sup"}, "loss", f"L_U: {objective}"
              + ("; L_S: the classifier's cross-entropy" if supervised else "")
              + " (log scale). Train and validation apart: overfitting.", log_y=True),
        Curve("err", "Validation error" if held_out else "Error on the validation samples (trained on)",
              {"validation error (%)": "val_error"}, "error (%)", "After each epoch, on samples the update never "
              "saw (unless the run is a final fit).", log_y=True),
        Curve("active", "Units over the epochs", units, "units", "On the validation samples after each epoch: L0, the units "
              "active on none (dead) or on more than a tenth of them (dense), and the units of each kind. A run "
              "collapsing to a few active units shows here in its first epochs."),
    ]


CODE_PROGRESS = (("L_U", "train_unsup", "{:.4f}"), ("L_S", "train_sup", "{:.4f}"), ("val err", "val_error", "{:.2f}%"))
# the number a running run is watched by: the first of these its last metrics row has
CODE_HEADLINE = (("Validation error", "val_error", "{:.2f} %"), ("Validation reconstruction", "val_recon", "{:.4f}"))


@dataclass(frozen=True)
class Claim:
    """A published claim about a family, against another, that a benchmark can check (models/services/benchmark.py):
    its `metric` is lower than `than`'s ("lower"), or not above it ("at most"); "fvu" is compared at equal L0 along
    both frontiers, "absorption" at each sparsity value both trained."""
    text: str
    source: str
    than: str  # the other family's name
    metric: str = "fvu"
    how: str = "lower"


@dataclass(frozen=True)
class Family:
    name: str
    short: str  # on screen where space is short: "DrSAE"
    title: str  # on screen
    summary: str  # a paragraph of markdown: what the model computes
    config: type  # a models.settings.Config dataclass, this family's own (its type names the family)
    create: Callable  # (config) -> an untrained model, to load weights into
    capabilities: Capabilities
    initialise: Callable | None = None  # (config, training inputs (n, d), seed, load, layout) -> a model ready to
    # train; load(path) -> (model, meta) reads a saved model, for a family that starts from one; layout: the data's
    # (models/domains), for a start that needs its shape
    update: Callable | None = None  # (model, optimizer, train config, graph) -> its training update (default:
    # models.training.update.Updater, which any model with `losses` and `project_` can use)
    lr_scales: Callable | None = None  # (model, train config) -> {parameter name: lr multiplier}
    train_defaults: dict | None = None  # training settings whose default differs for this family
    inputs: Callable | None = None  # a domain's raw samples (n, ...) -> the float rows (n, d) this family reads,
    # where the family needs its own (a likelihood over [0, 1]); None: the data's normalisation (DataSpec.inputs)
    validate: Callable | None = None  # (model, split, device) -> a training row's validation numbers (default:
    # models.training.validate.evaluate_split)
    curves: Callable = code_curves  # (metrics rows, held out, objective) -> the Training page's charts of a run
    objective: str = OBJECTIVE  # what its L_U (the loss it is trained on besides L_S) is, in words
    progress: tuple = CODE_PROGRESS  # (label, metrics key, format): the trainer's line per epoch
    headline: tuple = CODE_HEADLINE  # (label, metrics key, format): the Training page's number, the first there
    binary_data: bool = False  # its likelihood models each value as a Bernoulli probability: data in [0, 1] only
    compared: bool = False  # one of the encoders `python -m models compare` trains and measures side by side
    dictionary_from: str | None = None  # in that comparison, the family whose run of the same seed gives its
    # dictionary (LISTA regresses ISTA's codes on ISTA's own D)
    # the setting that sets how sparse its codes are (the sidebar's slider, sweeps, benchmarks) and its symbol:
    # an L1 or L0 weight λ, or the count k of active latents
    sparsity_field: str = "sparsity"
    sparsity_symbol: str = "λ"
    sparsity_examples: str = "0.0125, 0.025, 0.05, 0.1"  # a sweep's values, as the Training form suggests them
    benchmarked: bool = False  # one of the families `python -m models benchmark` trains by default
    watch: tuple = ("val_unsup", "min")  # (metrics key, "min" | "max"): what a sweep's early stopping compares
    claims: tuple = ()  # Claim: what its paper says of it against another family

    def new(self, cfg, train_x, seed: int, load: Callable | None = None, layout=None):
        return self.initialise(cfg, train_x, seed, load, layout) if self.initialise else self.create(cfg)

    def describe(self, cfg) -> str:
        """A short name for a model of this family: '400×11 λ 0.025'."""
        if hasattr(cfg, "describe"):
            return cfg.describe()
        size = f"{cfg.hidden}" + (f"×{cfg.unroll}" if self.capabilities.steps else "")
        value = self.sparsity_of(cfg)
        return size + ("" if value is None else f" {self.sparsity_symbol} {value:g}")

    @property
    def has_sparsity(self) -> bool:
        return any(f.name == self.sparsity_field for f in fields(self.config))

    def sparsity_of(self, cfg) -> float | None:
        """The value of its sparsity setting (None: the family has none)."""
        return getattr(cfg, self.sparsity_field, None) if self.has_sparsity else None

    def sparsity_label(self, value) -> str:
        """'λ 0.025', 'k 16'."""
        return f"{self.sparsity_symbol} {value:g}"

    def with_sparsity(self, cfg_values: dict, value) -> dict:
        """Config values with the sparsity setting at `value` (an int setting takes a whole number only)."""
        kind = next(f.type for f in fields(self.config) if f.name == self.sparsity_field)
        if kind in (int, "int") and float(value) != int(float(value)):
            raise ValueError(f"{self.short}'s {self.sparsity_symbol} is a whole number, got {value:g}")
        return {**cfg_values, self.sparsity_field: int(float(value)) if kind in (int, "int") else float(value)}

    def capabilities_of(self, cfg) -> Capabilities:
        """A model's own: a family with a classifier has none where its data had no labels (n_classes 0)."""
        return replace(self.capabilities, classifier=self.capabilities.classifier and getattr(cfg, "n_classes", 1) > 0)

    def fit(self, cfg, layout):
        """`cfg` for data of this layout (models/domains): its input size and classes from the data. A config that
        already names other sizes is refused in one line."""
        if self.binary_data and not layout.unit_interval:
            raise ValueError(f"{self.short} models treat every value as a probability in [0, 1] (a Bernoulli "
                             "likelihood); this data has values outside [0, 1]: choose data in [0, 1] (patches "
                             "without whitening, say)")
        names = {f.name for f in fields(cfg)}
        wanted = {"n_input": layout.dimension, "n_classes": layout.n_classes}
        for k, v in wanted.items():
            have = getattr(cfg, k, None)
            if k in names and have not in (0, v):
                raise ValueError(f"a {self.short} model with {k.replace('n_', '')} {have} cannot train on data with "
                                 f"{v} ({'values a sample' if k == 'n_input' else 'classes'})")
        return replace(cfg, **{k: v for k, v in wanted.items() if k in names})


class UnknownFamily(ValueError):
    pass


_FAMILIES: Registry[Family] = Registry("model family", UnknownFamily)
register, unregister, get, all_families = _FAMILIES.register, _FAMILIES.unregister, _FAMILIES.get, _FAMILIES.all


def architecture(saved: dict) -> str:
    """The family name a saved config or checkpoint header names."""
    return saved.get("architecture", DEFAULT) if isinstance(saved, dict) else DEFAULT


def of_saved(saved: dict) -> Family:
    return get(architecture(saved))


def of_config(cfg) -> Family:
    """The family whose config class `cfg` is."""
    for f in _FAMILIES.all():
        if type(cfg) is f.config:  # exactly: one family's config may extend another's
            return f
    raise UnknownFamily(f"no registered family has the config class {type(cfg).__name__}")


def of_model(model) -> Family:
    return of_config(model.cfg)


def capabilities(model) -> Capabilities:
    """What this model can do (its family's capabilities, less a classifier it was trained without)."""
    return of_model(model).capabilities_of(model.cfg)
