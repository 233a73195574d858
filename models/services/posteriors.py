"""The structured posterior against mean-field, side by side: `python -m models posteriors`.

Two runs of the rectified-Gaussian VAE that differ in nothing but `posterior` (same layers, epochs, digits and
seed), trained (or resumed, or read when finished) into OUT/structured and OUT/mean-field, then measured on the
same test digits: ELBO, the importance-weighted bound, per-layer KL, zeros and active units, wall time.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from models.analysis.likelihood import Likelihood, likelihood
from models.checkpoint import atomic_write, load_model
from models.data import load_mnist, load_test
from models.families import get
from models.families.rg_vae import POSTERIORS
from models.training import run_folder

FAMILY = "rg-vae"


def trained_minutes(folder: Path) -> float | None:
    rows = run_folder.read_metrics(folder)
    return rows[-1]["elapsed"] / 60 if rows else None


def table(measured: dict[str, tuple[Likelihood, float | None, int]]) -> str:
    """One row per posterior: its numbers, and the difference of the bounds."""
    any_m = next(iter(measured.values()))[0]
    L = len(any_m.layers)
    head = (["posterior", "epochs", "test ELBO", f"IWAE (k = {any_m.iwae_k}, {any_m.iwae_digits} digits)", "KL"]
            + [f"KL {l + 1}" for l in range(L)] + ["zeros %"] + [f"active {l + 1}" for l in range(L)]
            + [f"probe {l + 1} %" for l in range(L)] + ["train min"])
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, (m, minutes, epochs) in measured.items():
        cells = ([name, str(epochs), f"{m.elbo:.2f}", "—" if m.iwae is None else f"{m.iwae:.2f}", f"{m.kl:.2f}"]
                 + [f"{la.kl:.2f}" for la in m.layers] + [f"{100 * m.zero_fraction:.1f}"]
                 + [f"{la.active}/{la.units}" for la in m.layers]
                 + ["—" if la.probe_error is None else f"{la.probe_error:.1f}" for la in m.layers]
                 + ["—" if minutes is None else f"{minutes:.1f}"])
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if {"structured", "mean-field"} <= set(measured):
        s, f = measured["structured"][0], measured["mean-field"][0]
        text += (f"\nStructured − mean-field: ELBO {s.elbo - f.elbo:+.2f} nats"
                 + ("" if s.iwae is None or f.iwae is None else f", importance-weighted bound {s.iwae - f.iwae:+.2f}")
                 + " (positive: the structured posterior's bound is higher).\n")
    return text


def run(out: Path, train: dict, data_dir=None, progress=None, iwae_k: int = 1000, iwae_digits: int = 1000,
        digits: int | None = None, should_stop=lambda: False) -> str | None:
    """Train both (each resumable), measure, write OUT/posteriors.md and .json. None if stopped."""
    from models.training.loop import train as train_run

    family = get(FAMILY)
    data = load_mnist(data_dir, limit=train.get("limit"), inputs=family.inputs)
    tc = family.train_config(**train)
    folders = {}
    for posterior in POSTERIORS:
        folder = out / posterior
        train_run(family.config(posterior=posterior), tc, folder, data=data, progress=progress,
                  should_stop=should_stop)
        if run_folder.read_status(folder).get("state") == "stopped":
            return None
        folders[posterior] = folder
    test = load_test(data_dir, inputs=family.inputs)
    return measure(out, folders, test.split.head(digits), f"{len(test.split.head(digits))} test digits of "
                   f"{test.source}", iwae_k, iwae_digits)


def measure(out: Path, folders: dict[str, Path], split, source: str, iwae_k: int, iwae_digits: int) -> str:
    measured = {}
    for name, folder in folders.items():
        model, _ = load_model(folder)
        rows = run_folder.read_metrics(folder)
        measured[name] = (likelihood(model, split, iwae_k, iwae_digits), trained_minutes(folder), len(rows))
    text = f"Test digits: {source}, binarised once (seed {model.cfg.test_seed}).\n\n" + table(measured)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "posteriors.md", text.encode())
    atomic_write(out / "posteriors.json", json.dumps(
        {name: {**{k: v for k, v in asdict(m).items() if k != "layers"},
                "layers": [{k: v for k, v in asdict(la).items() if k not in ("p_zero", "activity")} for la in m.layers],
                "train_minutes": minutes, "epochs": epochs} for name, (m, minutes, epochs) in measured.items()},
        indent=1).encode())
    return text
