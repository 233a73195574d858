"""Frames in the page: a view that steps through precomputed frames (the Dynamics steps, the Filters epochs) sends
them all once, and the browser switches them (slider, ▶ Play, ← → and space) without a server round trip. The
server hears the step once, when the user lets go of the slider or Play stops (what other widgets and the URL need).

A panel is one of: images (a picture per frame), a heatmap whose column for the step is marked, lines with the step
marked, and bars of the step's values. A st.components.v2 component: HTML, CSS and JS inline, no build step."""
from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

CSS = """
.stepper { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #31333f); }
.controls { display: flex; align-items: center; gap: 12px; margin-bottom: 8px; flex-wrap: wrap; }
.controls input[type=range] { flex: 1; min-width: 160px; accent-color: var(--st-primary-color, #ff4b4b); }
.controls .label { min-width: 7em; font-variant-numeric: tabular-nums; }
.controls .keys { opacity: 0.6; font-size: 0.8em; }
button { font: inherit; padding: 4px 12px; border-radius: 8px; cursor: pointer; color: inherit;
         border: 1px solid rgba(128,128,128,0.4); background: var(--st-secondary-background-color, transparent); }
.grid { display: grid; gap: 16px; }
.col { min-width: 0; }
.panel { position: relative; margin-bottom: 14px; }
.heading { font-weight: 600; margin-bottom: 4px; }
.title { font-weight: 600; font-size: 0.95em; margin-bottom: 4px; padding-right: 64px; }  /* room for ⤓ PNG */
.caption { opacity: 0.7; font-size: 0.85em; margin-top: 2px; }
.save { position: absolute; top: 0; right: 0; font-size: 0.75em; padding: 1px 6px; }
.imgs { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; text-align: center; min-width: 0; max-width: 100%; }
figure img { image-rendering: pixelated; display: block; max-width: 100%; height: auto; }  /* never wider than its
   column: a strip of bars scaled up shrinks back into a narrow one */
figcaption { font-size: 0.8em; opacity: 0.7; }
.hmctl { font-size: 0.8em; margin-bottom: 4px; }
.hmctl select { font: inherit; color: inherit; background: var(--st-secondary-background-color, transparent);
                border: 1px solid rgba(128,128,128,0.4); border-radius: 6px; }
.tip { position: absolute; pointer-events: none; background: rgba(255,255,255,0.95); color: #222; font-size: 12px;
       padding: 2px 6px; border: 1px solid #999; border-radius: 4px; white-space: nowrap; z-index: 2; }
"""

_COMPONENT = st.components.v2.component("sparselab_stepper", css=CSS,
                                        js=(Path(__file__).with_name("stepper.js")).read_text())


@dataclass
class Panel:
    kind: str  # images | heatmap | lines | bars
    name: str  # in the downloaded file's name
    col: int = 0  # which column of the grid
    title: str = ""
    titles: list[str] | None = None  # a title per frame instead ("Prediction after step 3: 7")
    heading: str = ""  # a line above the title (a column's model)
    caption: str = ""
    spec: dict = field(default_factory=dict)  # what the kind draws (see the constructors below)

    def data(self) -> tuple[dict, str]:
        """What the browser gets of this panel, and its signature; worked out once (a cached panel is reused on
        every rerun: its frames are not copied and hashed again)."""
        if "_data" not in self.__dict__:
            body = {k: v for k, v in asdict(self).items() if k != "spec"} | self.spec
            self.__dict__["_data"] = body, hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return self.__dict__["_data"]


def png(rgb: np.ndarray) -> str:
    """An (h, w, 3) uint8 picture as a data URL."""
    from PIL import Image

    buf = io.BytesIO()
    rgb = np.ascontiguousarray(rgb)
    img = Image.fromarray(rgb)
    # each colour as one number: a 1-D unique, several times faster than unique rows
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    if len(np.unique(packed)) <= 256:  # a LUT's colours (every picture here): a palette PNG is exact, and a third
        img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)  # of the bytes
    img.save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def images(name: str, frames: list[list[np.ndarray]], captions: list[list[str]], scale: int = 1, **kw) -> Panel:
    """`frames[t]`: the pictures (RGB arrays) shown at step t + 1, each with its caption; the browser draws them
    `scale` times larger, pixels kept sharp (a small PNG to send, a large picture to see)."""
    cache: dict[bytes, str] = {}  # a picture repeated across frames (the input) is encoded once

    def url(a):
        k = a.tobytes() + bytes(str(a.shape), "ascii")
        if k not in cache:
            cache[k] = png(a)
        return cache[k]
    return Panel("images", name, spec={"frames": [[url(a) for a in f] for f in frames], "captions": captions,
                                       "scale": scale}, **kw)


SCALES = ("linear", "row", "log")  # one colour scale for all; each row on its own maximum; log (the browser switches)


def heatmap(name: str, z: np.ndarray, rows: list[str], groups: list[str] | None = None,
            units: list[int] | None = None, scale: str = "linear", **kw) -> Panel:
    """`z`: (rows, steps); the step's column is marked. `groups`: a name per row (rows of a group together),
    drawn beside them; `units`: a unit per row, reported when its row is clicked (stepper's `on_unit`); `scale`: the
    colour scale it opens with (SCALES)."""
    z = np.asarray(z, dtype=float)
    return Panel("heatmap", name, spec={"z": np.round(z, 5).tolist(), "rows": rows, "vmin": float(min(z.min(initial=0), 0)),
                                        "vmax": float(z.max(initial=1e-9)), "groups": groups, "units": units,
                                        "scale": scale}, **kw)


def lines(name: str, x, series: dict[str, np.ndarray], colors: dict[str, str], ytitle: str = "", **kw) -> Panel:
    return Panel("lines", name, spec={"x": [int(v) for v in x], "ytitle": ytitle, "series": [
        {"name": k, "y": np.round(np.asarray(v, dtype=float), 5).tolist(), "color": colors.get(k, "#4c78a8")}
        for k, v in series.items()]}, **kw)


def bars(name: str, labels: list[str], values: np.ndarray, vmax: float | None = None, xtitle: str = "",
         ytitle: str = "", **kw) -> Panel:
    """`values`: (steps, bars); the step's row is drawn, its largest bar in red."""
    return Panel("bars", name, spec={"labels": labels, "values": np.round(np.asarray(values, dtype=float), 5).tolist(),
                                     "vmax": vmax, "xtitle": xtitle, "ytitle": ytitle}, **kw)


def payload(panels: list[Panel], steps: int, step: int, name: str, label: str, widths: list[float],
            interval: float, steps_named: list[str] | None = None) -> dict:
    """What the browser gets: every frame of every panel, and a signature of them (a new one rebuilds the view at
    the server's step; the same one keeps the step the user is at)."""
    body, sigs = zip(*(p.data() for p in panels)) if panels else ((), ())
    sig = hashlib.sha1(json.dumps([sigs, steps, widths]).encode()).hexdigest()[:16]
    return {"panels": list(body), "steps": int(steps), "step": int(step), "name": name, "label": label,
            "widths": widths, "interval": int(interval * 1000), "sig": sig, "named": steps_named}


def stepper(panels: list[Panel], steps: int, key: str, name: str, label: str = "Step t",
            widths: list[float] | None = None, interval: float = 0.6, steps_named: list[str] | None = None,
            on_unit=None) -> int:
    """Draw the frames; return the step (1 .. steps) the browser last reported (the state `key` holds it; set it
    before the call to move the view, as a link's step= does). `steps_named`: what the slider says at each step
    ("epoch 16"), instead of "step t of n". `on_unit(unit)`: called (before the next run) with the unit of a
    heatmap row the user clicked."""
    step = int(min(max(st.session_state.get(key, steps), 1), steps))
    data = payload(panels, steps, step, name, label, widths or [1.0], interval, steps_named)
    callbacks = {"on_step_change": lambda: _take(key)}
    if on_unit is not None:
        callbacks["on_unit_change"] = lambda: _clicked(key, on_unit)
    _COMPONENT(key=f"{key}-view", data=data, default={"step": step}, **callbacks)
    return step


def _clicked(key: str, on_unit) -> None:
    got = st.session_state.get(f"{key}-view", {})
    unit = got.get("unit") if isinstance(got, dict) else getattr(got, "unit", None)
    if unit is not None:
        on_unit(int(unit))


def _take(key: str) -> None:
    """The browser let go at a step: the page's state follows it (before the script runs again)."""
    got = st.session_state.get(f"{key}-view", {})
    step = got.get("step") if isinstance(got, dict) else getattr(got, "step", None)
    if step is not None:
        st.session_state[key] = int(step)
