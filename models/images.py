"""A user's own image, uploaded or drawn on a canvas, read into grey levels and handed to a domain's framing (the
digits domain frames it as MNIST's digits were made: models/domains/digits.py)."""
from __future__ import annotations

import io

import numpy as np

MAX_BYTES = 2_000_000
MAX_PIXELS = 4096 * 4096


class ImageError(ValueError):
    pass


def prepare_upload(raw: bytes, frame) -> np.ndarray:
    """Image bytes -> `frame` (a domain's own_input) of its grey levels; ImageError (one line) for a file that is
    too large or not an image."""
    from PIL import Image, UnidentifiedImageError

    if len(raw) > MAX_BYTES:
        raise ImageError(f"The file is {len(raw) / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB.")
    try:
        img = Image.open(io.BytesIO(raw))
        if img.width * img.height > MAX_PIXELS:
            raise ImageError(f"The image is {img.width} × {img.height} pixels, too large: at most {MAX_PIXELS:,} "
                             "pixels.")
        img.load()
    except Image.DecompressionBombError:
        raise ImageError(f"The image declares more pixels than it may hold (a decompression bomb), too large: at "
                         f"most {MAX_PIXELS:,} pixels.") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ImageError("The file is not an image that can be read (PNG, JPEG, GIF or BMP).") from e
    if img.mode in ("RGBA", "LA") or "transparency" in img.info:
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img.convert("RGBA"))
    return frame(np.asarray(img.convert("L"), dtype=np.float32))


def prepare_drawing(rgba: np.ndarray, frame) -> np.ndarray:
    """A canvas's RGBA pixels (light strokes on a dark or transparent background) -> `frame` (a domain's own_input)
    of their grey levels."""
    rgba = np.asarray(rgba, dtype=np.float32)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ImageError(f"A drawing is height × width × RGBA pixels, not {rgba.shape}.")
    grey = rgba[..., :3].mean(2) * (rgba[..., 3] / 255.0)  # transparent counts as background
    if grey.max() <= 0:
        raise ImageError("The canvas is empty: draw something.")
    return frame(grey)
