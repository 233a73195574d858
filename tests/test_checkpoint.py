import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.checkpoint import CHECKPOINT, CheckpointError, atomic_write, export_model, load_model
from models.services.export import export_run

ROOT = Path(__file__).resolve().parent.parent


def test_round_trip_gives_identical_outputs(tiny_run, mnist_small):
    out, _ = tiny_run
    model, progress = load_model(out)
    again, _ = load_model(out / CHECKPOINT)
    x = mnist_small.test.x[:200]
    for a, b in zip(model.encode(x, 7), again.encode(x, 7)):
        assert torch.equal(a, b)
    assert progress["epoch"] == 6


def test_export_float32_is_exact_and_float16_is_close(tiny_run, mnist_small, tmp_path):
    out, _ = tiny_run
    model, _ = load_model(out)
    export_model(model, tmp_path / "m32.safetensors", dtype=torch.float32)
    m32, _ = load_model(tmp_path / "m32.safetensors")
    x = mnist_small.test.x[:300]
    assert torch.equal(model(x)[0], m32(x)[0])
    path = export_run(out, tmp_path / "exp")
    m16, meta = load_model(path)
    assert meta["epochs"] == 6 and (tmp_path / "exp" / "metrics.jsonl").is_file()
    agree = (model(x)[2].argmax(1) == m16(x)[2].argmax(1)).float().mean()
    assert agree > 0.98
    assert path.stat().st_size < 0.6 * (tmp_path / "m32.safetensors").stat().st_size


def test_corrupt_checkpoint_gives_a_clear_error(tiny_run, tmp_path):
    out, _ = tiny_run
    raw = (out / CHECKPOINT).read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(bad)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="No model"):
        load_model(tmp_path / "nothing-here")


def test_checkpoints_never_execute_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"model": Evil(), "config": {}}))
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write(target, b"old")
    import os

    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_evaluate_cli_prints_json(tiny_run):
    out, history = tiny_run
    res = subprocess.run([sys.executable, "-m", "models.evaluate", str(out), "--json", "--unroll", "8"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["hidden"] == 64 and r["unroll"] == 8 and r["trained_unroll"] == 5 and r["n_test"] == 10_000
    assert 0 <= r["test_error"] < 30 and r["reconstruction_loss"] > 0 and r["mean_active_units"] > 0


def test_evaluate_in_bfloat16_matches_float32(tiny_run):
    """The whole model in bfloat16 (the fast CPU encoder of bench/encode_speed.py) scores as in float32."""
    from models.analysis.evaluate import evaluate

    out, _ = tiny_run
    full, half = (evaluate(out, sample=True, device="cpu", dtype=d) for d in ("float32", "bfloat16"))
    assert half["dtype"] == "bfloat16" and full["dtype"] == "float32"
    assert abs(half["test_error"] - full["test_error"]) <= 0.5  # 1,000 digits: at most 5 flip
    assert half["reconstruction_loss"] == pytest.approx(full["reconstruction_loss"], rel=0.02)
    assert half["mean_active_units"] == pytest.approx(full["mean_active_units"], rel=0.05)
    with pytest.raises(ValueError, match="dtype must be one of"):
        evaluate(out, sample=True, dtype="int8")


def test_evaluate_cli_errors_clearly(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    res = subprocess.run([sys.executable, "-m", "models.evaluate", str(tmp_path), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "corrupt" in res.stderr and "Traceback" not in res.stderr


def test_saved_files_name_their_family_and_older_files_load_as_drsae(tiny_run, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from models.families import of_model

    out, _ = tiny_run
    model, _ = load_model(out)
    older = tmp_path / "older.safetensors"  # as files were written before families existed: no architecture
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(older),
              metadata={"config": json.dumps(model.cfg.to_dict()), "meta": "{}"})
    old, _ = load_model(older)
    assert of_model(old).name == "drsae"
    export_model(old, tmp_path / "m.safetensors")
    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as f:
        assert f.metadata()["architecture"] == "drsae"
    assert json.loads((out / "config.json").read_text())["architecture"] == "drsae"
    assert torch.load(out / CHECKPOINT, weights_only=True)["architecture"] == "drsae"
    (tmp_path / "odd").mkdir()
    cfg = json.loads((out / "config.json").read_text())
    export_model(old, tmp_path / "odd" / "model.safetensors")
    import safetensors.torch as st

    tensors = st.load_file(str(tmp_path / "odd" / "model.safetensors"))
    st.save_file(tensors, str(tmp_path / "odd" / "model.safetensors"),
                 metadata={"architecture": "no-such-family", "config": json.dumps(cfg["model"])})
    with pytest.raises(CheckpointError, match="unknown model family 'no-such-family'"):
        load_model(tmp_path / "odd" / "model.safetensors")
