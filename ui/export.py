"""Everything a page shows can be taken away: figures as PNG or SVG (Plotly's camera button, named after the model
and the figure), tables and metrics as CSV, the model as its float16 safetensors file, the claims report as
markdown."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence

import streamlit as st

from models.checkpoint import exported_bytes

FORMAT_KEY = "figure-format"  # the sidebar's choice: what the camera button of every figure downloads
FORMATS = {"png": "PNG", "svg": "SVG"}


def slug(text: str) -> str:
    """A file name from a title: 'Class probabilities after step 3' -> 'class-probabilities-after-step-3'."""
    return re.sub(r"[^a-z0-9λ.]+", "-", text.lower()).strip("-.")[:80] or "figure"


def figure_name(fig) -> str:
    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else ""
    return named(title)


def named(title: str) -> str:
    """A download's file name: the app, the model shown, what it is."""
    from ui.state import current

    sel = current()
    return slug(f"sparselab {sel.entry.label if sel else ''} {title}")


def chart(where, fig, key: str, caption: str | None = None, **kwargs):
    """st.plotly_chart with a camera button that downloads the figure in the chosen format, named after the model
    and the figure's title; `caption` (how to read it) goes under it."""
    fmt = st.session_state.get(FORMAT_KEY, "png")
    options = {"format": fmt, "filename": figure_name(fig)}
    if fmt == "png":
        options["scale"] = 2  # sharp enough for a slide
    event = where.plotly_chart(fig, key=key, config={"toImageButtonOptions": options, "displaylogo": False}, **kwargs)
    if caption:
        where.caption(caption)
    return event


def csv_text(columns: Mapping[str, Sequence]) -> str:
    """Columns of equal length as CSV (a header row, then one row per index); None is an empty cell."""
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(list(columns))
    for row in zip(*columns.values()):
        w.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def rows_csv(rows: Sequence[Mapping]) -> str:
    """Dicts (a run's metrics rows) as CSV, every key a column in first-seen order; a list (every unit's angle)
    becomes a column per item, `key_0`, `key_1`, …"""
    flat = [{f"{k}_{i}": x for k, v in r.items() if isinstance(v, list) for i, x in enumerate(v)}
            | {k: v for k, v in r.items() if not isinstance(v, list)} for r in rows]
    keys = list(dict.fromkeys(k for r in rows for k in r if not isinstance(r[k], list)))
    keys += list(dict.fromkeys(k for r in flat for k in r if k not in keys))
    return csv_text({k: [r.get(k) for r in flat] for k in keys})


def download_csv(where, label: str, text_or_call, file_name: str, key: str) -> None:
    where.download_button(label, text_or_call, file_name=file_name, mime="text/csv", key=key,
                          icon=":material/download:")


def model_file(model, label: str, domain: dict | None = None) -> bytes:
    """The model as the app's embedded models are stored: float16 weights, family, config and data in the header."""
    return exported_bytes(model, {"exported_from": label}, domain=domain)
