"""The view in the URL, so that a link reproduces it: ?model=KEY&T=5&digit=123&step=3&units=12,40 (the page is the
URL's path). Pages write what they show with `share`; a session's first run takes the link's values with `take`
(app.py calls `start` first), each checked against the model it opens; a bad one falls back to the default with a
one-line notice.

Streamlit's own `bind="query-params"` drops a bad value silently and names the parameter after the widget's key,
while our widgets' keys are per model (each model keeps its own T and λ): hence this small module.
"""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import streamlit as st

from ui.text import code, plain

_ARRIVAL = "_url_arrival"  # the link's parameters, each removed once a page has taken it


def start() -> None:
    """At the top of every run: the link's parameters belong to the session's first run only (a value the first
    page did not use is dropped, not applied to a page visited later)."""
    st.session_state[_ARRIVAL] = {} if _ARRIVAL in st.session_state else {k: st.query_params[k] for k in st.query_params}


def take(name: str, parse: Callable[[str], object], what: str, fallback: str):
    """The link's value of `name`, parsed, once per session (None if absent or already taken). `parse` raises
    ValueError with the reason for a bad value; then a one-line notice says what is shown instead."""
    raw = st.session_state.get(_ARRIVAL, {}).pop(name, None)
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValueError as e:
        st.warning(f"The link's {what} {code(raw, 40)} {plain(e, 200)}: showing {fallback}.",
                   icon=":material/link_off:")
        return None


def share(**values) -> None:
    """Put these values in the URL (None removes one); only changes are sent to the browser."""
    for name, value in values.items():
        text = None if value is None else (",".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
        if text is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != text:
            st.query_params[name] = text


def integer(lo: int, hi: int) -> Callable[[str], int]:
    """A parser of one whole number in [lo, hi]."""
    def parse(raw: str) -> int:
        try:
            v = int(raw)
        except ValueError:
            raise ValueError("is not a whole number") from None
        if not lo <= v <= hi:
            raise ValueError(f"is outside {lo} – {hi}")
        return v
    return parse


def choice(options, why: str = "is not among the choices here") -> Callable[[str], str]:
    """A parser of one of `options` (names)."""
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(why)
        return raw
    return parse


def integers(lo: int, hi: int, most: int) -> Callable[[str], list[int]]:
    """A parser of up to `most` distinct whole numbers in [lo, hi], comma-separated."""
    one = integer(lo, hi)

    def parse(raw: str) -> list[int]:
        vs = list(dict.fromkeys(one(p.strip()) for p in raw.split(",") if p.strip()))
        if not vs:
            raise ValueError("names none")
        if len(vs) > most:
            raise ValueError(f"names more than {most}")
        return vs
    return parse


def link(label: str = "Link") -> None:
    """The page's URL with its parameters in a copyable box (the code box has a copy button)."""
    base = (st.context.url or "").split("?")[0]
    query = urlencode({k: st.query_params[k] for k in st.query_params}, safe=":,")
    with st.popover(label, icon=":material/link:"):
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)
        st.caption("Opened in any browser with this app, the link shows this model and this view (its step, sample "
                   "and units).")
