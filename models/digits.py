"""A user's own digit, uploaded or drawn, turned into an MNIST-like 28x28 input."""
from __future__ import annotations

import io

import numpy as np

MAX_BYTES = 2_000_000
MAX_PIXELS = 4096 * 4096


class DigitError(ValueError):
    pass


def prepare_upload(raw: bytes) -> np.ndarray:
    """Image bytes -> (28, 28) uint8, white digit on black, fitted into 20x20 and centred by mass as in MNIST."""
    from PIL import Image, UnidentifiedImageError

    if len(raw) > MAX_BYTES:
        raise DigitError(f"The file is {len(raw) / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB.")
    try:
        img = Image.open(io.BytesIO(raw))
        if img.width * img.height > MAX_PIXELS:
            raise DigitError(f"The image is {img.width}x{img.height} pixels; at most {MAX_PIXELS} pixels.")
        img.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise DigitError("The file is not an image that can be read (PNG, JPEG, GIF or BMP).") from e
    if img.mode in ("RGBA", "LA") or "transparency" in img.info:
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img.convert("RGBA"))
    return mnist_like(np.asarray(img.convert("L"), dtype=np.float32))


def prepare_drawing(rgba: np.ndarray) -> np.ndarray:
    """A canvas's RGBA pixels (light strokes on a dark or transparent background) -> (28, 28) uint8 as MNIST's."""
    rgba = np.asarray(rgba, dtype=np.float32)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise DigitError(f"A drawing is height × width × RGBA pixels, not {rgba.shape}.")
    grey = rgba[..., :3].mean(2) * (rgba[..., 3] / 255.0)  # transparent counts as background
    if grey.max() <= 0:
        raise DigitError("The canvas is empty: draw a digit.")
    return mnist_like(grey)


def mnist_like(a: np.ndarray) -> np.ndarray:
    """Grey levels of any size (ink lighter or darker than the paper) -> (28, 28) uint8, white on black, the ink's
    bounding box scaled into 20x20 and centred by its centre of mass, as MNIST's digits were made."""
    from PIL import Image

    a = np.asarray(a, dtype=np.float32)
    if np.median(a) > 127:  # dark ink on light paper: invert to MNIST's white on black
        a = 255 - a
    a = np.clip(a - np.median(a), 0, None)
    if a.max() <= 0:
        raise DigitError("The image is blank: no digit found.")
    ys, xs = np.nonzero(a > 0.2 * a.max())
    a = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = a.shape
    s = 20.0 / max(h, w)
    small = np.asarray(Image.fromarray(a).resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR))
    out = np.zeros((28, 28), dtype=np.float32)
    h, w = small.shape
    top, left = (28 - h) // 2, (28 - w) // 2
    out[top:top + h, left:left + w] = small
    yy, xx = np.mgrid[:28, :28]
    m = out.sum()
    dy, dx = int(round(13.5 - (yy * out).sum() / m)), int(round(13.5 - (xx * out).sum() / m))
    out = np.roll(np.roll(out, dy, 0), dx, 1)
    return np.clip(out / out.max() * 255, 0, 255).astype(np.uint8)
