"""One command for the encoder comparison: train (or resume, or just read) ISTA, LISTA, the DrSAE and the
structured + residual DrSAE at the same size, on the same digits, each with its family's recipe, then measure
them all on the same test digits (models/analysis/compare.py) and write one table.

    OUT/<family>-s<seed>/   one run folder per model (LISTA takes the ISTA run of its seed as its dictionary)
    OUT/compare.json        every number
    OUT/compare.md          the table: mean over seeds, and each seed's value
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from models.analysis.compare import (
    ATTACK_EPS, MAX_ITERATIONS, NOISE_LEVELS, TARGET_ERROR, Comparison, Training, compare_model, training_numbers,
)
from models.checkpoint import EXPORTED, CheckpointError, atomic_write, load_model
from models.domains import DataSpec, dataset, spec as data_spec, test_set
from models.families import NEEDS, all_families, capabilities, get, of_model
from models.training import run_folder
from models.training.config import train_config


def compared() -> list[str]:
    """The families the comparison trains, a family after the one that gives it its dictionary."""
    names = [f.name for f in all_families() if f.compared]
    return sorted(names, key=lambda n: (get(n).dictionary_from is not None, names.index(n)))


@dataclass
class Planned:
    family: str
    seed: int
    folder: Path
    model: dict  # model settings given (over the family's defaults)


def plan(out: Path, families=None, seeds=(0, 1), hidden: int = 400, unroll: int = 11,
         sparsity: float | None = None) -> list[Planned]:
    """The runs, in the order they can be trained: a run that gives a dictionary before the run that takes it."""
    known = compared()
    families = known if families is None else families
    unknown = [f for f in families if f not in known]
    if unknown:
        raise ValueError(f"--families: {', '.join(unknown)} cannot be compared (choose from {', '.join(known)})")
    out, runs = Path(out), []
    for name in sorted(families, key=known.index):
        source = get(name).dictionary_from
        for seed in seeds:
            model = {"hidden": hidden, "unroll": unroll, **({} if sparsity is None else {"sparsity": sparsity})}
            if source in families:  # e.g. LISTA regresses ISTA's codes on ISTA's own dictionary
                model["dictionary"] = str(out / f"{source}-s{seed}")
            runs.append(Planned(name, seed, out / f"{name}-s{seed}", model))
    return runs


def train_all(runs: list[Planned], train: dict, data=None, data_dir=None, device=None, progress=None,
              graph: bool | None = None, should_stop=lambda: False, spec: DataSpec | None = None) -> bool:
    """Train each run to its end (a finished run is only read). `train`: training settings for every run, over each
    family's defaults. Returns False if `should_stop` stopped a run (it checkpointed; the same call resumes)."""
    from models.training.loop import train as train_run

    for r in runs:
        family = get(r.family)
        if progress:
            progress.stream.write(f"== {r.folder.name}\n")
        train_run(family.config(**r.model), train_config(family, **train, seed=r.seed), r.folder, data=data,
                  data_dir=data_dir, device=device, progress=progress, graph=graph, should_stop=should_stop, spec=spec)
        if should_stop():
            return False
    return True


@dataclass
class Measured:
    name: str
    family: str
    seed: int | None
    comparison: Comparison
    training: Training


def measure(sources: list[Path], x: torch.Tensor, y: torch.Tensor, max_iterations: int = MAX_ITERATIONS,
            reference_digits: int = 2000, device: str | None = None) -> list[Measured]:
    out = []
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    x, y = x.to(device), y.to(device)
    for src in sources:
        try:
            model, _ = load_model(src)
        except CheckpointError as e:  # one missing or damaged model does not cost the others' numbers
            print(f"warning: skipped: {e}", file=sys.stderr)
            continue
        missing = capabilities(model).missing("decoder", "filters")
        if missing:
            print(f"warning: skipped {src}: {of_model(model).short} models lack "
                  + " and ".join(NEEDS[n] for n in missing), file=sys.stderr)
            continue
        model = model.to(device)
        folder = run_folder.folder_of(src)
        history = run_folder.read_metrics(folder)  # none beside a bare model file
        cfg = run_folder.read_config(folder) or {}
        seed = (cfg.get("train") or {}).get("seed")
        name = of_model(model).name
        c = compare_model(model, x, y, max_iterations=max_iterations, reference_digits=reference_digits)
        label = folder.name if src.is_dir() or src.name == EXPORTED else src.stem
        out.append(Measured(label, name, seed, c, training_numbers(history)))
    return out


@dataclass(frozen=True)
class Column:
    """One number of the comparison: its short header (the CLI's table), its label (the Compare page's row), how
    to read it from a model's Comparison and its run's Training, and how to print it."""
    header: str
    label: str
    value: Callable  # (Comparison, Training) -> a number, or None where the model has none
    fmt: str
    missing: str = "—"  # what the page shows for None
    per_run: bool = False  # how its run went: the page shows the curves instead
    coding: bool = False  # a row about sparse coding's minimum: a model without steps has none ("—", not `missing`)

    def shown(self, c: Comparison, t: Training) -> str | None:
        """The cell as the page shows it; None where the model cannot have this number."""
        if self.coding and c.objective is None:
            return None
        v = self.value(c, t)
        return (None if self.missing == "—" else self.missing) if v is None else self.fmt.format(v)


COLUMNS = [
    Column("test error (%)", "test error (%)", lambda c, t: c.error, "{:.2f}"),
    Column("recon", "reconstruction ½‖x − x̂‖²", lambda c, t: c.recon, "{:.4f}"),
    Column("L0", "active units (L0)", lambda c, t: c.l0, "{:.1f}"),
    Column("FVU", "variance unexplained (FVU)", lambda c, t: c.fvu, "{:.3f}"),
    Column("dead (%)", "units active on no sample (%)", lambda c, t: None if c.dead is None else 100 * c.dead,
           "{:.1f}"),
    Column("objective", "objective ½‖x − Dz‖² + λ‖z‖₁", lambda c, t: c.objective, "{:.4f}", coding=True),
    Column("ISTA optimum", "its optimum on the same D", lambda c, t: c.reference_objective, "{:.4f}", coding=True),
    Column("gap (%)", "gap to the optimum (%)", lambda c, t: c.objective_gap, "{:.1f}", coding=True),
    Column("≡ ISTA iterations", "≡ ISTA iterations", lambda c, t: c.equivalent_ista, "{}", coding=True,
           missing=f"> {MAX_ITERATIONS}"),
    Column("‖z − z*‖²", "code error ‖z_T − z*‖² (Gregor & LeCun)", lambda c, t: c.code_error, "{:.4f}",
           coding=True),
    Column("≡ ISTA (codes)", "≡ ISTA iterations by code error", lambda c, t: c.equivalent_ista_code, "{}", coding=True,
           missing=f"> {MAX_ITERATIONS}"),
    Column("≡ FISTA (codes)", "≡ FISTA iterations by code error", lambda c, t: c.equivalent_fista_code, "{}",
           coding=True, missing=f"> {MAX_ITERATIONS}"),
    Column("cond(S_AA)", "cond(S) on the active units", lambda c, t: c.condition, "{:.1f}"),
    Column("grad CV", "gradient-norm CV over training", lambda c, t: t.grad_cv, "{:.2f}"),
    Column("grad max/median", "gradient-norm max / median", lambda c, t: t.grad_max_median, "{:.1f}"),
    *[Column(f"‖Δz‖/‖δ‖ at {lv:.0%}", f"‖Δz‖ / ‖δ‖, noise {lv:.0%}",
             (lambda lv: lambda c, t: c.sensitivity[lv])(lv), "{:.3f}") for lv in NOISE_LEVELS],
    *[Column(f"error, noise {lv:.0%} (%)", f"error under noise {lv:.0%} (%)",
             (lambda lv: lambda c, t: c.noise_error[lv])(lv), "{:.2f}") for lv in NOISE_LEVELS],
    *[Column(f"error, attack ε {e:g} (%)", f"error under attack ε = {e:g} (%)",
             (lambda e: lambda c, t: c.attack_error[e])(e), "{:.2f}") for e in ATTACK_EPS],
    Column(f"epochs to {TARGET_ERROR:g} %", f"epochs to {TARGET_ERROR:g} % validation error",
           lambda c, t: t.epochs_to_target, "{}", per_run=True),
    Column("wall time (s)", "training wall time (s)", lambda c, t: t.wall_time, "{:.0f}", per_run=True),
]


def _cell(values: list, fmt: str) -> str:
    """The mean over seeds, and each seed's value: '1.40 (1.36, 1.44)'; '—' where none has it, '>N' kept."""
    known = [v for v in values if v is not None]
    if not known:
        return "—"
    if len(values) == 1:
        return fmt.format(values[0])
    each = ", ".join("—" if v is None else fmt.format(v) for v in values)
    if len(known) < len(values):
        return each
    mean = statistics.fmean(known)
    return f"{fmt.format(round(mean) if fmt == '{}' else mean)} ({each})"


def table(measured: list[Measured], unroll: int, max_iterations: int) -> str:
    groups: dict[str, list[Measured]] = {}
    for m in measured:
        groups.setdefault(m.family, []).append(m)
    lines = ["| model | " + " | ".join(col.header for col in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for family, ms in groups.items():
        label = f"{get(family).short} (seeds {', '.join(str(m.seed) for m in ms)})" if len(ms) > 1 else ms[0].name
        cells = ("n/a" if col.coding and any(m.comparison.objective is None for m in ms) else
                 _cell([col.value(m.comparison, m.training) for m in ms], col.fmt) for col in COLUMNS)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    notes = (f"T = {unroll}. A cell is the mean over seeds, then each seed's value. '≡ ISTA iterations': the fewest "
             f"ISTA iterations reaching the model's objective on its own dictionary ('—': not within "
             f"{max_iterations}); '≡ ISTA / FISTA (codes)': the fewest whose codes are as close to the optimal ones "
             "(Gregor & LeCun's measure); 'n/a': a model without recurrent steps (a sparse autoencoder) does not "
             "approximate sparse coding's minimum. The DrSAE and ISTA start from the same dictionary, so units of the "
             "two with the same index often keep cosine ≈ 1. Definitions: models/analysis/compare.py.")
    return "\n".join(lines) + "\n\n" + notes + "\n"


def write(out: Path, measured: list[Measured], unroll: int, max_iterations: int, source: str, seconds: float) -> str:
    text = table(measured, unroll, max_iterations)
    rows = [{**asdict(m), "objective_gap": m.comparison.objective_gap} for m in measured]
    for r in rows:
        r["comparison"].pop("ista_curve")  # 1,000 numbers a model: in the app, not the file
    atomic_write(out / "compare.json", json.dumps({"samples": source, "unroll": unroll, "seconds": seconds,
                                                   "models": rows}, indent=1, default=str).encode())
    atomic_write(out / "compare.md", (f"Test digits: {source}.\n\n" + text).encode())
    return text


def run(out: Path, families, seeds, hidden: int, unroll: int, train: dict, data_dir=None, device=None,
        progress=None, digits: int | None = None, max_iterations: int = MAX_ITERATIONS, sparsity: float | None = None,
        models: list[Path] | None = None, graph: bool | None = None, should_stop=lambda: False,
        spec: DataSpec | None = None) -> str | None:
    """Train what `plan` names on `spec`'s data (default: digits), or take the given `models` (run folders or model
    files), measure, write. None if `should_stop` stopped the training. (Every compared family reads the domain's
    samples as unit-norm rows: one loaded dataset serves them all.)"""
    spec = spec or data_spec()
    if models:
        sources = [Path(m) for m in models]
        test = test_set(spec, data_dir)
        split, name = test.arrays.split(), test.name
    else:
        runs = plan(out, families, seeds, hidden, unroll, sparsity)
        data, _ = dataset(spec, data_dir)
        if not train_all(runs, train, data=data, device=device, progress=progress, graph=graph,
                         should_stop=should_stop, spec=spec):
            return None
        sources, split, name = [r.folder for r in runs], data.test, None
    split = split.head(digits)
    t0 = time.time()
    measured = measure(sources, split.x, split.y, max_iterations, device=device)
    if not measured:
        raise ValueError("no model to measure")
    source = f"{len(split)} of the {name}" if name else f"{len(split)} test {spec.domain.nouns} of {data.source}"
    return write(Path(out), measured, unroll, max_iterations, source, time.time() - t0)
