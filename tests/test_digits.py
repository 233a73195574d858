import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.domains.digits import mnist_like
from models.images import MAX_BYTES, ImageError as DigitError, prepare_drawing as drawing, prepare_upload as upload


def prepare_upload(raw):
    return upload(raw, mnist_like)


def prepare_drawing(rgba):
    return drawing(rgba, mnist_like)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_dark_ink_on_paper_becomes_a_centred_mnist_digit():
    img = Image.new("L", (300, 200), 255)
    ImageDraw.Draw(img).line([(40, 20), (60, 180)], fill=0, width=18)  # a "1" far off-centre
    out = prepare_upload(png(img))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255 and out[0].max() == 0 and out[:, 0].max() == 0  # white ink, black border
    ys, xs = np.nonzero(out)
    assert 18 <= ys.max() - ys.min() + 1 <= 21  # the long side fitted into 20 pixels
    w = out.astype(float)
    cy, cx = (np.mgrid[:28, :28] * w).sum((1, 2)) / w.sum()
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1


def test_rgba_with_transparent_background():
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse([10, 10, 54, 54], outline=(0, 0, 0, 255), width=6)
    out = prepare_upload(png(img))
    assert out[14, 14] < out.max() and out.max() == 255


def test_bad_uploads_get_clear_messages():
    with pytest.raises(DigitError, match="not an image"):
        prepare_upload(b"%PDF-1.4 definitely not a picture")
    with pytest.raises(DigitError, match="limit"):
        prepare_upload(b"\x89PNG" + b"\x00" * (MAX_BYTES + 1))
    with pytest.raises(DigitError, match="blank"):
        prepare_upload(png(Image.new("L", (50, 50), 255)))


def canvas(background_alpha: int) -> np.ndarray:
    """A 280×280 RGBA canvas, a white stroke (a "7") on black, or on transparent pixels with alpha 0."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, background_alpha))
    ImageDraw.Draw(img).line([(60, 40), (200, 40), (110, 250)], fill=(255, 255, 255, 255), width=22)
    return np.asarray(img)


def test_a_drawing_is_framed_as_the_dataset_digits():
    out = prepare_drawing(canvas(255))
    assert out.shape == (28, 28) and out.dtype == np.uint8 and out.max() == 255
    ys, xs = np.nonzero(out > 0.2 * 255)
    assert 19 <= ys.max() - ys.min() + 1 <= 21  # the taller side in 20 pixels
    w = out.astype(float)
    cy, cx = (np.mgrid[:28, :28] * w).sum((1, 2)) / w.sum()
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1  # centred by mass
    assert out[:, :4].max() == 0 and out[:, -4:].max() == 0  # the narrow side keeps an empty margin
    assert w[ys.min():ys.min() + 3].sum() > w[ys.max() - 2:ys.max() + 1].sum()  # the 7's bar on top, not flipped
    # a transparent background is the same drawing
    assert np.abs(prepare_drawing(canvas(0)).astype(int) - out.astype(int)).max() <= 1


def test_an_empty_or_malformed_canvas_gets_a_clear_message():
    with pytest.raises(DigitError, match="empty"):
        prepare_drawing(np.zeros((280, 280, 4), np.uint8))
    with pytest.raises(DigitError, match="empty"):  # black, fully opaque: cleared
        prepare_drawing(np.dstack([np.zeros((50, 50, 3), np.uint8), np.full((50, 50), 255, np.uint8)]))
    with pytest.raises(DigitError, match="RGBA"):
        prepare_drawing(np.zeros((28, 28)))
