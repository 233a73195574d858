"""Digits: 28 × 28 grey images in ten classes, in the four MNIST-format idx files of a folder (`--data-dir` or
$SPARSELAB_DATA), or downloaded through torchvision into the cache. Any dataset in that format (Fashion-MNIST, say)
works unchanged. The app shows the folder's test set, or without one the 1,000 test digits embedded in assets/.
"""
from __future__ import annotations

import gzip
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.data import CACHE_DIR, ENV_VAR, DataError, fingerprint
from models.images import ImageError
from models.domains.registry import Arrays, Domain, Layout, Raw, Shown, register
from models.settings import Config

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
N_VAL = 10_000  # the paper's 50k/10k split of the 60k training digits
SIDE = 28
SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "digits.npz"  # `images` (n, 28, 28) uint8, `labels` (n,)
SAMPLE_FROM = "ad0010bbd1a7"  # fingerprint of the test set the embedded digits were drawn from


@dataclass(frozen=True)
class DigitsConfig(Config):
    """No settings: which digits is where the folder points (a machine's, not a model's, choice)."""


def read_idx(path: Path) -> np.ndarray:
    """Parse one idx file (gzipped or not) into a numpy array, checking its header against its size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} cannot be read ({e}). Replace it with an intact copy.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte idx file (bad magic number). Replace it with an intact copy.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise DataError(f"{path} is truncated or corrupt: header says {shape}, file has {len(raw) - header} bytes of data.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(
        f"{folder} does not hold {stem}[.gz]. A data folder needs the four MNIST-format files "
        f"({', '.join(FILES.values())}); pass one with --data-dir or ${ENV_VAR}."
    )


def load_pair(folder: Path, which: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(_find(folder, FILES[f"{which}_images"]))
    labels = read_idx(_find(folder, FILES[f"{which}_labels"]))
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{which} images in {folder} have shape {images.shape}; expected (n, {SIDE}, {SIDE}).")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{which} labels in {folder} do not match the images ({labels.shape} vs {len(images)} images).")
    if labels.max(initial=0) > 9:
        raise DataError(f"{which} labels in {folder} go up to {labels.max()}; expected 10 classes (0-9).")
    return images, labels


def resolve_dir(data_dir: str | Path | None = None, download: bool = True) -> Path:
    """The folder to read: the argument, else $SPARSELAB_DATA, else a torchvision download into the cache."""
    chosen = data_dir or os.environ.get(ENV_VAR)
    if chosen:
        folder = Path(chosen).expanduser()
        if not folder.is_dir():
            raise DataError(f"Data folder {folder} does not exist. Point --data-dir or ${ENV_VAR} at a folder holding the four MNIST idx files.")
        return folder
    raw = CACHE_DIR / "MNIST" / "raw"
    if all((raw / (s + ".gz")).is_file() or (raw / s).is_file() for s in FILES.values()):
        return raw
    if not download:
        raise DataError(f"No dataset found: pass --data-dir, set ${ENV_VAR}, or allow a download into {CACHE_DIR}.")
    try:
        from torchvision.datasets import MNIST

        MNIST(root=str(CACHE_DIR), download=True)
    except Exception as e:  # no network, no torchvision, a server error...
        raise DataError(
            f"MNIST could not be downloaded into {CACHE_DIR} ({e}). Without internet, pass --data-dir DIR "
            f"or set ${ENV_VAR}=DIR, DIR holding the four MNIST idx files."
        ) from e
    return raw


MIRROR = ("ossci-datasets.s3.amazonaws.com", 443)  # torchvision's first MNIST mirror


_probed: dict = {}  # mirror -> (time, reason it failed or ""): a sweep of 40 runs probes once a minute


def _offline() -> str:
    """Why the mirror cannot be reached ("" when it can)."""
    at, why = _probed.get(MIRROR, (0.0, ""))
    if time.monotonic() - at > 60:
        try:
            socket.create_connection(MIRROR, timeout=3).close()
            why = ""
        except OSError as e:
            why = e.strerror or str(e) or type(e).__name__
        _probed[MIRROR] = (time.monotonic(), why)
    return why


def ready(cfg: DigitsConfig, data_dir=None) -> None:
    """A trainer will find the digits: the folder holds the four files, or the cache does, or the mirror answers."""
    try:
        folder = resolve_dir(data_dir, download=False)
    except DataError:
        if data_dir or os.environ.get(ENV_VAR):
            raise
        why = _offline()
        if why:
            raise DataError(f"No digits to train on: no data folder is set and MNIST cannot be downloaded ({why}). "
                            f"Set ${ENV_VAR}=DIR, DIR holding the four MNIST idx files, and restart the app.") from None
        return
    for stem in FILES.values():
        _find(folder, stem)


def load(cfg: DigitsConfig, data_dir=None, download: bool = True) -> Raw:
    """The folder's 60k training digits split 50k / 10k (the paper's validation split), and its test digits."""
    folder = resolve_dir(data_dir, download)
    tr_x, tr_y = load_pair(folder, "train")
    te_x, te_y = load_pair(folder, "test")
    if len(tr_x) <= N_VAL:
        raise DataError(f"The training set in {folder} has {len(tr_x)} digits; at least {N_VAL + 1} are needed for the validation split.")
    n_tr = len(tr_x) - N_VAL
    return Raw(Arrays(tr_x[:n_tr], tr_y[:n_tr]), Arrays(tr_x[n_tr:], tr_y[n_tr:]), Arrays(te_x, te_y), str(folder),
               fingerprint(te_x, te_y))


def load_test(cfg: DigitsConfig | None = None, data_dir=None, download: bool = True) -> Shown:
    """The test digits alone (all that evaluation reads)."""
    folder = resolve_dir(data_dir, download)
    images, labels = load_pair(folder, "test")
    return Shown(Arrays(images, labels), f"{len(labels):,} test digits of {folder.name}", fingerprint(images, labels))


def sample() -> Shown:
    """The 1,000 test digits embedded in assets/: the app works offline at once."""
    with np.load(SAMPLE, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    return Shown(Arrays(images, labels), f"{len(labels):,} embedded test digits", SAMPLE_FROM)


def shown(cfg: DigitsConfig) -> Shown:
    """The configured folder's test set ($SPARSELAB_DATA), else the embedded sample (saying why, if it failed)."""
    if os.environ.get(ENV_VAR):
        try:
            return load_test(cfg, download=False)
        except DataError as e:
            s = sample()
            s.warning = f"{e} Using the embedded sample of 1,000 test digits instead."
            return s
    return sample()


def mnist_like(a: np.ndarray) -> np.ndarray:
    """Grey levels of any size (ink lighter or darker than the paper) -> (28, 28) uint8, white on black, the ink's
    bounding box scaled into 20x20 and centred by its centre of mass, as MNIST's digits were made."""
    from PIL import Image

    a = np.asarray(a, dtype=np.float32)
    if np.median(a) > 127:  # dark ink on light paper: invert to MNIST's white on black
        a = 255 - a
    a = np.clip(a - np.median(a), 0, None)
    if a.max() <= 0:
        raise ImageError("The image is blank: no digit found.")
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


DOMAIN = register(Domain(
    name="digits",
    title="Handwritten digits (28 × 28, ten classes)",
    noun="digit",
    nouns="digits",
    summary="28 × 28 grey images of handwritten digits in ten classes, read from MNIST-format idx files (any such "
            "dataset works: Fashion-MNIST, say).",
    config=DigitsConfig,
    layout=lambda cfg: Layout(SIDE * SIDE, (SIDE, SIDE), tuple(str(k) for k in range(10)), unit_interval=True),
    load=load,
    shown=shown,
    own_input=mnist_like,
    load_test=load_test,
    sample=lambda cfg: sample(),
    ready=ready,
    train_size=lambda cfg: 60_000 - N_VAL,  # a standard set: its 60,000 training digits, less the validation split
))
