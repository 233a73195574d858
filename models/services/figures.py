"""Figures the command line writes as well as the pages draw (Plotly, no Streamlit): the benchmark's frontier (the
Benchmark page and `python -m models benchmark` show the same picture), and the ticks of a log axis."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import plotly.graph_objects as go

from models.services.benchmark import aggregate

def log_ticks(values) -> dict:
    """Ticks a reader can read on a log axis: 1, 2 and 5 in each decade the positive values span (and the numbers
    written plainly: 0.05, 2, 100), instead of Plotly's digits 2…9 at every decade."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return {}
    lo, hi = float(v.min()), float(v.max())
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    ticks = [m * 10.0 ** k for k in decades for m in (1, 2, 5) if lo / 1.5 <= m * 10.0 ** k <= hi * 1.5]
    if sum(lo <= t <= hi for t in ticks) < 2:  # less than a decade: two of them must fall where the data is
        ticks = [float(f"{m * 10.0 ** k:g}") for k in decades for m in range(1, 10) if lo <= m * 10.0 ** k <= hi]
        if len(ticks) < 2:  # narrower still: a few values across it, two significant digits
            ticks = sorted({float(f"{t:.2g}") for t in np.geomspace(lo, hi, 4)})
    return dict(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])


def alternate(n: int) -> list[str]:
    """Text positions for n labelled points along a line: above and below in turn, so neighbours do not overlap."""
    return ["top right" if i % 2 == 0 else "bottom left" for i in range(n)]


PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22"]


def frontier(result: dict, y: str = "fvu", height: int = 420) -> go.Figure:
    """L0 against `y` (a metric of result["metrics"]): a line per family through its sparsity values at the mean
    over seeds, one standard deviation of the seeds as error bars on both axes, and each run as a faint point whose
    customdata is its catalog key (click to open)."""
    meta = result["metrics"][y]
    rows = aggregate(result["runs"])
    data = []
    for k, family in enumerate(dict.fromkeys(r["family"] for r in rows)):
        color = PALETTE[k % len(PALETTE)]
        mine = sorted((r for r in rows if r["family"] == family and y in r), key=lambda r: r["l0"])
        if not mine:
            continue
        data.append(dict(type="scatter", x=[r["l0"] for r in mine], y=[r[y] for r in mine], name=mine[0]["short"],
                         mode="lines+markers+text", text=[f"{r['symbol']} {r['sparsity']:g}" for r in mine],
                         textposition=alternate(len(mine)), textfont=dict(size=10, color=color),
                         error_x=dict(type="data", array=[r["l0_sd"] for r in mine], visible=True, thickness=1),
                         error_y=dict(type="data", array=[r[f"{y}_sd"] for r in mine], visible=True, thickness=1),
                         line=dict(color=color), marker=dict(size=9), hoverinfo="skip"))
        runs = [r for r in result["runs"] if r["family"] == family and r["role"] == "grid" and y in r]
        data.append(dict(type="scatter", x=[r["l0"] for r in runs], y=[r[y] for r in runs], mode="markers",
                         name=f"{mine[0]['short']}: each run", showlegend=False, customdata=[r["key"] for r in runs],
                         text=[f"{r['short']} {r['symbol']} {r['sparsity']:g}, seed {r['seed']}" for r in runs],
                         marker=dict(size=6, color=color, opacity=0.45, symbol="circle-open"),
                         hovertemplate="%{text}<br>L0 %{x:.1f}<br>" + meta["label"] + " %{y:.4g}"
                                       "<extra>click to open</extra>"))
    layout = dict(title=dict(text=f"{meta['label']} against L0 ({meta['better']})"), height=height,
                  margin=dict(l=60, r=20, t=50, b=60), clickmode="event+select",
                  xaxis=dict(title=dict(text="active latents per sample, L0 (log scale)"), type="log",
                             **log_ticks([r["l0"] for r in result["runs"] if r.get("l0")])),
                  yaxis=dict(title=dict(text=f"{meta['label']}: {meta['meaning']}")),
                  legend=dict(orientation="h", y=-0.2, yanchor="top"))
    return go.Figure(data=data, layout=layout)


def write_html(result: dict, out: Path) -> list[Path]:
    """The frontiers as HTML pages that open offline (plotly.js once, beside them)."""
    paths = []
    for y, name in (("fvu", "frontier-fvu.html"), ("recon", "frontier-recon.html")):
        frontier(result, y).write_html(Path(out) / name, include_plotlyjs="directory")
        paths.append(Path(out) / name)
    return paths
