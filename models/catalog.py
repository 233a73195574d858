"""The models a user can open: the embedded defaults and every run folder with a checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models import jobs, runs
from models.assets import default_models
from models.checkpoint import CHECKPOINT, EXPORTED


@dataclass(frozen=True)
class Entry:
    key: str  # unique, stable: "default:NAME" or "run:NAME"
    label: str
    path: Path  # what load_model takes
    hidden: int
    unroll: int
    sparsity: float
    state: str  # embedded | running | stopped | done | failed | interrupted

    @property
    def family(self) -> tuple[str, int, int]:
        """Models that differ only in lambda: the sparsity slider moves inside a family."""
        return (self.key.split(":")[0], self.hidden, self.unroll)

    def version(self) -> float:
        """Changes whenever the weights on disk change: part of every cache key."""
        try:
            return self.path.stat().st_mtime
        except OSError:
            return -1.0


def _entry(key: str, label: str, path: Path, cfg: dict | None, state: str) -> Entry | None:
    if not cfg or "model" not in cfg:
        return None
    m = cfg["model"]
    return Entry(key, label, path, int(m["hidden"]), int(m["unroll"]), float(m["sparsity"]), state)


def entries(root: Path | None = None) -> list[Entry]:
    out = []
    for folder in default_models():
        e = _entry(f"default:{folder.name}", f"embedded · {folder.name}", folder / EXPORTED,
                   runs.read_config(folder), "embedded")
        out.append(e) if e else None
    for j in jobs.list_jobs(root):
        if (j.run / CHECKPOINT).is_file():
            e = _entry(f"run:{j.name}", f"run · {j.name} ({j.state})", j.run / CHECKPOINT, runs.read_config(j.run), j.state)
            out.append(e) if e else None
    return out


def siblings(entry: Entry, all_entries: list[Entry]) -> list[Entry]:
    """The same family at each available lambda, sorted by lambda (one per value)."""
    by_lambda = {}
    for e in all_entries:
        if e.family == entry.family and e.sparsity not in by_lambda:
            by_lambda[e.sparsity] = e
    by_lambda[entry.sparsity] = entry
    return [by_lambda[k] for k in sorted(by_lambda)]
