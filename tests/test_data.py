import gzip
import os

import numpy as np
import pytest
import torch

from models.data import DataError
from models.domains.digits import read_idx
from tests.data import digits as load_mnist


def write_idx(path, arr, gz=True):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def make_dataset(folder, n_train=10_050, n_test=30, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sfx = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_train, 28, 28)), gz)
    write_idx(folder / f"train-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_train), gz)
    write_idx(folder / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_test, 28, 28)), gz)
    write_idx(folder / f"t10k-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_test), gz)
    return folder


def test_real_mnist_splits_and_normalisation(mnist_small):
    d = load_mnist()
    assert (len(d.train), len(d.val), len(d.test)) == (50_000, 10_000, 10_000)
    assert d.train.x.shape == (50_000, 784) and d.train.x.dtype == torch.float32
    torch.testing.assert_close(d.test.x.norm(dim=1), torch.ones(10_000))
    assert sorted(d.test.y.unique().tolist()) == list(range(10))
    # the validation split is the last 10k training digits, disjoint from the first 50k
    assert not torch.equal(d.val.x[0], d.train.x[0])


def test_any_dataset_in_the_format_works(tmp_path):
    folder = make_dataset(tmp_path / "fashion", gz=False)
    d = load_mnist(folder)
    assert (len(d.train), len(d.val), len(d.test)) == (50, 10_000, 30)
    raw = read_idx(folder / "t10k-images-idx3-ubyte")
    x = torch.from_numpy(raw.reshape(30, -1).astype(np.float32))
    torch.testing.assert_close(d.test.x, x / x.norm(dim=1, keepdim=True))


def test_environment_variable_is_read(tmp_path, monkeypatch):
    folder = make_dataset(tmp_path / "env")
    monkeypatch.setenv("SPARSELAB_DATA", str(folder))
    assert load_mnist().source == str(folder)


def test_missing_folder_and_file_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    folder = make_dataset(tmp_path / "partial")
    os.remove(folder / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*--data-dir"):
        load_mnist(folder)


def test_corrupt_files_give_clear_errors(tmp_path):
    folder = make_dataset(tmp_path / "bad")
    good = gzip.open(folder / "t10k-images-idx3-ubyte.gz").read()
    gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb").write(good[:-100])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_mnist(folder)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot be read"):
        load_mnist(folder)
    gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb").write(b"\x01\x02\x03\x04" + good[4:])
    with pytest.raises(DataError, match="magic"):
        load_mnist(folder)


def test_no_dataset_and_no_download_says_what_to_do(tmp_path, monkeypatch):
    import models.domains.digits as data

    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    with pytest.raises(DataError, match="--data-dir"):
        load_mnist(download=False)
