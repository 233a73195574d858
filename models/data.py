"""MNIST-format data: the four idx files from a folder, or a torchvision download into a cache.

Any dataset in that format (28x28 grey images, 10 classes) works unchanged.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ENV_VAR = "SPARSELAB_DATA"
CACHE_DIR = Path(os.environ.get("SPARSELAB_CACHE", Path.home() / ".cache" / "sparselab"))
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
N_VAL = 10_000  # the paper's 50k/10k split of the 60k training digits


class DataError(RuntimeError):
    """A missing or unreadable dataset; the message says what to do."""


@dataclass
class Split:
    x: torch.Tensor  # (n, 784) float32 as the model family reads them (by default each row of unit L2 norm)
    y: torch.Tensor  # (n,) int64

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int | None) -> "Split":
        return self if n is None else Split(self.x[:n], self.y[:n])


def normalize(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (n, 28, 28) or (n, 784) -> float rows of unit L2 norm, as in the paper."""
    x = torch.from_numpy(np.array(images, copy=True)).reshape(len(images), -1).float()
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


def intensities(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (n, 28, 28) or (n, 784) -> pixel intensities in [0, 1] (what a Bernoulli likelihood reads)."""
    return torch.from_numpy(np.array(images, copy=True)).reshape(len(images), -1).float() / 255.0


def binarized(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Each pixel 1 with probability its intensity, drawn once with `seed`: the same digits give the same bits,
    and the first n digits the same bits whatever follows them (numpy's generator fills row by row)."""
    u = np.random.default_rng(seed).random(tuple(x.shape), dtype=np.float32)
    return (torch.from_numpy(u) < x.detach().cpu().float()).float()


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
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{which} images in {folder} have shape {images.shape}; expected (n, 28, 28).")
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


def fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """Names a test set by its content: a model trained with one dataset and shown another can be told so."""
    h = hashlib.sha1(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    return h.hexdigest()[:12]


@dataclass
class MNIST:
    train: Split
    val: Split
    test: Split
    source: str
    fingerprint: str = ""  # of the whole test set (models/data.py fingerprint), whatever `limit` kept

    def head(self, n: int | None) -> "MNIST":
        if n is None:
            return self
        return MNIST(self.train.head(n), self.val.head(n), self.test.head(n), self.source, self.fingerprint)

    def all_training(self) -> "MNIST":
        """Train on training and validation digits together (the final fit); `val` stays for monitoring."""
        both = Split(torch.cat([self.train.x, self.val.x]), torch.cat([self.train.y, self.val.y]))
        return MNIST(both, self.val, self.test, self.source, self.fingerprint)


@dataclass
class TestSet:
    split: Split
    images: np.ndarray  # (n, 28, 28) uint8, as the files hold them
    labels: np.ndarray
    source: str
    fingerprint: str


def load_test(data_dir: str | Path | None = None, download: bool = True, inputs=normalize) -> TestSet:
    """The test split alone: all that evaluation and analysis read. `inputs`: the model family's input transform."""
    folder = resolve_dir(data_dir, download)
    images, labels = load_pair(folder, "test")
    return TestSet(Split(inputs(images), torch.as_tensor(labels.astype(np.int64))), images, labels, str(folder),
                   fingerprint(images, labels))


def load_mnist(data_dir: str | Path | None = None, limit: int | None = None, download: bool = True,
               inputs=normalize) -> MNIST:
    """Train/validation/test splits, inputs as `inputs` makes them (default: L2-normalised). `limit` keeps the
    first n of each (for fast tests)."""
    folder = resolve_dir(data_dir, download)
    tr_x, tr_y = load_pair(folder, "train")
    te_x, te_y = load_pair(folder, "test")
    if len(tr_x) <= N_VAL:
        raise DataError(f"The training set in {folder} has {len(tr_x)} digits; at least {N_VAL + 1} are needed for the validation split.")
    n_tr = len(tr_x) - N_VAL
    lab = lambda a: torch.as_tensor(a.astype(np.int64))  # noqa: E731
    train = Split(inputs(tr_x[:n_tr]), lab(tr_y[:n_tr])).head(limit)
    val = Split(inputs(tr_x[n_tr:]), lab(tr_y[n_tr:])).head(limit)
    test = Split(inputs(te_x), lab(te_y)).head(limit)
    return MNIST(train, val, test, source=str(folder), fingerprint=fingerprint(te_x, te_y))
