"""The embedded default: small trained models and a sample of test digits, so the app works offline at once.

    assets/models/NAME/model.safetensors   float16 weights, config in the header
    assets/models/NAME/config.json         the run's settings, as the training CLI wrote them
    assets/models/NAME/metrics.jsonl       the run's per-epoch metrics
    assets/digits.npz                      `images` (n, 28, 28) uint8 and `labels` (n,) from the MNIST test set
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.checkpoint import EXPORTED
from models.data import Split, normalize

ASSETS = Path(__file__).resolve().parent.parent / "assets"
MODELS = ASSETS / "models"
DIGITS = ASSETS / "digits.npz"
DEFAULT_NAME = "drsae-400x11"  # the 400-unit, T = 11 model at the default lambda
DIGITS_FROM = "ad0010bbd1a7"  # fingerprint (models/data.py) of the test set the embedded digits were drawn from


def default_models() -> list[Path]:
    """Folders of the embedded models, the default first."""
    found = sorted(p for p in MODELS.glob("*") if (p / EXPORTED).is_file())
    return sorted(found, key=lambda p: p.name != DEFAULT_NAME)


def default_model_path() -> Path:
    models = default_models()
    if not models:
        raise FileNotFoundError(f"No embedded model under {MODELS}; the checkout is incomplete.")
    return models[0] / EXPORTED


def sample_images() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DIGITS) as f:
        return f["images"], f["labels"]


def sample_digits(inputs=normalize) -> Split:
    """The embedded digits, as `inputs` (the model family's input transform) makes them."""
    images, labels = sample_images()
    return Split(inputs(images), torch.from_numpy(labels.astype(np.int64)))
