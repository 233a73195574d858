import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.digits import MAX_BYTES, DigitError, prepare_upload


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
