"""The embedded models, so the app works offline at once.

    assets/models/NAME/model.safetensors   float16 weights; family, config and data in the header
    assets/models/NAME/config.json         the run's settings, as the training CLI wrote them
    assets/models/NAME/metrics.jsonl       the run's per-epoch metrics
(The embedded test digits, assets/digits.npz, belong to the digits domain: models/domains/digits.py.)
"""
from __future__ import annotations

from pathlib import Path

from models.checkpoint import EXPORTED

ASSETS = Path(__file__).resolve().parent.parent / "assets"
MODELS = ASSETS / "models"
BENCHMARKS = ASSETS / "benchmarks"  # benchmark folders (models/services/benchmark.py), NAME/benchmark.json
DEFAULT_NAME = "drsae-400x11"  # the 400-unit, T = 11 model at the default lambda


def default_models() -> list[Path]:
    """Folders of the embedded models, the default first."""
    found = sorted(p for p in MODELS.glob("*") if (p / EXPORTED).is_file())
    return sorted(found, key=lambda p: p.name != DEFAULT_NAME)


def embedded_benchmarks() -> list[Path]:
    return sorted(p for p in BENCHMARKS.glob("*") if (p / "benchmark.json").is_file())


def default_model_path() -> Path:
    models = default_models()
    if not models:
        raise FileNotFoundError(f"No embedded model under {MODELS}; the checkout is incomplete.")
    return models[0] / EXPORTED
