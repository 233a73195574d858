"""The models a user can open: the embedded defaults and every run folder with a checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.assets import default_models
from models.checkpoint import CHECKPOINT, EXPORTED
from models.families import UnknownFamily, get, of_saved
from models.services import jobs
from models.training import run_folder

SOURCES = {"default": "Embedded", "run": "Your runs"}


@dataclass(frozen=True)
class Entry:
    key: str  # unique, stable: "default:NAME" or "run:NAME"
    label: str
    path: Path  # what load_model takes
    architecture: str  # the family's name
    hidden: int
    unroll: int  # the trained T (1 for a family without recurrent steps)
    sparsity: float | None  # None for a family without a sparsity setting
    state: str  # embedded | running | stopped | done | failed | interrupted

    @property
    def group(self) -> tuple[str, str, int, int]:
        """Models that differ only in sparsity: the sparsity slider moves inside a group."""
        return (self.key.split(":")[0], self.architecture, self.hidden, self.unroll)

    def version(self) -> float:
        """Changes whenever the weights on disk change: part of every cache key."""
        try:
            return self.path.stat().st_mtime
        except OSError:
            return -1.0


def group_label(group: tuple[str, str, int, int]) -> str:
    source, arch, hidden, unroll = group
    family = get(arch)
    size = f"{hidden}×{unroll}" if family.capabilities.steps else f"{hidden} units"
    return f"{SOURCES[source]} · {family.short} {size}"


def _entry(key: str, label: str, path: Path, cfg: dict | None, state: str) -> Entry | None:
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        return None
    try:
        family = of_saved(cfg)
        m = family.config.from_dict(cfg["model"])
    except (UnknownFamily, ValueError, TypeError):
        return None  # a family this version does not know, or a config it cannot read: nothing to open
    return Entry(key, label, path, family.name, int(m.hidden), int(getattr(m, "unroll", 1)),
                 getattr(m, "sparsity", None), state)


def entries(root: Path | None = None) -> list[Entry]:
    out = []
    for folder in default_models():
        e = _entry(f"default:{folder.name}", f"embedded · {folder.name}", folder / EXPORTED,
                   run_folder.read_config(folder), "embedded")
        out.append(e) if e else None
    for j in jobs.list_jobs(root):
        if (j.run / CHECKPOINT).is_file():
            e = _entry(f"run:{j.name}", f"run · {j.name} ({j.state})", j.run / CHECKPOINT,
                       run_folder.read_config(j.run), j.state)
            out.append(e) if e else None
    return out


def siblings(entry: Entry, all_entries: list[Entry]) -> list[Entry]:
    """The same group at each available sparsity, sorted by sparsity (one per value)."""
    by_sparsity = {}
    for e in all_entries:
        if e.group == entry.group and e.sparsity not in by_sparsity:
            by_sparsity[e.sparsity] = e
    by_sparsity[entry.sparsity] = entry
    return [by_sparsity[k] for k in sorted(by_sparsity, key=lambda v: -1 if v is None else v)]
