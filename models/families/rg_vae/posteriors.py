"""The structured posterior against mean-field, side by side: `python -m models posteriors` trains two runs that
differ in nothing but `posterior` (same layers, epochs, samples and seed) into OUT/structured and OUT/mean-field,
measures both on the same test samples (likelihood.py: ELBO, the importance-weighted bound, per-layer KL, zeros and
active units), and writes this module's table."""
from __future__ import annotations

from dataclasses import asdict

from models.families.rg_vae.likelihood import Likelihood


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


def report(measured: dict[str, tuple[Likelihood, float | None, int]], source: str, test_seed: int) -> tuple[str, dict]:
    """The table as markdown, and every number as a JSON object (per posterior: its bound, per layer, time)."""
    text = f"Test digits: {source}, binarised once (seed {test_seed}).\n\n" + table(measured)
    numbers = {name: {**{k: v for k, v in asdict(m).items() if k != "layers"},
                      "layers": [{k: v for k, v in asdict(la).items() if k not in ("p_zero", "activity")}
                                 for la in m.layers],
                      "train_minutes": minutes, "epochs": epochs} for name, (m, minutes, epochs) in measured.items()}
    return text, numbers
