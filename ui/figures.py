"""Plotly figures built from arrays that models/ computed. No Streamlit here.

Each figure is one constructor call over plain dicts: slider reruns rebuild every figure on a page, and Plotly's
update_layout / add_* helpers cost milliseconds a call (add_vline ~6 ms), which ten tabs at once multiply."""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go

from models.kinds import CATEGORICAL_MIN, PART_MAX
from models.services.figures import alternate, log_ticks

GREY = [[0, "white"], [1, "black"]]
KIND_COLORS = {"categorical": "#d62728", "intermediate": "#7f7f7f", "part": "#1f77b4"}  # the same on every page
DIVERGING = "RdBu_r"


STRIP = 96  # a vector shown as a bar strip: at most this many bars (more values are pooled into a bar each)
STRIP_HALF = 8  # pixels above (and below) a strip's middle line: a bar's full height


def pictures(vectors, shape: tuple[int, int] | None, signed: bool = True) -> np.ndarray:
    """Samples or filters (n, d) as pictures (n, h, w), each on its own scale: signed in [−1, 1], else in [0, 1].
    `shape`: (h, w) when each is an image; None draws each vector as a strip of bars (value k the k-th bar, up
    from a middle line when positive, down when negative; a non-negative one drawn unsigned rises from the bottom)."""
    v = np.stack([np.asarray(x, dtype=np.float32).reshape(-1) for x in vectors])
    if shape is not None:
        imgs = v.reshape(len(v), *shape)
        if signed:
            return imgs / np.abs(imgs).reshape(len(imgs), -1).max(1).clip(1e-12)[:, None, None]
        lo = np.minimum(imgs.reshape(len(imgs), -1).min(1), 0)[:, None, None]  # ink on paper; negative values darker
        return (imgs - lo) / (imgs.max((1, 2), keepdims=True) - lo).clip(1e-12)
    d = v.shape[1]
    bars = min(d, STRIP)
    edges = np.linspace(0, d, bars + 1).astype(int)  # each bar the value of largest size in its slice
    pooled = np.stack([v[:, a:b][np.arange(len(v)), np.abs(v[:, a:b]).argmax(1)] for a, b in zip(edges, edges[1:])], 1)
    pooled = pooled / np.abs(pooled).max(1, keepdims=True).clip(1e-12)
    rows = np.arange(2 * STRIP_HALF)[:, None]  # 0 at the top
    widen = max(1, STRIP // bars)  # short vectors: wider bars, a strip about STRIP pixels wide
    if not signed and (pooled >= 0).all():
        height = np.round(pooled * 2 * STRIP_HALF)[:, None, :]
        return ((2 * STRIP_HALF - rows)[None] <= height).astype(np.float32).repeat(widen, axis=2)
    height = np.round(pooled * STRIP_HALF)[:, None, :]  # signed: up from the middle line, or down
    up = (rows[None] >= STRIP_HALF - height) & (rows[None] < STRIP_HALF) & (height > 0)
    down = (rows[None] >= STRIP_HALF) & (rows[None] < STRIP_HALF - height) & (height < 0)
    out = up.astype(np.float32) - down.astype(np.float32)
    out = out if signed else (out + 1) / 2
    return out.repeat(widen, axis=2)


def mosaic(images: np.ndarray, cols: int, pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tile (n, h, w) images into one array (NaN gaps) and a same-shaped map of image indices."""
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


def _lut(stops: list[list[int]]) -> np.ndarray:
    """256 colours, evenly from the first stop to the last."""
    stops = np.array(stops, dtype=np.float32)
    pos = np.linspace(0, len(stops) - 1, 256)
    lo = np.minimum(pos.astype(int), len(stops) - 2)
    frac = (pos - lo)[:, None]
    return (stops[lo] * (1 - frac) + stops[lo + 1] * frac).round().astype(np.uint8)


SIGNED_LUT = _lut([[5, 48, 97], [247, 247, 247], [103, 0, 31]])  # RdBu: -1 blue, 0 white, 1 red
GREY_LUT = _lut([[255, 255, 255], [0, 0, 0]])  # 0 white, 1 black


def _rgb(grid: np.ndarray, signed: bool) -> np.ndarray:
    """Colours of a [-1, 1] (signed) or [0, 1] grid; NaN gaps stay white."""
    v = (grid + 1) / 2 if signed else grid
    idx = np.nan_to_num(v * 255, nan=0).clip(0, 255).astype(np.uint8)
    rgb = (SIGNED_LUT if signed else GREY_LUT)[idx]
    rgb[np.isnan(grid)] = 255
    return rgb


def _png(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)  # speed over size: it is sent once a rerun
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _margin(top: int = 40) -> dict:
    return dict(l=10, r=10, t=top, b=10)


def _image_layout(title: str, shape, height: int | None, top: int = 30, **extra) -> dict:
    h, w = shape
    return dict(title=dict(text=title), margin=_margin(top), height=height or int(min(900, max(160, 520 * h / w))),
                xaxis=dict(visible=False, constrain="domain"),
                yaxis=dict(visible=False, autorange="reversed", scaleanchor="x"), plot_bgcolor="white", **extra)


def _columns(cols: int, h: int, w: int) -> int:
    """Tiles per row: `cols` for square tiles, fewer for wide ones (bar strips)."""
    return max(1, min(cols, int(round(cols * 2 * h / w)))) if w > 2 * h else cols


def filter_grid(vectors: np.ndarray, labels: list[str], cols: int = 20, title: str = "", signed: bool = True,
                height: int | None = None, shape: tuple[int, int] | None = None, exact_cols: bool = False) -> go.Figure:
    """Each row of `vectors` (n, d) as a tile (an image of `shape`, or a bar strip for a vector), each tile scaled
    to its own range; hover names it. Drawn as one PNG with an invisible marker per tile for the hover text: a
    heatmap of 400 tiles with a label per pixel is 20 MB of JSON, this is a few hundred KB. `exact_cols`: `cols`
    tiles a row whatever their shape (columns that mean something: a class each)."""
    imgs = pictures(vectors, shape, signed)
    h, w = imgs.shape[1:]
    cols = cols if exact_cols else _columns(cols, h, w)
    grid, _ = mosaic(imgs, cols)
    k = np.arange(len(imgs))
    data = [dict(type="image", source=_png(_rgb(grid, signed)), hoverinfo="skip"),
            dict(type="scatter", x=(k % cols) * (w + 1) + (w - 1) / 2, y=(k // cols) * (h + 1) + (h - 1) / 2,
                 mode="markers", text=labels, marker=dict(size=18, opacity=0), hovertemplate="%{text}<extra></extra>",
                 showlegend=False)]
    return go.Figure(data=data, layout=_image_layout(title, grid.shape, height))


def tiles(vectors, signed: bool = True, zoom: int = 3, shape: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Each vector as an RGB picture (an image of `shape`, or a bar strip), each scaled to its own range, `zoom`
    times larger for images whose side is 28, as large for smaller ones (pixels kept sharp): for st.image, which
    sends small pictures far more cheaply than a Plotly figure each."""
    imgs = pictures(vectors, shape, signed)
    zoom = max(1, int(round(zoom * 28 / max(imgs.shape[1:])))) if shape is not None else max(1, zoom // 2)
    rgb = _rgb(imgs, signed)
    return list(rgb.repeat(zoom, axis=1).repeat(zoom, axis=2))


def grid_picture(pictures: list[np.ndarray], cols: int, gap: int = 2) -> np.ndarray:
    """Equal-sized RGB pictures as one picture, `cols` a row, white between them."""
    h, w, _ = pictures[0].shape
    rows = -(-len(pictures) // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for k, p in enumerate(pictures):
        r, c = divmod(k, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = p
    return out


def pairs(top, bottom, zoom: int = 3, shape: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Two sets of vectors as one picture per pair, `top[i]` above `bottom[i]` with a white gap."""
    out = []
    for a, b in zip(tiles(top, zoom=zoom, shape=shape), tiles(bottom, zoom=zoom, shape=shape)):
        gap = np.full((max(2, a.shape[0] // 12), a.shape[1], 3), 255, dtype=a.dtype)
        out.append(np.concatenate([a, gap, b]))
    return out


def sample_row(images: list[np.ndarray], titles: list[str], title: str = "", cols: int | None = None,
               shape: tuple[int, int] | None = None) -> go.Figure:
    """Samples as pictures (images of `shape`, or bar strips) in rows of `cols` (default: one row), a caption above
    each, each scaled to its own range."""
    imgs = pictures(images, shape)
    h, w = imgs.shape[1:]
    cols = cols or len(imgs)
    pad = max(4, h // 3)  # room for the captions between rows
    grid, _ = mosaic(imgs, cols=cols, pad=pad)
    notes = [dict(x=(k % cols) * (w + pad) + w / 2, y=(k // cols) * (h + pad) - pad / 2, text=t, showarrow=False,
                  font=dict(size=11)) for k, t in enumerate(titles)]
    rows = -(-len(imgs) // cols)
    layout = _image_layout(title, grid.shape, 60 + rows * (100 if cols > 4 else 160), top=50, annotations=notes)
    return go.Figure(data=[dict(type="heatmap", z=grid, showscale=False, colorscale=DIVERGING, zmin=-1, zmax=1,
                                hoverinfo="skip")], layout=layout)


def heatmap(z: np.ndarray, x=None, y=None, title: str = "", colorscale=DIVERGING, symmetric: bool = True,
            xtitle: str = "", ytitle: str = "", height: int = 400, hover: str | None = None,
            marker_x: float | None = None, categories: bool = False, text=None,
            clip: float | None = None) -> go.Figure:
    """A heatmap; `marker_x` draws a red line there, `categories` keeps y labels in order, top to bottom;
    `text` is printed in the cells. `clip`: the colours span this percentile of |z| (the rest saturate), so a few
    large cells do not leave the others blank."""
    lim = float(np.percentile(np.abs(z), clip) if clip is not None and np.size(z) else np.abs(z).max()) or 1.0
    trace = dict(type="heatmap", z=z, x=x, y=y, colorscale=colorscale, zmid=0 if symmetric else None,
                 zmin=-lim if symmetric else None, zmax=lim if symmetric else None, hovertemplate=hover)
    if text is not None:
        trace.update(text=text, texttemplate="%{text}")
    shapes = [] if marker_x is None else [dict(type="line", x0=marker_x, x1=marker_x, y0=0, y1=1, yref="paper",
                                                line=dict(color="red"))]
    yaxis = dict(title=dict(text=ytitle))
    if categories or (y is not None and len(y) and isinstance(y[0], str)):  # names, even "12": one row each, the
        yaxis.update(type="category", autorange="reversed")  # first on top (Plotly would read "12" as a number)
    xaxis = dict(title=dict(text=xtitle))
    if x is not None and len(x) and isinstance(x[0], str):  # names, even "12": one column each, in this order
        xaxis.update(type="category")
    layout = dict(title=dict(text=title), height=height, margin=_margin(), xaxis=xaxis, yaxis=yaxis, shapes=shapes)
    return go.Figure(data=[trace], layout=layout)


def confusion(counts: np.ndarray, shown: np.ndarray, normalized: bool) -> go.Figure:
    """The confusion matrix, rows true and columns predicted classes; an invisible marker on each cell makes it
    clickable (heatmap cells send no selection events)."""
    k = len(counts)
    cells = np.array([(t, p) for t in range(k) for p in range(k)])
    data = [dict(type="heatmap", z=shown, x=list(range(k)), y=list(range(k)), colorscale="Blues", hoverinfo="skip",
                 text=np.round(shown, 3 if normalized else 0), texttemplate="%{text}"),
            dict(type="scatter", x=cells[:, 1], y=cells[:, 0], mode="markers", showlegend=False,
                 customdata=counts.reshape(-1), hovertemplate="true %{y}, predicted %{x}: %{customdata}<extra></extra>",
                 marker=dict(symbol="square", size=28, color="rgba(0,0,0,0)"))]
    layout = dict(title=dict(text="True class (rows) against prediction (columns)"), height=480, margin=_margin(),
                  xaxis=dict(title=dict(text="predicted"), range=[-0.5, k - 0.5], dtick=1),
                  yaxis=dict(title=dict(text="true"), range=[k - 0.5, -0.5], dtick=1))
    return go.Figure(data=data, layout=layout)


def _marker(x: float | None) -> list[dict]:
    """A dotted vertical line at x as a plain layout shape."""
    if x is None:
        return []
    return [dict(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(dash="dot", color="black"))]


PALETTE = ["#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#e377c2", "#bcbd22", "#000000"]  # not a kind's


def lines(x, series: dict[str, np.ndarray], title: str = "", xtitle: str = "", ytitle: str = "",
          marker_x: float | None = None, height: int = 320, colors: dict | None = None, log_y: bool = False) -> go.Figure:
    """A line per series; `colors` {name: colour} where given, the others from PALETTE (never a kind's colour, so a
    series is never mistaken for a kind of unit); the legend under the x axis's title."""
    mode = "lines+markers" if len(x) < 40 else "lines"
    colors = dict(colors or {})
    free = iter([c for c in PALETTE if c not in colors.values()] * 2)
    data = [dict(type="scatter", x=x, y=y, name=name, mode=mode, line=dict(color=colors.get(name) or next(free)))
            for name, y in series.items()]
    legend = len(data) > 1
    yaxis = dict(title=dict(text=ytitle), type="log" if log_y else None)
    if log_y:
        yaxis |= log_ticks(np.concatenate([np.asarray(y, dtype=float).ravel() for y in series.values()] or [[]]))
    layout = dict(title=dict(text=title), height=height + (40 if legend else 0),
                  margin=dict(_margin(), b=70 if legend else 10), xaxis=dict(title=dict(text=xtitle)),
                  yaxis=yaxis,
                  legend=dict(orientation="h", y=-0.3, yanchor="top"), showlegend=legend, shapes=_marker(marker_x))
    return go.Figure(data=data, layout=layout)


def unit_scatter(x: np.ndarray, y: np.ndarray, kind: np.ndarray | None, xtitle: str, ytitle: str, title: str = "",
                 selected: list[int] | None = None, height: int = 380, angle_lines: bool = True) -> go.Figure:
    """One point per unit, coloured by kind (`kind` None: where kinds do not apply, one colour and no thresholds);
    the unit number is the point's customdata (for selection). `angle_lines`: x is the encoder–decoder angle, and
    the kinds' thresholds are drawn on it."""
    hover = "unit %{customdata}<br>" + xtitle + " %{x:.3f}<br>" + ytitle + " %{y:.3f}<extra></extra>"
    data = []
    angle_lines = angle_lines and kind is not None
    for k, mask, color in _groups(kind, len(x)):
        m = np.flatnonzero(mask)
        data.append(dict(type="scatter", x=x[m], y=y[m], mode="markers", name=f"{k} ({len(m)})", customdata=m,
                         marker=dict(color=color, size=7, opacity=0.75), hovertemplate=hover))
    notes = []
    if selected:
        s = np.asarray(selected)
        data.append(dict(type="scatter", x=x[s], y=y[s], mode="markers", name="selected", customdata=s,
                         hoverinfo="skip", marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color="black", width=2))))
        # Labels as annotations: drawn above every marker, and fanned out so units on one spot stay readable.
        notes = [dict(x=x[i], y=y[i], text=str(i), showarrow=True, arrowhead=0, arrowcolor="#555",
                      ax=30 if j % 2 == 0 else -30, ay=-(20 + 16 * (j // 2)), font=dict(size=11, color="#222"),
                      bgcolor="rgba(255,255,255,0.85)") for j, i in enumerate(s)]  # dark text on its own box: read
    # the same in a dark theme, whose default text is white
    shapes = [dict(type="line", x0=v, x1=v, y0=0, y1=1, yref="paper", line=dict(dash="dot", color="#999"))
              for v in ((PART_MAX, CATEGORICAL_MIN) if angle_lines else ())]
    layout = dict(title=dict(text=title), height=height, margin=_margin(), xaxis=dict(title=dict(text=xtitle)),
                  yaxis=dict(title=dict(text=ytitle)), legend=dict(orientation="h", y=-0.2), clickmode="event+select",
                  annotations=notes, shapes=shapes)
    return go.Figure(data=data, layout=layout)


def bars(x, y, title: str = "", xtitle: str = "", ytitle: str = "", height: int = 280, color=None,
         every_x: bool = False, series: dict | None = None, colors: dict | None = None,
         in_order: bool = False) -> go.Figure:
    """`every_x`: a tick at every x (class numbers). `series`: {name: y} drawn as grouped bars instead of `y`, in
    `colors` {name: colour} where given. `in_order`: the bars in the order given, even where x are numbers."""
    layout = dict(title=dict(text=title), height=height, margin=_margin(), barmode="group",
                  xaxis=dict(title=dict(text=xtitle), dtick=1 if every_x else None,
                             type="category" if in_order else None), yaxis=dict(title=dict(text=ytitle)))
    data = ([dict(type="bar", x=x, y=v, name=k, marker_color=(colors or {}).get(k)) for k, v in series.items()]
            if series is not None else
            [dict(type="bar", x=x, y=y, marker_color=color)])
    return go.Figure(data=data, layout=layout)


def points(groups: dict[str, tuple[list, list, list[str]]], title: str, xtitle: str, ytitle: str,
           mark: str | None = None, height: int = 380) -> go.Figure:
    """A point per item, a colour per group {group: (x, y, names)}; hover gives the name; the item named `mark`
    (the one shown) ringed."""
    data = [dict(type="scatter", mode="markers", x=x, y=y, text=names, name=g, marker=dict(size=10, color=c),
                 hovertemplate="%{text}<br>" + xtitle + " %{x:.2f}<br>" + ytitle + " %{y:.3f}<extra>" + g + "</extra>")
            for (g, (x, y, names)), c in zip(groups.items(), PALETTE * 2)]
    for x, y, names in groups.values():
        data += [dict(type="scatter", mode="markers", x=[xi], y=[yi], showlegend=False, hoverinfo="skip",
                      marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(width=2, color="#d62728")))
                 for xi, yi, n in zip(x, y, names) if n == mark]
    layout = dict(title=dict(text=title), height=height, margin=_margin(), xaxis=dict(title=dict(text=xtitle)),
                  yaxis=dict(title=dict(text=ytitle)), legend=dict(orientation="h", y=-0.25, yanchor="top"))
    return go.Figure(data=data, layout=layout)


def tradeoff(series, y: str, ytitle: str, title: str = "", height: int = 380, symbol: str = "λ") -> go.Figure:
    """A sparsity sweep's trade-off: per series (models.services.sweep.Series) its mean over seeds at each sparsity
    value (`symbol`: the family's λ or k), with the seeds' standard deviation as error bars on both axes, joined in
    that order; each run a small point whose customdata is its catalog key (click one to open it)."""
    data = []
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
    for k, s in enumerate(series):
        color = palette[k % len(palette)]
        runs = [r for r in s.runs if getattr(r, y) is not None]
        if not runs:
            continue
        lam = [f"{symbol} {v:g}" for v in s.sparsity]
        data.append(dict(type="scatter", x=s.mean["l0"], y=s.mean[y], name=s.label, mode="lines+markers+text",
                         text=lam, textposition=alternate(len(lam)), textfont=dict(size=10, color=color),
                         error_x=dict(type="data", array=s.spread["l0"], visible=True, thickness=1),
                         error_y=dict(type="data", array=s.spread[y], visible=True, thickness=1),
                         line=dict(color=color), marker=dict(size=9), hoverinfo="skip"))
        data.append(dict(type="scatter", x=[r.l0 for r in runs], y=[getattr(r, y) for r in runs], mode="markers",
                         name=f"{s.label}: each run", showlegend=False, customdata=[r.key for r in runs],
                         text=[f"{r.name}<br>{symbol} {r.sparsity:g}, seed {r.seed}" for r in runs],
                         marker=dict(size=6, color=color, opacity=0.45, symbol="circle-open"),
                         hovertemplate="%{text}<br>L0 %{x:.1f}<br>" + ytitle + " %{y:.4g}<extra>click to open</extra>"))
    layout = dict(title=dict(text=title), height=height, margin=_margin(), clickmode="event+select",
                  xaxis=dict(title=dict(text="active units per sample (L0)")), yaxis=dict(title=dict(text=ytitle)),
                  legend=dict(orientation="h", y=-0.25))
    return go.Figure(data=data, layout=layout)


def _groups(kind: np.ndarray | None, n: int) -> list[tuple[str, np.ndarray, str]]:
    """(name, mask, colour) per kind of unit; one group of all units where kinds do not apply (`kind` None)."""
    if kind is None:
        return [("units", np.ones(n, bool), UNIT_COLOR)]
    return [(k, kind == k, color) for k, color in KIND_COLORS.items()]


UNIT_COLOR = "#4c78a8"  # units without kinds: one colour, none of the kinds'


def kind_histogram(values: np.ndarray, kind: np.ndarray | None, title: str, xtitle: str, bins: int = 30,
                   height: int = 320) -> go.Figure:
    """Stacked histograms of one number per unit, a colour per kind (`kind` None: one for all); NaN values (dead
    units) left out."""
    ok = np.isfinite(values)
    lo, hi = (float(values[ok].min()), float(values[ok].max())) if ok.any() else (0.0, 1.0)
    size = (hi - lo) / bins or 1.0
    data = [dict(type="histogram", x=values[ok & m], name=f"{k} ({int((ok & m).sum())})",
                 marker=dict(color=color), xbins=dict(start=lo, end=hi + size, size=size))
            for k, m, color in _groups(kind, len(values))]
    layout = dict(title=dict(text=title), height=height, margin=_margin(), barmode="stack",
                  xaxis=dict(title=dict(text=xtitle)), yaxis=dict(title=dict(text="units")),
                  legend=dict(orientation="h", y=-0.25))
    return go.Figure(data=data, layout=layout)


def composition_graph(graph, part_units: np.ndarray, favoured: np.ndarray | None,
                      selected: int | None = None) -> go.Figure:
    """Categorical units (right, by the class they favour) and the part units (left) whose S input carries most of
    theirs, an edge per carrying link (darker: stronger). A categorical node's customdata is its unit (click it)."""
    cats = [p.unit for p in graph]
    order = sorted(range(len(cats)), key=lambda i: (-1 if favoured is None else favoured[cats[i]], cats[i]))
    y_cat = {cats[i]: r / max(len(cats) - 1, 1) for r, i in enumerate(order)}
    # part units at the mean height of the categorical units they feed: few crossings
    feeds: dict[int, list[float]] = {}
    for p in graph:
        for j in p.carried:
            feeds.setdefault(int(j), []).append(y_cat[p.unit])
    parts = sorted(feeds, key=lambda j: np.mean(feeds[j]))
    y_part = {j: r / max(len(parts) - 1, 1) for r, j in enumerate(parts)}
    top = max((float(p.weights[:p.in_degree].max()) for p in graph if p.in_degree), default=1.0)
    edges: dict[int, tuple[list, list]] = {}  # by strength band: one trace each, not one per edge
    for p in graph:
        for j, w in zip(p.carried, p.weights[:p.in_degree]):
            band = min(int(3 * w / top), 2)
            xs, ys = edges.setdefault(band, ([], []))
            xs += [0, 1, None]
            ys += [y_part[int(j)], y_cat[p.unit], None]
    data = [dict(type="scatter", x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                 line=dict(width=0.6 + band, color=f"rgba(80,80,80,{0.12 + 0.25 * band})"))
            for band, (xs, ys) in sorted(edges.items())]
    label = (lambda u: f"unit {u}") if favoured is None else (lambda u: f"unit {u} → class {favoured[u]}")
    data.append(dict(type="scatter", x=[0] * len(parts), y=[y_part[j] for j in parts], mode="markers",
                     name=f"part units that carry input ({len(parts)} of {len(part_units)})", customdata=parts,
                     marker=dict(color=KIND_COLORS["part"], size=7),
                     hovertemplate="part unit %{customdata}<extra></extra>"))
    data.append(dict(type="scatter", x=[1] * len(cats), y=[y_cat[u] for u in cats], mode="markers",
                     name=f"categorical units ({len(cats)})", customdata=cats,
                     text=[f"{label(p.unit)}: {p.in_degree} parts carry 90 %" for p in graph],
                     marker=dict(color=KIND_COLORS["categorical"], size=9),
                     hovertemplate="%{text}<extra>click to see its parts</extra>"))
    if selected is not None and selected in y_cat:
        data.append(dict(type="scatter", x=[1], y=[y_cat[selected]], mode="markers", hoverinfo="skip",
                         showlegend=False, marker=dict(size=18, color="rgba(0,0,0,0)",
                                                       line=dict(color="black", width=2))))
    height = int(np.clip(160 + 6 * max(len(cats), len(parts)), 480, 1600))  # ~6 px a node: each can be clicked
    layout = dict(height=height, margin=_margin(), clickmode="event+select", legend=dict(orientation="h", y=-0.05),
                  hovermode="closest",
                  title=dict(text="Part units exciting each categorical unit (through S)"),
                  xaxis=dict(visible=False, range=[-0.15, 1.15]), yaxis=dict(visible=False))
    return go.Figure(data=data, layout=layout)


def histogram(values: np.ndarray, title: str, xtitle: str, bins: int = 20, range_: tuple | None = None,
              height: int = 280, ytitle: str = "units", whole: bool = False) -> go.Figure:
    """One number per unit (or per `ytitle`), counted in `bins` equal bins (over `range_`, else the values' own
    range). `whole`: the values are whole numbers (epochs): bins a whole number wide, centred on them, and ticks on
    whole numbers only."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = range_ if range_ is not None else ((float(v.min()), float(v.max())) if len(v) else (0.0, 1.0))
    size = (hi - lo) / bins or 1.0
    xaxis = dict(title=dict(text=xtitle))
    if whole:
        size = float(max(1, int(np.ceil((hi - lo + 1) / bins))))
        lo, hi = lo - 0.5, hi + 0.5
        xaxis.update(tickformat="d", dtick=max(1, int(size)) if hi - lo <= 12 * size else None)
    data = [dict(type="histogram", x=v, xbins=dict(start=lo, end=hi + 1e-9, size=size), marker=dict(color="#1f77b4"))]
    layout = dict(title=dict(text=title), height=height, margin=_margin(), bargap=0.05,
                  xaxis=xaxis, yaxis=dict(title=dict(text=ytitle)))
    return go.Figure(data=data, layout=layout)


def gabor_picture(g, shape: tuple[int, int]) -> np.ndarray:
    """A fitted Gabor (models.analysis.gabor.Gabor) drawn as the filter it stands for, flattened."""
    from models.analysis.gabor import gabor_image

    p = np.array([g.x0, g.y0, g.theta, g.frequency, g.phase, g.sigma_x, g.sigma_y, g.amplitude, g.offset])
    return gabor_image(p, shape).ravel()


def parallel(axes: list[tuple[str, np.ndarray, bool]], target: str, values: np.ndarray, names: list[str],
             height: int = 420) -> go.Figure:
    """Parallel coordinates: an axis per (name, values, log) — a log axis holds log10 of its values and shows them
    as ticks — and a last axis for `target`, which colours the lines."""
    dims = []
    for name, v, log in axes:
        dim = dict(label=name + (" (log)" if log else ""), values=v)
        if log:
            ticks = np.unique(np.round(v, 6))
            dim |= dict(tickvals=ticks.tolist(), ticktext=[f"{10 ** t:g}" for t in ticks])
        dims.append(dim)
    dims.append(dict(label=target, values=values))
    line = dict(color=values, colorscale="Viridis", showscale=True, colorbar=dict(title=dict(text=target)))
    return go.Figure(data=[dict(type="parcoords", dimensions=dims, line=line, customdata=names)],
                     layout=dict(height=height, margin=dict(l=60, r=60, t=60, b=30)))
