"""The data domains (models/domains): each loader on constructed inputs with known answers, and every bad vectors
file refused in one line."""
import json
import pickle

import numpy as np
import pytest
import torch

from models import cli
from models.data import DataError, intensities
from models.domains import all_domains, dataset, spec, spec_of
from models.domains import patches, synthetic
from models.families import get as family


def test_the_registry_finds_every_domain_and_saved_runs_without_one_are_digits():
    assert [d.name for d in all_domains()] == ["digits", "patches", "synthetic", "vectors"]
    assert spec_of({"model": {}, "train": {}}).domain.name == "digits"  # a run from before domains
    saved = {"domain": {"name": "patches", "settings": {"patch_size": 8}}}
    s = spec_of(saved)
    assert s.domain.name == "patches" and s.cfg.patch_size == 8 and s.cfg.whitening == "1/f"  # the rest: defaults
    assert spec_of({"domain": s.to_dict()}) == s and json.loads(s.key) == s.to_dict()
    with pytest.raises(ValueError, match="unknown data domain 'sounds'"):
        spec_of({"domain": {"name": "sounds"}})
    with pytest.raises(ValueError, match="--patch-size must be one of 8, 12, 16"):
        spec("patches", patch_size=10)


# -- patches ---------------------------------------------------------------------------------------


def test_the_1_over_f_filter_flattens_a_1_over_f_spectrum():
    """An image whose amplitude spectrum falls as 1/ρ (natural images' law), whitened: its radially averaged amplitude
    is the filter's low-pass exp(−(ρ/f₀)⁴) times a constant, so divided by that it is flat (within 10 % from 0.02 to
    0.3 cycles per pixel)."""
    n = 256
    rng = np.random.default_rng(0)
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    rho = np.hypot(fx, fy)
    spectrum = np.where(rho > 0, 1 / np.maximum(rho, 1e-9), 0) * np.exp(2j * np.pi * rng.random((n, n)))
    img = np.real(np.fft.ifft2(spectrum))
    white = np.abs(np.fft.fft2(patches.whiten_image(img)))
    lowpass = np.exp(-(rho / patches.F0) ** 4)
    bins = np.linspace(0.02, 0.3, 15)
    level = [np.mean(white[(rho >= a) & (rho < b)] / lowpass[(rho >= a) & (rho < b)]) for a, b in zip(bins, bins[1:])]
    assert max(level) / min(level) < 1.10
    # the image itself was far from flat over the same range
    raw = np.abs(np.fft.fft2(img))
    raw_level = [np.mean(raw[(rho >= a) & (rho < b)]) for a, b in zip(bins, bins[1:])]
    assert max(raw_level) / min(raw_level) > 5


def test_zca_whitens_to_an_identity_covariance():
    """ZCA on correlated data: the whitened covariance's eigenvalues are λ / (λ + ε mean λ), within 1 % of 1 for every
    component far above the regularisation (λ > 100 ε mean λ), and never above 1."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((16, 16)) * np.linspace(0.1, 3, 16)
    x = rng.standard_normal((20000, 16)) @ A.T
    x -= x.mean(0)
    lam = np.linalg.eigvalsh(x.T @ x / len(x))
    white = x @ patches.zca(x)
    got = np.linalg.eigvalsh(white.T @ white / len(white))
    big = lam > 100 * patches.ZCA_EPSILON * lam.mean()
    assert big.sum() >= 4 and np.all(np.abs(got[big] - 1) < 0.01) and got.max() < 1 + 1e-6
    assert np.allclose(sorted(got), sorted(lam / (lam + patches.ZCA_EPSILON * lam.mean())), rtol=1e-6)


def test_no_test_patch_overlaps_a_training_patch():
    rng = np.random.default_rng(2)
    shape, size = (427, 640), 16
    spans = {}
    for name, region in patches.REGIONS.items():
        corners = patches.positions(shape, size, region, 5000, rng)
        spans[name] = (corners[:, 1].min(), corners[:, 1].max() + size - 1)  # the columns its pixels cover
        assert corners[:, 0].min() >= 0 and corners[:, 0].max() + size <= shape[0]
    assert spans["train"][1] < spans["val"][0] and spans["val"][1] < spans["test"][0] and spans["test"][1] < 640
    # and the patches cut are the pixels at those corners
    img = np.arange(20 * 30, dtype=float).reshape(20, 30)
    p = patches.cut(img, np.array([[2, 5]]), 3)
    assert p.reshape(3, 3).tolist() == img[2:5, 5:8].tolist()


def test_the_patches_domain_loads_and_is_cached_on_disk(tmp_path, monkeypatch):
    import models.data

    monkeypatch.setattr(models.data, "CACHE_DIR", tmp_path)
    s = spec("patches", patch_size=8, patches=2000, whitening="none")
    data, truth = dataset(s)
    assert truth is None and data.train.y is None
    assert data.train.x.shape == (2000, 64) and data.test.x.shape == (patches.HELD_OUT, 64)
    assert s.layout().image == (8, 8) and s.layout().unit_interval  # grey levels: a Bernoulli model can read them
    assert len(list((tmp_path / "domains").glob("patches-*.npz"))) == 1
    again, _ = dataset(s)
    assert torch.equal(again.train.x, data.train.x) and again.fingerprint == data.fingerprint
    raw = s.domain.load(s.cfg, None, True)
    assert 0 <= raw.train.x.min() and raw.train.x.max() <= 1
    white = spec("patches", patch_size=8, patches=2000)
    assert not white.layout().unit_interval
    with pytest.raises(ValueError, match="values outside \\[0, 1\\]"):  # the RG-VAE refuses whitened patches
        family("rg-vae").fit(family("rg-vae").config(), white.layout())


# -- synthetic ---------------------------------------------------------------------------------------


def test_the_synthetic_codes_have_exactly_k_nonzeros_and_make_the_samples():
    cfg = synthetic.SyntheticConfig(atoms=20, dimension=10, active=3, noise=0.0, samples=500)
    raw = synthetic.build(cfg)
    s = raw.train.codes
    assert ((s > 0).sum(1) == 3).all() and (s >= 0).all()
    assert np.abs(s[s > 0] - 1).max() <= 0.5  # coefficients in [0.5, 1.5]
    np.testing.assert_allclose(raw.train.x, s @ raw.truth.dictionary.T, atol=1e-5)  # no noise: x = D* s
    np.testing.assert_allclose(np.linalg.norm(raw.truth.dictionary, axis=0), 1, atol=1e-5)
    noisy = synthetic.build(synthetic.SyntheticConfig(atoms=20, dimension=10, active=3, noise=0.2, samples=2000))
    residual = noisy.train.x - noisy.train.codes @ noisy.truth.dictionary.T
    assert np.linalg.norm(residual, axis=1).mean() == pytest.approx(0.2, rel=0.05)  # the noise's mean norm


def test_the_hierarchical_variant_brings_one_child_with_each_parent():
    cfg = synthetic.SyntheticConfig(atoms=30, dimension=16, active=3, parents=4, children=3, samples=3000)
    raw = synthetic.build(cfg)
    s = raw.train.codes > 0
    families = raw.truth.parents
    assert families == cfg.families() and len(families) == 4 and all(len(c) == 3 for c in families.values())
    for parent, children in families.items():
        kids = s[:, list(children)].sum(1)
        assert (kids[s[:, parent]] == 1).all()  # a parent drawn: exactly one of its children
        assert not (kids[~s[:, parent]] > 0).any()  # a child never without its parent
        assert s[:, parent].any()
    assert ((s.sum(1) - 3) == s[:, list(families)].sum(1)).all()  # k features, one atom more per parent
    with pytest.raises(ValueError, match="need 40 atoms"):
        synthetic.SyntheticConfig(atoms=30, parents=10, children=3)


def test_the_synthetic_domain_has_its_ground_truth():
    s = spec("synthetic", atoms=16, dimension=8, samples=500)
    data, truth = dataset(s)
    assert s.layout().ground_truth and s.layout().image is None and s.layout().classes is None
    assert truth.dictionary.shape == (8, 16) and data.test.codes.shape == (synthetic.HELD_OUT, 16)
    assert data.train.y is None


# -- vectors -------------------------------------------------------------------------------------------


def good(n=300, d=12, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_vectors_from_a_npy_a_npz_a_safetensors_file_and_a_folder(tmp_path):
    from safetensors.numpy import save_file

    x = good()
    np.save(tmp_path / "a.npy", x)
    s = spec("vectors", vectors=str(tmp_path / "a.npy"))
    data, _ = dataset(s)
    assert (len(data.train), len(data.val), len(data.test)) == (240, 30, 30) and not data.train.labelled
    assert s.layout().dimension == 12 and s.layout().classes is None
    labels = np.arange(300) % 4
    np.savez(tmp_path / "b.npz", x=x, labels=labels)
    assert spec("vectors", vectors=str(tmp_path / "b.npz")).layout().classes == ("0", "1", "2", "3")
    save_file({"x": x, "labels": labels.astype(np.int64)}, str(tmp_path / "c.safetensors"))
    data, _ = dataset(spec("vectors", vectors=str(tmp_path / "c.safetensors")))
    ys = [part.load().y for part in (data.train, data.val, data.test)]
    assert data.train.labelled and sorted(torch.cat(ys).tolist()) == sorted(labels.tolist())
    folder = tmp_path / "folder"
    folder.mkdir()
    np.save(folder / "train.npy", good(500, 9))
    np.save(folder / "test.npy", good(60, 9, 1))
    np.save(folder / "train_labels.npy", np.zeros(500, dtype=np.int64))
    np.save(folder / "test_labels.npy", np.ones(60, dtype=np.int64))
    data, _ = dataset(spec("vectors", vectors=str(folder)))
    assert (len(data.train), len(data.val), len(data.test)) == (450, 50, 60) and data.test.load().y.unique().tolist() == [1]
    shaped = spec("vectors", vectors=str(folder), image_shape="3,3")
    assert shaped.layout().image == (3, 3)


def bad_files(tmp_path):
    """(file, what its one-line refusal says)"""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = []

    def npy(name, arr, says):
        np.save(tmp_path / name, arr)
        out.append((tmp_path / name, says))

    def declared(name, shape, dtype, says, extra=0):
        """A .npy whose header declares `shape` (its data a sparse file: nothing is written but the header)."""
        with open(tmp_path / name, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                     "shape": shape})
            f.truncate(f.tell() + int(np.prod(shape)) * np.dtype(dtype).itemsize + extra)
        out.append((tmp_path / name, says))

    npy("one_d.npy", np.zeros(300), "2-D")
    npy("three_d.npy", np.zeros((300, 4, 4)), "2-D")
    nan = good()
    nan[5, 3] = np.nan
    npy("nan.npy", nan, "not finite")
    inf = good()
    inf[0, 0] = np.inf
    npy("inf.npy", inf, "not finite")
    declared("wide.npy", (200, 70_000), "float32", "at most 65,536")
    npy("short.npy", good(50), "at least 100")
    npy("text.npy", np.array([["a", "b"]] * 200), "not numbers")
    (tmp_path / "pickle.npy").write_bytes(b"")
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}] * 200, dtype=object), allow_pickle=True)
    out.append((tmp_path / "pickle.npy", "pickled objects"))
    np.savez(tmp_path / "labels.npz", x=good(), labels=np.zeros(299, dtype=np.int64))
    out.append((tmp_path / "labels.npz", "299 labels for 300 samples"))
    np.savez(tmp_path / "float_labels.npz", x=good(), labels=np.zeros(300))
    out.append((tmp_path / "float_labels.npz", "labels must be integers"))
    np.savez(tmp_path / "noname.npz", a=good(), b=good())
    out.append((tmp_path / "noname.npz", "name the samples 'x'"))
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00\x01 not a file")
    out.append((tmp_path / "garbage.safetensors", "cannot be read"))
    (tmp_path / "truncated.npy").write_bytes(open(tmp_path / "nan.npy", "rb").read()[:200])
    out.append((tmp_path / "truncated.npy", "truncated"))
    declared("lies.npy", (300, 12), "float32", "bytes more than its header declares", extra=48)
    npy("complex.npy", good().astype(np.complex64), "complex values")
    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros((300, 12), np.float32), unused=np.zeros(1 << 28, np.uint8))
    out.append((tmp_path / "bomb.npz", None))  # the unused member is never read: this one is good (checked below)
    many = {f"a{i}": np.zeros(1) for i in range(2000)}
    np.savez(tmp_path / "many.npz", **many)
    out.append((tmp_path / "many.npz", "and 1,992 more: name the samples 'x'"))
    (tmp_path / "x.csv").write_text("1,2,3\n")
    out.append((tmp_path / "x.csv", "not .csv"))
    out.append((tmp_path / "missing.npy", "no such file"))
    folder = tmp_path / "no_test"
    folder.mkdir()
    np.save(folder / "train.npy", good())
    out.append((folder, "needs train and test files"))
    return out


def test_every_bad_vectors_file_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    cases = bad_files(tmp_path / "files")
    assert spec("vectors", vectors=str(tmp_path / "files" / "bomb.npz")).layout().dimension == 12
    for path, says in [c for c in cases if c[1] is not None]:
        with pytest.raises(DataError, match=says):
            spec("vectors", vectors=str(path)).layout()
        out = tmp_path / f"run-{path.name}"
        rc = cli.main(["train", "--family", "ista", "--domain", "vectors", "--vectors", str(path), "--out", str(out),
                       "--epochs", "1", "--pretrain-epochs", "0"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and says.split("'")[0] in err and len(err.splitlines()) == 1, (path.name, err)
        assert not out.exists(), path.name  # refused before anything was written
    np.save(tmp_path / "ok.npy", good())
    with pytest.raises(DataError, match="height,width"):
        spec("vectors", vectors=str(tmp_path / "ok.npy"), image_shape="4x").layout()
    with pytest.raises(DataError, match="4 × 4 = 16 values, the samples have 12"):
        spec("vectors", vectors=str(tmp_path / "ok.npy"), image_shape="4,4").layout()
    with pytest.raises(DataError, match="--vectors: name a"):
        spec("vectors").layout()
    assert pickle  # (the module that made the pickled file)


def test_intensities_refuse_values_outside_the_unit_interval():
    assert intensities(np.array([[0, 255]], dtype=np.uint8)).tolist() == [[0.0, 1.0]]
    assert intensities(np.array([[0.0, 0.5]], dtype=np.float32)).tolist() == [[0.0, 0.5]]
    with pytest.raises(DataError, match="from -0.5 to 1"):
        intensities(np.array([[-0.5, 1.0]], dtype=np.float32))


def test_a_family_reads_its_input_size_and_classes_from_the_data():
    drsae = family("drsae")
    cfg = drsae.fit(drsae.config(hidden=8), spec("patches", patch_size=8).layout())
    assert (cfg.n_input, cfg.n_classes) == (64, 0) and not drsae.capabilities_of(cfg).classifier
    cfg = drsae.fit(drsae.config(hidden=8), spec().layout())
    assert (cfg.n_input, cfg.n_classes) == (784, 10) and drsae.capabilities_of(cfg).classifier
    with pytest.raises(ValueError, match="cannot train on data with 64"):
        drsae.fit(cfg, spec("patches", patch_size=8).layout())
    caps = drsae.capabilities_of(cfg).with_data(spec("synthetic").layout())
    assert caps.ground_truth and not caps.labels and not caps.image
