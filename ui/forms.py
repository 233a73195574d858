"""Streamlit widgets generated from a config dataclass's settings (models/settings.py): one widget a setting."""
from __future__ import annotations

import math

import streamlit as st

from models.settings import settings


def _models() -> dict[str, str]:
    """The models a form may name (a setting with `model`): path -> label, those with filters (a decoder to take)."""
    from models.families import get
    from models.services import catalog

    return {str(e.path): f"{catalog.group_label(e.group)} · {e.key.split(':', 1)[1]}" for e in catalog.entries()
            if not get(e.architecture).capabilities.missing("decoder", "filters")}


def _widget(container, s, value, key: str, label: str | None = None):
    label, help = label or s.label, s.help
    if s.model:  # a picker of the models here, never a path typed into the server's disk
        found = _models()
        options = [None, *found]
        return container.selectbox(label, options, options.index(value) if value in options else 0, help=help,
                                   key=key, format_func=lambda v: "none" if v is None else found[v])
    if s.choices is not None:
        options = list(s.choices)
        return container.selectbox(label, options, options.index(value), format_func=s.choices.get, help=help, key=key)
    if s.kind is str:
        text = container.text_input(label, value or "", help=help, key=key, placeholder="none" if s.optional else None)
        return (text.strip() or None) if s.optional else text
    if s.kind is bool:
        return container.checkbox(label, value, help=help, key=key)
    # No bounds on the widget: a browser refuses a value out of them with a red mark alone; the settings' check
    # says in words what the range is when the form is sent.
    bounds = _bounds(s)
    help = f"{help} ({bounds})" if bounds and help else help or bounds
    if s.kind is int:
        return container.number_input(label, None, None, value, 1, help=help, key=key,
                                      placeholder="all" if s.optional else None)
    step = s.step or (10.0 ** math.floor(math.log10(abs(value))) / 10 if value else 0.01)
    return container.number_input(label, None, None, float(value), step, format="%.6g", help=help, key=key)


def _bounds(s) -> str:
    if s.min is None and s.max is None:
        return ""
    if s.max is None:
        return f"at least {s.min:g}"
    below = "below" if s.max_open else "at most"
    return f"{below} {s.max:g}" if s.min is None else f"from {s.min:g} to {s.max:g}{' (excluded)' if s.max_open else ''}"


def settings_form(cls, values: dict, key: str, columns: int = 4, labels: dict | None = None,
                  skip: tuple[str, ...] = ()) -> dict:
    """Widgets for every setting of `cls` but those in `skip` (they keep their defaults), starting at `values`; the
    main ones in rows, the rest in an expander. `labels`: {name: label} where a setting means something else here.
    Returns {name: value} as the widgets hold them."""
    out = {}
    main = [(f, s) for f, s in settings(cls) if not s.advanced and f.name not in skip]
    advanced = [(f, s) for f, s in settings(cls) if s.advanced and f.name not in skip]
    for group, container in ((main, st.container()), (advanced, st.expander("More settings") if advanced else None)):
        for i in range(0, len(group), columns):
            for col, (f, s) in zip(container.columns(columns), group[i:i + columns]):
                out[f.name] = _widget(col, s, values.get(f.name, f.default), f"{key}-{f.name}",
                                      (labels or {}).get(f.name))
    return out
