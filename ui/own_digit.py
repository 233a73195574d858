"""A digit of the user's own, drawn on a canvas or uploaded, and shown as the model sees it: scaled into 20×20 and
centred by its mass in 28×28, as the dataset's digits were made (models/digits.py)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from models.data import normalize
from models.digits import DigitError, prepare_drawing, prepare_upload
from ui import figures

HOW = ("Draw", "Upload")
CANVAS = 280  # pixels: ten per MNIST pixel


def _drawn(key: str) -> np.ndarray | None:
    from streamlit_drawable_canvas import st_canvas

    left, right = st.columns([2, 3])
    with left:
        result = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS,
                           width=CANVAS, drawing_mode="freedraw", return_image_data=True, key=key)
    try:
        pixels = result.image_data if result is not None and result.json_data else None
        img = None if pixels is None else prepare_drawing(pixels)
    except DigitError:  # an empty or cleared canvas: not an error, a hint
        img = None
    if img is None:
        right.info("Draw one digit in the black box with the mouse (or a finger); the model's answer follows each "
                   "stroke. The canvas's toolbar undoes a stroke or clears it.")
    else:
        right.image(figures.tiles([img.reshape(-1).astype(np.float32)], zoom=5, signed=False),
                    caption=["what the model sees: 28 × 28, framed as the dataset's digits"])
    return img


def _uploaded(key: str) -> np.ndarray | None:
    up = st.file_uploader("A digit image (PNG, JPEG…, at most 2 MB)", type=None, key=key)
    if up is None:
        st.info("Upload a picture of one handwritten digit; it is centred and scaled like the dataset's digits.")
        return None
    try:
        img = prepare_upload(up.getvalue())
    except DigitError as e:
        st.error(str(e))
        return None
    st.image(figures.tiles([img.reshape(-1).astype(np.float32)], zoom=3, signed=False), caption=["what the model sees"])
    return img


def own_digit(how: str, key: str, inputs=normalize) -> tuple[np.ndarray, str]:
    """The input as the model's family reads it (`inputs`: its transform; default normalised) and its caption;
    without a digit yet, a hint and the page stops there."""
    img = _drawn(f"{key}-canvas") if how == "Draw" else _uploaded(f"{key}-upload")
    if img is None:
        st.stop()
    return np.asarray(inputs(img[None])[0], dtype=np.float32), "your drawing" if how == "Draw" else "your digit"


def pick_digit(key: str, split, inputs=normalize, fresh: str | None = None) -> tuple[np.ndarray | None, str]:
    """A test digit of `split` (shared in the URL), a drawing or an upload, as the family reads it, and what to call
    it. `fresh`: the label of a choice of no digit at all (then None)."""
    from ui import url
    from ui.state import keep

    n = len(split)
    linked = url.take("digit", url.integer(0, n - 1), "digit", "digit 0")
    if linked is not None:
        st.session_state.update({f"{key}-mode": "Test digit", f"{key}-digit": linked})
    mode = st.radio("Digit", ["Test digit", *HOW] + ([fresh] if fresh else []), horizontal=True, key=f"{key}-mode")
    if mode == "Test digit":
        keep(f"{key}-digit", 0)
        i = st.number_input(f"Test digit (0 – {n - 1})", 0, n - 1, key=f"{key}-digit")
        url.share(digit=i or None)
        return np.asarray(split.x[i], dtype=np.float32), f"digit {i} (label {int(split.y[i])})"
    url.share(digit=None)  # a digit of the user's own, or none, cannot be shared
    if mode == fresh:
        return None, fresh
    return own_digit(mode, key, inputs)
