"""A sample of the user's own, drawn on a canvas or uploaded, where the data's domain takes one (digits: scaled into
20×20 and centred by its mass in 28×28, as the dataset's digits were made: models/domains/digits.py), shown as the model
sees it; and the picker of a test sample, a drawing or an upload."""
from __future__ import annotations

import numpy as np
import streamlit as st

from models.images import ImageError, prepare_drawing, prepare_upload
from ui import figures
from ui.text import plain

HOW = ("Draw", "Upload")
CANVAS = 280  # pixels: ten per MNIST pixel


def own_modes(domain) -> list[str]:
    """The ways of bringing a sample of one's own that the domain takes (none for most)."""
    return list(HOW) if domain.own_input is not None else []


def _drawn(key: str, domain) -> np.ndarray | None:
    from streamlit_drawable_canvas import st_canvas

    left, right = st.columns([2, 3])
    with left:
        # a line above the box: the canvas's toolbar floats there on hover, over whatever is drawn above it
        st.caption("Draw in the box; its toolbar (undo, clear) shows here on hover.")
        result = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS,
                           width=CANVAS, drawing_mode="freedraw", return_image_data=True, key=key)
    try:
        pixels = result.image_data if result is not None and result.json_data else None
        img = None if pixels is None else prepare_drawing(pixels, domain.own_input)
    except ImageError:  # an empty or cleared canvas: not an error, a hint
        img = None
    if img is None:
        right.info(f"Draw one {domain.noun} in the black box with the mouse (or a finger); the model's answer follows "
                   "each stroke. The canvas's toolbar undoes a stroke or clears it.")
    else:
        right.image(figures.tiles([img.reshape(-1).astype(np.float32)], zoom=5, signed=False, shape=img.shape),
                    caption=[f"what the model sees: {img.shape[0]} × {img.shape[1]}, framed as the dataset's "
                             f"{domain.nouns}"])
    return img


@st.cache_data(max_entries=16, show_spinner=False)
def _framed_upload(raw: bytes, domain_name: str) -> np.ndarray:
    """An uploaded file framed as the domain's samples, decoded once: a slider move does not decode it again."""
    from models.domains import get

    return prepare_upload(raw, get(domain_name).own_input)


def _uploaded(key: str, domain) -> np.ndarray | None:
    up = st.file_uploader(f"A {domain.noun} image (PNG, JPEG…, at most 2 MB)", type=None, key=key)
    if up is None:
        st.info(f"Upload a picture of one {domain.noun}; it is framed like the dataset's {domain.nouns}.")
        return None
    try:
        img = _framed_upload(up.getvalue(), domain.name)
    except ImageError as e:
        st.error(plain(e))
        return None
    st.image(figures.tiles([img.reshape(-1).astype(np.float32)], zoom=3, signed=False, shape=img.shape),
             caption=["what the model sees"])
    return img


def own_sample(how: str, key: str, samples) -> tuple[np.ndarray, str]:
    """The input as the model's family reads it (`samples.inputs`: ui.compute.TestSamples's transform) and its
    caption; without a sample yet, a hint and the page stops there."""
    domain = samples.domain
    img = _drawn(f"{key}-canvas", domain) if how == "Draw" else _uploaded(f"{key}-upload", domain)
    if img is None:
        st.stop()
    return (np.asarray(samples.inputs(img[None])[0], dtype=np.float32),
            "your drawing" if how == "Draw" else f"your {domain.noun}")


def pick_sample(key: str, samples, fresh: str | None = None) -> tuple[np.ndarray | None, str]:
    """A test sample of `samples` (ui.compute.TestSamples; its number shared in the URL), a drawing or an upload
    where the domain takes them, as the family reads it, and what to call it. `fresh`: the label of a choice of no
    sample at all (then None)."""
    from ui import url
    from ui.state import keep

    split, noun = samples.split, samples.noun
    n = len(split)
    linked = url.take("digit", url.integer(0, n - 1), noun, f"{noun} 0")
    if linked is not None:
        st.session_state.update({f"{key}-mode": f"Test {noun}", f"{key}-digit": linked})
    modes = [f"Test {noun}", *own_modes(samples.domain)] + ([fresh] if fresh else [])
    if st.session_state.get(f"{key}-mode") not in modes:  # another model's choice (a drawing on vectors)
        st.session_state[f"{key}-mode"] = modes[0]
    mode = st.radio(noun.capitalize(), modes, horizontal=True, key=f"{key}-mode")
    if mode == modes[0]:
        keep(f"{key}-digit", 0)
        if st.session_state[f"{key}-digit"] >= n:  # a larger test set's number
            st.session_state[f"{key}-digit"] = 0
        i = st.number_input(f"Test {noun} (0 – {n - 1})", 0, n - 1, key=f"{key}-digit")
        url.share(digit=i or None)
        label = "" if split.y is None else f", a {samples.classes[int(split.y[i])]}"
        return np.asarray(split.x[i], dtype=np.float32), f"test {noun} no. {i}{label}"
    url.share(digit=None)  # a sample of the user's own, or none, cannot be shared
    if mode == fresh:
        return None, fresh
    return own_sample(mode, key, samples)
