"""Sparsity sweeps: a grid of runs (λ × seeds) queued in the job registry, and the trade-off across all runs of a
family (sparsity L0 against error and reconstruction), seeds pooled into error bars."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from models.families import get
from models.services import catalog, jobs
from models.training.config import train_config

MAX_RUNS = 100  # in one sweep
LABEL_SETTINGS = 3  # settings named in a curve's label
POOLED = {"train.seed"}  # what varies inside one series of the trade-off, besides the family's sparsity setting
NOT_A_SETTING = catalog.IGNORED | {"data.fingerprint", "data.test_fingerprint", "data.val_held_out"}


def values(text: str, kind, name: str) -> list:
    """'0.0125, 0.025' -> [0.0125, 0.025] (each once, in order), or a ValueError saying what is wrong."""
    try:
        vs = list(dict.fromkeys(kind(v) for v in str(text).split(",") if v.strip()))
    except ValueError:
        raise ValueError(f"{name} {text!r}: give comma-separated numbers") from None
    if not vs:
        raise ValueError(f"{name}: give at least one value")
    return vs


def grid(family, model: dict, train: dict, sparsities: list[float], seeds: list[int]) -> list[tuple]:
    """(model config, train config) for every sparsity value (the family's λ or k) and seed, over the given settings
    (over the family's defaults); bad values raise ValueError."""
    if not family.has_sparsity:
        raise ValueError(f"{family.title} models have no sparsity setting to sweep")
    if len(sparsities) * len(seeds) > MAX_RUNS:
        raise ValueError(f"{len(sparsities) * len(seeds)} runs: a sweep holds at most {MAX_RUNS}")
    out = []
    for lam in sparsities:
        for seed in seeds:
            out.append((family.config(**family.with_sparsity(model, lam)),
                        train_config(family, **{**train, "seed": seed})))
    return out


def queue(configs: list[tuple], root=None, data_dir: str | None = None, data=None) -> list[jobs.Job]:
    """Every run of the grid in the registry's queue, on `data` (a models.domains.DataSpec; default: digits)."""
    return [jobs.enqueue(mc, tc, root, data_dir, data) for mc, tc in configs]


def measure(path, data, steps: int) -> tuple[float, float | None, float | None]:
    """(active units, test error %, reconstruction) of the model at `path` after `steps` steps, on the test samples
    its data shows (a wide model on fewer: codes.sample_limit), as the Sweep page plots it."""
    from models.analysis.codes import sample_limit
    from models.analysis.steps import step_stats
    from models.checkpoint import load_model
    from models.families import of_model

    model, _ = load_model(path)
    shown = data.domain.test_samples(data.cfg).arrays
    split = shown.head(sample_limit(model.cfg.hidden, len(shown))).split(data.inputs(of_model(model)))
    stats = step_stats(model, split, steps)
    last = lambda a: None if a is None else float(a[-1])  # noqa: E731
    return float(stats.active[-1]), last(stats.error), last(stats.recon)


@dataclass
class RunPoint:
    key: str  # the catalog entry's
    name: str
    sparsity: float
    seed: int | None
    l0: float  # mean active units per digit at the trained T
    error: float | None  # test error (%), None without a classifier
    recon: float | None  # ½‖x − x̂‖², None without a decoder


@dataclass
class Series:
    """Runs that differ only in λ and seed: one curve of the trade-off, a point per λ."""
    label: str
    runs: list[RunPoint]
    sparsity: list[float] = field(default_factory=list)
    mean: dict[str, list] = field(default_factory=dict)  # "l0" / "error" / "recon" -> per λ
    spread: dict[str, list] = field(default_factory=dict)  # the standard deviation over seeds (0 for one seed)
    seeds: list[int] = field(default_factory=list)  # runs per λ


def _settings_key(e: catalog.Entry) -> tuple:
    pooled = POOLED | {f"model.{get(e.architecture).sparsity_field}"}
    return tuple(sorted((k, repr(v)) for k, v in e.settings.items() if k not in pooled | NOT_A_SETTING))


def _stats(vs: list) -> tuple:
    known = [v for v in vs if v is not None]
    if not known:
        return None, None
    return statistics.fmean(known), (statistics.stdev(known) if len(known) > 1 else 0.0)


def series(entries: list[catalog.Entry], numbers: dict[str, tuple]) -> list[Series]:
    """Group the entries (one family) into series; `numbers[key]` = (l0, error, recon) of each entry."""
    groups: dict[tuple, list[catalog.Entry]] = {}
    for e in entries:
        if e.key in numbers and e.sparsity is not None:
            groups.setdefault(_settings_key(e), []).append(e)
    reps = [members[0] for members in groups.values()]
    keys = {k for a in reps for k, _ in _settings_key(a)} if len(reps) > 1 else set()
    # the label names the settings that tell the curves apart, the model's first (data.* follow from them)
    differ = [k for k in sorted(keys, key=lambda k: (not k.startswith("model."), k)) if not k.startswith("data.")
              and len({repr(r.settings.get(k)) for r in reps}) > 1][:LABEL_SETTINGS]
    out = []
    for members in groups.values():
        e0 = members[0]
        parts = [f"{k.split('.', 1)[1].replace('_', ' ')} {e0.settings.get(k)}" for k in differ]
        source = "embedded" if e0.state == "embedded" else "runs"
        s = Series(" · ".join([source, *parts]) if parts else source, [])
        for e in sorted(members, key=lambda e: (e.sparsity, e.settings.get("train.seed") or 0)):
            l0, err, rec = numbers[e.key]
            s.runs.append(RunPoint(e.key, e.key.split(":", 1)[1], e.sparsity, e.settings.get("train.seed"), l0, err, rec))
        for lam in sorted({r.sparsity for r in s.runs}):
            at = [r for r in s.runs if r.sparsity == lam]
            s.sparsity.append(lam)
            s.seeds.append(len(at))
            for name in ("l0", "error", "recon"):
                m, sd = _stats([getattr(r, name) for r in at])
                s.mean.setdefault(name, []).append(m)
                s.spread.setdefault(name, []).append(sd)
        out.append(s)
    return out
