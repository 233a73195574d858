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


def own_digit(how: str, key: str) -> tuple[np.ndarray, str]:
    """The normalised input and its caption; without a digit yet, a hint and the page stops there."""
    img = _drawn(f"{key}-canvas") if how == "Draw" else _uploaded(f"{key}-upload")
    if img is None:
        st.stop()
    return normalize(img[None])[0], "your drawing" if how == "Draw" else "your digit"
