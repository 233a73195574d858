"""The activation store (models/store.py) and training from it: shards with labels and metadata, every bad file
refused in one line, batches streamed in a reproducible order, resume bit for bit, memory that does not grow with the
file (a trainer under an address-space limit smaller than its file), and the normalisations with FVU on the data as
given."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from models import cli, store
from models.data import DataError, Split, StoredSplit, as_given
from models.domains import SHOWN_SAMPLES, dataset, spec
from models.families import get
from models.training import batches, loop
from models.training.config import train_config
from models.training.validate import evaluate_split
from tests.conftest import ROOT

D = 16


def rows(n, d=D, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def bfloat16_file(path, x):
    """A .safetensors file holding `x` as bfloat16 (truncated): returns the float32 values it holds."""
    from safetensors.numpy import save_file

    bits = (x.view(np.uint32) >> 16).astype(np.uint16)
    save_file({"x": bits}, str(path))  # written as U16, then retyped in the header (numpy has no bfloat16)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    text = raw[8:8 + n].replace(b'"U16"', b'"BF16"')  # offsets count from the data: unchanged
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    return (bits.astype(np.uint32) << 16).view(np.float32)


def shard_folder(root, sizes=(150, 90, 60), test=40, d=D):
    """A manifest folder: float16 train shards of `sizes` rows and a test shard, labels (the row's number in the
    split mod 5) and metadata (that number, the shard) beside each train shard."""
    root.mkdir(parents=True, exist_ok=True)
    entries, start, everything = [], 0, []
    for k, n in enumerate(sizes):
        x = rows(n, d, seed=k + 1).astype(np.float16)
        number = np.arange(start, start + n)
        np.save(root / f"train-{k}.npy", x)
        np.save(root / f"train-{k}.labels.npy", number % 5)
        np.save(root / f"train-{k}.meta.npy", np.stack([number, np.full(n, k)], 1))
        entries.append({"file": f"train-{k}.npy", "rows": n, "labels": f"train-{k}.labels.npy",
                        "meta": f"train-{k}.meta.npy"})
        everything.append(x.astype(np.float32))
        start += n
    np.save(root / "test-0.npy", rows(test, d, seed=99).astype(np.float16))
    np.save(root / "test-0.labels.npy", np.arange(test) % 5)
    manifest = {"format": store.FORMAT, "version": 1, "dtype": "float16", "dimension": d, "train": entries,
                "test": [{"file": "test-0.npy", "rows": test, "labels": "test-0.labels.npy"}],
                "meta_columns": ["row", "shard"]}
    (root / store.MANIFEST).write_text(json.dumps(manifest))
    return root, np.concatenate(everything), manifest


def test_a_folder_of_shards_reads_across_shards_with_labels_and_metadata(tmp_path):
    root, x, _ = shard_folder(tmp_path / "shards")
    sources = store.read_manifest(root)
    assert len(sources["train"]) == 300 and sources["train"].labelled and sources["train"].meta_cols == 2
    whole = store.Rows.whole(sources["train"])
    got, y, meta = whole.read(140, 250)  # across all three shards
    assert np.array_equal(store.as_float32(got, whole.dtype), x[140:250])
    assert y.tolist() == [i % 5 for i in range(140, 250)] and meta[:, 0].tolist() == list(range(140, 250))
    assert meta[:, 1].tolist() == [0] * 10 + [1] * 90 + [2] * 10
    pick = np.array([299, 3, 160, 151, 4])
    got, y, meta = whole.take(pick)
    assert np.array_equal(store.as_float32(got, whole.dtype), x[pick]) and meta[:, 0].tolist() == pick.tolist()
    # as a domain: a tenth of the training shards held out for validation, the labels' classes
    data = spec("vectors", vectors=str(root), normalization="none")
    assert data.layout().classes == ("0", "1", "2", "3", "4") and data.layout().dimension == D
    ds, _ = dataset(data)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (270, 30, 40)
    train = ds.train.load()
    number = [int(np.flatnonzero((x == r.numpy()).all(1))[0]) for r in train.x]
    assert train.y.tolist() == [k % 5 for k in number] and len(set(number)) == 270  # each row with its own label


def test_bfloat16_safetensors_are_widened_exactly(tmp_path):
    want = bfloat16_file(tmp_path / "b.safetensors", rows(300))
    ds, _ = dataset(spec("vectors", vectors=str(tmp_path / "b.safetensors"), normalization="none"))
    got = torch.cat([ds.train.load().x, ds.val.load().x, ds.test.load().x]).numpy()
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))


def test_every_bad_shard_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    root, _, manifest = shard_folder(tmp_path / "shards")

    def with_manifest(change, says):
        m = json.loads(json.dumps(manifest))
        change(m)
        (root / store.MANIFEST).write_text(json.dumps(m))
        with pytest.raises(DataError, match=says):
            spec("vectors", vectors=str(root)).layout()
        out = tmp_path / "run"
        assert cli.main(["train", "--family", "topk-sae", "--domain", "vectors", "--vectors", str(root), "--out",
                         str(out), "--epochs", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and not out.exists(), err

    bfloat16_file(root / "other.safetensors", rows(50))
    np.save(root / "other.labels.npy", np.zeros(50, np.int64))
    with_manifest(lambda m: m["train"].append({"file": "other.safetensors", "labels": "other.labels.npy"}),
                  r"other.safetensors \(x\) holds bfloat16; the manifest says float16")
    with_manifest(lambda m: m["train"][0].update(rows=151), "holds 150 rows; the manifest says 151")
    with_manifest(lambda m: m.update(dimension=17), "has 16 values a sample; the manifest says 17")
    with_manifest(lambda m: m["train"][0].update(file="../elsewhere.npy"), "outside the folder")
    with_manifest(lambda m: m.pop("test"), 'lists no "test" shards')
    with_manifest(lambda m: m["train"][0].update(labels="test-0.labels.npy"), "40 labels for 150 samples")
    with_manifest(lambda m: m["train"][1].pop("labels"), "some of its files have labels and some not")
    with_manifest(lambda m: m["train"][1].pop("meta"), "its shards' metadata differ")
    for m in manifest["train"]:
        m.pop("meta")
    np.save(root / "wide.npy", rows(20, D + 1).astype(np.float16))
    np.save(root / "wide.labels.npy", np.zeros(20, np.int64))
    with_manifest(lambda m: m["train"].append({"file": "wide.npy", "labels": "wide.labels.npy"}), "wide.npy has 17 values a sample; the manifest says 16")
    bad = rows(90).astype(np.float16)
    bad[[7, 40, 41]] = np.nan
    np.save(root / "nan.npy", bad)
    np.save(root / "nan.labels.npy", np.zeros(90, np.int64))
    with_manifest(lambda m: m["train"].append({"file": "nan.npy", "labels": "nan.labels.npy"}),
                  r"nan.npy holds values that are not finite \(NaN or infinity\) in 3 rows, the first at row 7")
    (root / "cut.npy").write_bytes((root / "train-0.npy").read_bytes()[:-5])
    with_manifest(lambda m: m["train"].append({"file": "cut.npy", "labels": "train-0.labels.npy"}),  # (its header)
                  "cut.npy is truncated")
    (root / store.MANIFEST).write_text("{not json")
    with pytest.raises(DataError, match="is not JSON"):
        spec("vectors", vectors=str(root)).layout()


def test_a_fifo_and_a_home_that_does_not_exist_are_refused_in_one_line(tmp_path, capsys):
    os.mkfifo(tmp_path / "x.npy")
    for path, says in ((tmp_path / "x.npy", "not a regular file or a folder"),
                       ("~nosuchuser-sparselab/x.npy", "Could not determine home directory")):
        with pytest.raises(DataError, match=says):
            spec("vectors", vectors=str(path)).layout()
        assert cli.main(["train", "--family", "relu-sae", "--domain", "vectors", "--vectors", str(path), "--out",
                         str(tmp_path / "run")]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def stored(n=1000, d=D, tmp=None, **settings):
    np.save(tmp / "x.npy", rows(n, d))
    data = spec("vectors", vectors=str(tmp / "x.npy"), **settings)
    return data, dataset(data)[0]


def test_an_epoch_streams_every_training_row_once_across_windows_and_resumes_at_any_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(batches, "WINDOW_BYTES", 100 * D * 4)  # windows of 100 rows: an epoch crosses several
    monkeypatch.setattr(batches, "CHUNK_BYTES", 7 * D * 4)  # chunks of 7 consecutive rows
    data, ds = stored(1000, tmp=tmp_path, normalization="none")
    source = batches.Streamed(ds.train, 64, "cpu", seed=3)
    assert source.chunk == 7 and source.chunks_a_window == 14 and source.n_batches == 13  # 800 rows
    whole = ds.train.load().x
    epoch = [x for x, _ in source.batches(0, 0)]
    assert [len(x) for x in epoch] == [64] * 12 + [32]
    seen = torch.cat(epoch)
    index = {tuple(r.tolist()): i for i, r in enumerate(whole)}
    order = [index[tuple(r.tolist())] for r in seen]
    assert sorted(order) == list(range(800))  # every row once
    assert order != list(range(800)) and order[:64] != [index[tuple(r.tolist())] for r in
                                                        next(source.batches(1, 0))[0]]  # shuffled, anew each epoch
    assert np.mean(np.abs(np.diff(order[:64])) == 1) < 0.5  # a batch is not a run of the file
    for start in (5, 6, 12):  # resumed at any batch: the same batches follow
        assert all(torch.equal(a, b) for a, (b, _) in zip(epoch[start:], source.batches(0, start)))
    assert list(source.batches(0, 13)) == []


def trained(tmp, name, data, stop_after=None, **train):
    family = get("topk-sae")
    calls = []

    def stop():
        calls.append(1)
        return stop_after is not None and len(calls) == stop_after + 1

    loop.train(family.config(hidden=24, k=4, resample_every=1, dead_window=50),
               train_config(family, epochs=2, batch_size=32, **train), tmp / name, device="cpu", spec=data,
               should_stop=stop)
    return tmp / name


def test_a_run_on_the_store_resumes_bit_for_bit(tmp_path, monkeypatch):
    """Stopped inside an epoch (the order of batches, the resampled latents' draws and the windows are all part of
    the state), then resumed: the same weights as a run that was never stopped."""
    from models.checkpoint import load_model

    monkeypatch.setattr(batches, "WINDOW_BYTES", 200 * D * 4)
    data, _ = stored(1000, tmp=tmp_path, normalization="scale")
    whole = trained(tmp_path, "whole", data)
    cut = trained(tmp_path, "cut", data, stop_after=19)  # 25 batches an epoch: inside the first
    assert json.loads((cut / "status.json").read_text())["state"] == "stopped"
    trained(tmp_path, "cut", data)
    a, b = load_model(whole)[0].state_dict(), load_model(cut)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((whole / "config.json").read_text())["data"]["scale"] == pytest.approx(1.0, rel=0.1)


def test_limit_reads_only_what_it_keeps(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", rows(20_000, 768))  # rows of 3 KB: read one by one, not with their neighbours
    data = spec("vectors", vectors=str(tmp_path / "x.npy"))
    data.layout()  # the headers, the checks (a small file: every row) and the test split's fingerprint
    read = []
    real = store.Array.read
    monkeypatch.setattr(store.Array, "read", lambda self, a, b: read.append(min(b, self.rows) - a) or real(self, a, b))
    ds, _ = dataset(data, limit=300)
    assert len(ds.train) == 300 and sum(read) == 0  # nothing read yet
    ds.train.load()
    assert 300 <= sum(read) < 300 * 22  # its rows, and short gaps between them read with them


def test_the_app_and_the_analysis_commands_read_a_bounded_test_sample(tmp_path, monkeypatch):
    from models.domains import vectors

    path = tmp_path / "big.npy"
    n = 500_000
    with open(path, "wb") as f:  # 500,000 × 768: a sparse file (zeros)
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, 768)})
        f.truncate(f.tell() + n * 768 * 4)
    monkeypatch.setattr(vectors, "FULL_SCAN_BYTES", 1 << 20)  # past it, the checks read a spread sample
    monkeypatch.setattr(vectors, "SAMPLE_SCAN_BYTES", 1 << 18)
    read = []
    real = store.Array.read
    monkeypatch.setattr(store.Array, "read", lambda self, a, b: read.append(min(b, self.rows) - a) or real(self, a, b))
    data = spec("vectors", vectors=str(path))
    shown = data.domain.test_samples(data.cfg)
    assert len(shown.arrays) == SHOWN_SAMPLES and shown.name.startswith("first 10,000 of the 50,000 test vectors")
    assert sum(read) < n / 5  # the checks' sample, the fingerprint's rows, the shown ones: not the file


def test_normalisations_and_fvu_on_the_data_as_given(tmp_path):
    x = rows(2000) * np.linspace(0.1, 10, 2000, dtype=np.float32)[:, None]  # rows of very different norms
    np.save(tmp_path / "x.npy", x)
    for how in ("unit-norm", "none", "scale"):
        data = spec("vectors", vectors=str(tmp_path / "x.npy"), normalization=how)
        part = dataset(data)[0].train
        inputs = part.load().x.double()
        sq = inputs.pow(2).sum(1)
        if how == "unit-norm":
            assert torch.allclose(sq, torch.ones_like(sq), atol=1e-5)
        elif how == "none":
            by_first = {float(r[0]): r for r in x}
            assert all(np.array_equal(by_first[float(r[0])], r) for r in inputs.float().numpy())
        else:  # one factor: a mean squared norm of d on the sample it is taken from (here all training rows)
            assert float(sq.mean()) == pytest.approx(D, rel=1e-3)
        assert data.normalization().startswith(how)

    class Half(torch.nn.Module):
        """A 'model' whose reconstruction is half its input: FVU has a closed form."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.unsup_weight = 0.0

        def forward(self, x, unroll=None):
            return x.abs(), 0.5 * x, None

        def code_cost(self, z):
            return z.sum(1)

    raw = x[:500].astype(np.float64)
    given = (0.25 * (raw ** 2).sum()) / ((raw - raw.mean(0)) ** 2).sum()
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    on_inputs = (0.25 * (unit ** 2).sum()) / ((unit - unit.mean(0)) ** 2).sum()
    from models.data import normalize

    for split in (Split(normalize(x[:500]), row_scale=1 / torch.from_numpy(np.linalg.norm(x[:500], axis=1))),
                  StoredSplit(store.Rows.whole(store.Source([store.Shard(store.open_npy(tmp_path / "x.npy"))], "x")).head(500),
                              normalize)):
        r = evaluate_split(Half(), split, batch=128)
        assert r["fvu"] == pytest.approx(given, rel=1e-6) and r["fvu_inputs"] == pytest.approx(on_inputs, rel=1e-6)
    r = evaluate_split(Half(), Split(as_given(x[:500])), batch=128)
    assert r["fvu"] == r["fvu_inputs"] == pytest.approx(given, rel=1e-6)


def test_train_help_states_the_normalisation(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--domain", "vectors", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--normalization {unit-norm,none,scale}" in text and "FVU is reported on the data as given" in text


BIG = 6 << 30  # bytes of the file the trainer below streams


def test_a_trainer_under_a_memory_limit_smaller_than_its_file_reaches_its_steps(tmp_path):
    """A 6 GiB file (sparse on disk) trained on by a process whose address space is capped at 4.5 GiB: reading it
    whole (or mapping it) cannot fit; reading batches from disk does."""
    n = BIG // (768 * 4)
    path = tmp_path / "big.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, 768)})
        f.truncate(f.tell() + n * 768 * 4)
        f.seek(200_000)
        f.write(rows(10_000, 768).tobytes())
    limit = int(4.5 * 2**30)
    assert path.stat().st_size > limit
    child = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from models.domains import spec
from models.families import get
from models.training import loop
from models.training.config import train_config
calls = []
family = get("topk-sae")
loop.train(family.config(hidden=128, k=8), train_config(family, epochs=1, batch_size=512), sys.argv[2],
           device="cpu", spec=spec("vectors", vectors=sys.argv[1]), should_stop=lambda: calls.append(1) or len(calls) > 8)
print(len(calls) - 1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    r = subprocess.run([sys.executable, "-c", child, str(path), str(tmp_path / "run")], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, "MALLOC_ARENA_MAX": "2"}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    steps, rss_kib = map(int, r.stdout.split()[-2:])
    assert steps == 8 and rss_kib * 1024 < 2 * 2**30
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "stopped" and (tmp_path / "run" / "checkpoint.pt").is_file()


def test_labels_under_another_name_are_said_and_read_with_labels_key(tmp_path, capsys):
    x = rows(300)
    np.savez(tmp_path / "acts.npz", x=x, y=np.arange(300) % 3)
    plain = spec("vectors", vectors=str(tmp_path / "acts.npz"))
    assert plain.layout().classes is None
    assert plain.note() == ("acts.npz has no 'labels' array, so its samples are read without labels; it also holds "
                            "'y': --labels-key NAME reads one of them as the labels")
    keyed = spec("vectors", vectors=str(tmp_path / "acts.npz"), labels_key="y")
    assert keyed.layout().classes == ("0", "1", "2") and keyed.note() == ""
    assert cli.main(["train", "--family", "topk-sae", "--domain", "vectors", "--vectors", str(tmp_path / "acts.npz"),
                     "--hidden", "8", "--k", "2", "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert "note: acts.npz has no 'labels' array" in capsys.readouterr().err
