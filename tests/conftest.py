import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "mnist"
if "SPARSELAB_DATA" not in os.environ and SHARED.is_dir():
    os.environ["SPARSELAB_DATA"] = str(SHARED)
DATA_DIR = os.environ.get("SPARSELAB_DATA")  # for tests that unset it and start a trainer later

torch.set_num_threads(min(2, os.cpu_count() or 1))
os.environ.setdefault("SPARSELAB_MAX_TRAINERS", "4")  # tests start several tiny trainers at once


@pytest.fixture(scope="session")
def mnist_small():
    """The first 3,000 digits of each split of the real dataset ($SPARSELAB_DATA, else downloaded)."""
    from models.domains import dataset, spec

    return dataset(spec(), limit=3000)[0]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, mnist_small):
    """A small DrSAE trained briefly (2 + 4 epochs on 3,000 digits): shared by the analysis and page tests."""
    from models.families.drsae import DrSAEConfig
    from models.training.config import TrainConfig
    from models.training.loop import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    mc = DrSAEConfig(hidden=64, unroll=5, sparsity=0.1)
    tc = TrainConfig(pretrain_epochs=2, epochs=4, batch_size=50, limit=3000)
    history = train(mc, tc, out, data=mnist_small, device="cpu")
    return out, history


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory):
    """A small rectified-Gaussian VAE (layers 24, 12; blocks of 32) trained 3 epochs on 2,000 digits (intensities)."""
    from models.data import intensities
    from models.domains import dataset, spec
    from models.families import get
    from models.families.rg_vae import RGVAEConfig
    from models.training.config import train_config
    from models.training.loop import train

    out = tmp_path_factory.mktemp("runs") / "tiny-vae"
    data = dataset(spec(), limit=2000, inputs=intensities)[0]
    tc = train_config(get("rg-vae"), epochs=3, limit=2000)
    history = train(RGVAEConfig(layers="24,12", width=32, warmup=1.0), tc, out, data=data, device="cpu")
    return out, history, data


@pytest.fixture
def digits_in_cache(monkeypatch, tmp_path):
    """The app shows its embedded sample (no $SPARSELAB_DATA) while a trainer it starts finds the digits where a
    download would have put them: the cache ($SPARSELAB_CACHE), holding the real files."""
    from models.domains import digits

    if not DATA_DIR:
        pytest.skip("no dataset folder to put in the cache")
    raw = tmp_path / "cache" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in digits.FILES.values():
        (raw / stem).symlink_to(digits._find(Path(DATA_DIR), stem))
    monkeypatch.setenv("SPARSELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(digits, "CACHE_DIR", tmp_path / "cache")
