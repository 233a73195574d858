"""The model-family registry: what a family declares, and finding it again from a saved file.

A family is one module that builds a `Family` and registers it: a name (the `architecture` key of saved
configs and checkpoints), a config class of settings (models/settings.py), how to build and initialise the
model, and its capabilities, which are all the pages and analyses ever ask about.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from models.data import normalize

DEFAULT = "drsae"  # saved files without an `architecture` key were all written before families: DrSAEs

NEEDS = {  # a capability, as a page says what it needs
    "steps": "recurrent steps z_1..z_T",
    "decoder": "a decoder",
    "classifier": "a classifier",
    "likelihood": "a likelihood bound",
    "filters": "per-unit encoder and decoder filters",
    "layers": "a hierarchy of stochastic layers",
}


@dataclass(frozen=True)
class Capabilities:
    steps: bool = False  # a recurrence z_1..z_T that runs for any T (without it, a model has one step)
    decoder: bool = False  # decode(z) reconstructs the input
    classifier: bool = False  # classify(z) gives class logits
    likelihood: bool = False  # a bound on log p(x)
    filters: bool = False  # unit_weights(): each unit's encoder row and decoder column (a linear code)
    layers: bool = False  # a generative hierarchy of stochastic layers: run(), generate(), log_weights()

    def missing(self, *needs: str) -> list[str]:
        return [n for n in needs if not getattr(self, n)]


@dataclass(frozen=True)
class Family:
    name: str
    short: str  # on screen where space is short: "DrSAE"
    title: str  # on screen
    summary: str  # a paragraph of markdown: what the model computes
    config: type  # a models.settings.Config dataclass, this family's own (its type names the family)
    create: Callable  # (config) -> an untrained model, to load weights into
    capabilities: Capabilities
    initialise: Callable | None = None  # (config, training inputs (n, d), seed, load) -> a model ready to
    # train; load(path) -> (model, meta) reads a saved model, for a family that starts from one
    update: Callable | None = None  # (model, optimizer, train config, graph) -> its training update (default:
    # models.training.update.Updater, which any model with `losses` and `project_` can use)
    lr_scales: Callable | None = None  # (model, train config) -> {parameter name: lr multiplier}
    train_defaults: dict | None = None  # training settings whose default differs for this family
    inputs: Callable = normalize  # uint8 images (n, 28, 28) -> the float rows (n, 784) this family reads
    validate: Callable | None = None  # (model, split, device) -> a training row's validation numbers (default:
    # models.analysis.metrics.evaluate_split)

    def train_config(self, **given):
        """The training settings for this family: `given` over its defaults over everyone's."""
        from models.training.config import TrainConfig  # the registry is below training

        return TrainConfig(**{**(self.train_defaults or {}), **given})

    def new(self, cfg, train_x, seed: int, load: Callable | None = None):
        return self.initialise(cfg, train_x, seed, load) if self.initialise else self.create(cfg)

    def describe(self, cfg) -> str:
        """A short name for a model of this family: '400×11 λ 0.025'."""
        if hasattr(cfg, "describe"):
            return cfg.describe()
        size = f"{cfg.hidden}" + (f"×{cfg.unroll}" if self.capabilities.steps else "")
        return size + (f" λ {cfg.sparsity:g}" if hasattr(cfg, "sparsity") else "")

    @property
    def has_sparsity(self) -> bool:
        return any(f.name == "sparsity" for f in fields(self.config))


class UnknownFamily(ValueError):
    pass


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    _FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    _FAMILIES.pop(name, None)


def get(name: str) -> Family:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise UnknownFamily(f"unknown model family {name!r} (this version knows {', '.join(_FAMILIES)})") from None


def all_families() -> list[Family]:
    return list(_FAMILIES.values())


def architecture(saved: dict) -> str:
    """The family name a saved config or checkpoint header names."""
    return saved.get("architecture", DEFAULT) if isinstance(saved, dict) else DEFAULT


def of_saved(saved: dict) -> Family:
    return get(architecture(saved))


def of_config(cfg) -> Family:
    """The family whose config class `cfg` is."""
    for f in _FAMILIES.values():
        if type(cfg) is f.config:  # exactly: one family's config may extend another's
            return f
    raise UnknownFamily(f"no registered family has the config class {type(cfg).__name__}")


def of_model(model) -> Family:
    return of_config(model.cfg)
