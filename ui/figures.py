"""Plotly figures built from arrays that models/ computed. No Streamlit here."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from models.analysis.kinds import CATEGORICAL_MIN, COLORS as KIND_COLORS, PART_MAX
GREY = [[0, "white"], [1, "black"]]
DIVERGING = "RdBu_r"


def mosaic(images: np.ndarray, cols: int, pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tile (n, 28, 28) images into one array (NaN gaps) and a same-shaped map of image indices."""
    n = len(images)
    rows = max(1, -(-n // cols))
    h, w = images.shape[1:]
    out = np.full((rows * (h + pad), cols * (w + pad)), np.nan, dtype=np.float32)
    idx = np.full(out.shape, -1, dtype=np.int32)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = images[k]
        idx[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = k
    return out, idx


def filter_grid(vectors: np.ndarray, labels: list[str], cols: int = 20, title: str = "", signed: bool = True,
                height: int | None = None) -> go.Figure:
    """Each row of `vectors` (n, 784) as a 28x28 tile, each tile scaled to its own range; hover names it."""
    imgs = vectors.reshape(-1, 28, 28).astype(np.float32)
    scale = np.abs(imgs).reshape(len(imgs), -1).max(1).clip(1e-12)[:, None, None]
    imgs = imgs / scale
    grid, idx = mosaic(imgs, cols)
    text = np.where(idx >= 0, np.array(labels + [""], dtype=object)[idx], "")
    fig = go.Figure(go.Heatmap(
        z=grid, text=text, hovertemplate="%{text}<extra></extra>", showscale=False,
        colorscale=DIVERGING if signed else GREY, zmin=-1 if signed else 0, zmax=1,
    ))
    return _image_layout(fig, title, grid.shape, height)


def digit_row(images: list[np.ndarray], titles: list[str], title: str = "", cols: int | None = None) -> go.Figure:
    """28x28 images in rows of `cols` (default: one row), a caption above each, each scaled to its own range."""
    imgs = np.stack([im.reshape(28, 28) for im in images]).astype(np.float32)
    scale = np.abs(imgs).reshape(len(imgs), -1).max(1).clip(1e-12)[:, None, None]
    cols = cols or len(imgs)
    pad = 8  # room for the captions between rows
    grid, idx = mosaic(imgs / scale, cols=cols, pad=pad)
    notes = [dict(x=(k % cols) * (28 + pad) + 14, y=(k // cols) * (28 + pad) - 4, text=t, showarrow=False,
                  font=dict(size=11)) for k, t in enumerate(titles)]
    fig = go.Figure(go.Heatmap(z=grid, showscale=False, colorscale=DIVERGING, zmin=-1, zmax=1, hoverinfo="skip"),
                    layout=dict(annotations=notes))
    rows = -(-len(imgs) // cols)
    return _image_layout(fig, title, grid.shape, 60 + rows * (100 if cols > 4 else 160), top=50)


def _image_layout(fig: go.Figure, title: str, shape, height: int | None, top: int = 30) -> go.Figure:
    h, w = shape
    fig.update_layout(
        title=title, margin=dict(l=0, r=0, t=top, b=0), height=height or int(min(900, max(160, 520 * h / w))),
        xaxis=dict(visible=False, constrain="domain"), yaxis=dict(visible=False, autorange="reversed", scaleanchor="x"),
        plot_bgcolor="white",
    )
    return fig


def heatmap(z: np.ndarray, x=None, y=None, title: str = "", colorscale=DIVERGING, symmetric: bool = True,
            xtitle: str = "", ytitle: str = "", height: int = 400, hover: str | None = None) -> go.Figure:
    lim = float(np.abs(z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale=colorscale, zmid=0 if symmetric else None,
                               zmin=-lim if symmetric else None, zmax=lim if symmetric else None,
                               hovertemplate=hover))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title=xtitle, yaxis_title=ytitle)
    return fig


def _marker(x: float | None) -> list[dict]:
    """A dotted vertical line at x as a plain layout shape (add_vline costs ~6 ms a call)."""
    if x is None:
        return []
    return [dict(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(dash="dot", color="black"))]


def lines(x, series: dict[str, np.ndarray], title: str = "", xtitle: str = "", ytitle: str = "",
          marker_x: float | None = None, height: int = 320, colors: dict | None = None, log_y: bool = False) -> go.Figure:
    """Line plots in one constructor call: slider reruns rebuild these, so they must be cheap."""
    mode = "lines+markers" if len(x) < 40 else "lines"
    data = [go.Scatter(x=x, y=y, name=name, mode=mode, line=dict(color=(colors or {}).get(name)))
            for name, y in series.items()]
    layout = dict(title=dict(text=title), height=height, margin=dict(l=10, r=10, t=40, b=10),
                  xaxis=dict(title=dict(text=xtitle)),
                  yaxis=dict(title=dict(text=ytitle), type="log" if log_y else None),
                  legend=dict(orientation="h", y=-0.25), showlegend=len(data) > 1, shapes=_marker(marker_x))
    return go.Figure(data=data, layout=layout)


def unit_scatter(x: np.ndarray, y: np.ndarray, kind: np.ndarray, xtitle: str, ytitle: str, title: str = "",
                 selected: list[int] | None = None, height: int = 380) -> go.Figure:
    """One point per unit, coloured by kind; the unit number is the point's customdata (for selection)."""
    fig = go.Figure()
    for k, color in KIND_COLORS.items():
        m = np.flatnonzero(kind == k)
        fig.add_scatter(x=x[m], y=y[m], mode="markers", name=f"{k} ({len(m)})", customdata=m,
                        marker=dict(color=color, size=7, opacity=0.75),
                        hovertemplate="unit %{customdata}<br>" + xtitle + " %{x:.3f}<br>" + ytitle + " %{y:.3f}<extra></extra>")
    if selected:
        s = np.asarray(selected)
        fig.add_scatter(x=x[s], y=y[s], mode="markers", name="selected", customdata=s, hoverinfo="skip",
                        marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color="black", width=2)))
        # Labels as annotations: drawn above every marker, and fanned out so units on one spot stay readable.
        for j, i in enumerate(s):
            fig.add_annotation(x=x[i], y=y[i], text=str(i), showarrow=True, arrowhead=0, arrowcolor="#555",
                               ax=30 if j % 2 == 0 else -30, ay=-(20 + 16 * (j // 2)), font=dict(size=11),
                               bgcolor="rgba(255,255,255,0.85)")
    for v in (PART_MAX, CATEGORICAL_MIN):
        fig.add_vline(x=v, line_dash="dot", line_color="#999")
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=xtitle,
                      yaxis_title=ytitle, legend=dict(orientation="h", y=-0.2), clickmode="event+select")
    return fig


def bars(x, y, title: str = "", xtitle: str = "", ytitle: str = "", height: int = 280, color=None) -> go.Figure:
    fig = go.Figure(go.Bar(x=x, y=y, marker_color=color))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=xtitle,
                      yaxis_title=ytitle)
    return fig
