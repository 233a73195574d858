"""Config dataclasses whose fields carry their default, bounds and help.

The training CLI's flags, the Training page's form and the validation of every config all come from these
fields, so a setting is declared once. Fields without `setting(...)` are fixed constants of a model (saved
with it, not offered as settings).
"""
from __future__ import annotations

import math
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import ClassVar


@dataclass(frozen=True)
class Setting:
    label: str  # on screen
    help: str
    kind: type  # int, float, str or bool; what a flag parses and a form widget edits
    min: float | None = None
    max: float | None = None
    max_open: bool = False  # the bound itself is not allowed (a decay in [0, 1))
    choices: dict | None = None  # allowed values -> what the form shows for each
    optional: bool = False  # None is allowed (and means "off" or "all")
    advanced: bool = False  # in the form's "More settings"
    step: float | None = None  # what a form's +/- buttons add (default: a tenth of the default's decade)
    model: bool = False  # the value names a trained model: the CLI takes any path, a form offers the models it lists


def setting(default, label: str, help: str, kind: type | None = None, **bounds) -> Field:
    """A dataclass field that is a user setting."""
    kind = kind or type(default)
    return field(default=default, metadata={"setting": Setting(label, help, kind, **bounds)})


def settings(cls) -> list[tuple[Field, Setting]]:
    return [(f, f.metadata["setting"]) for f in fields(cls) if "setting" in f.metadata]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check(obj) -> None:
    """Raise ValueError (one line, naming the setting as its flag) for a value out of its bounds."""
    for f, s in settings(type(obj)):
        v = getattr(obj, f.name)
        name = flag(f.name)
        if v is None:
            if s.optional:
                continue
            raise ValueError(f"{name} needs a value")
        if s.kind is float and isinstance(v, int) and not isinstance(v, bool):
            object.__setattr__(obj, f.name, float(v))  # 1 means 1.0 (frozen dataclasses need this route)
            v = float(v)
        if not isinstance(v, s.kind) or (s.kind is int and isinstance(v, bool)):
            raise ValueError(f"{name} must be {s.kind.__name__}, got {v!r}")
        if s.choices is not None and v not in s.choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, s.choices))}, got {v!r}")
        if s.kind in (int, float):
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v}")
            high = "" if s.max is None else (f"{s.max:g})" if s.max_open else f"{s.max:g}]")
            span = f"[{'' if s.min is None else f'{s.min:g}'}, {high or '∞)'}"
            if (s.min is not None and v < s.min) or (s.max is not None and (v >= s.max if s.max_open else v > s.max)):
                raise ValueError(f"{name} must be in {span}, got {v:g}")


class Config:
    """Base of model and training configs: validated on creation, saved as plain dicts."""

    # Settings added after runs were written whose default is not what those runs did: a saved config
    # without them had them at these values.
    LEGACY: ClassVar[dict] = {}

    def __post_init__(self):
        check(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """A config as written, settings added since then taking the value those runs had."""
        if not isinstance(d, dict):
            raise ValueError(f"a {cls.__name__} is a JSON object, not {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        return cls(**{**cls.LEGACY, **{k: v for k, v in d.items() if k in known}})

    @classmethod
    def defaults(cls) -> dict:
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

