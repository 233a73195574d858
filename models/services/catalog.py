"""The models a user can open: the embedded defaults and every run folder with a checkpoint."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from models.assets import default_models
from models.checkpoint import CHECKPOINT, EXPORTED, PREVIOUS
from models.domains import DEFAULT as DEFAULT_DOMAIN, DataSpec, UnknownDomain, spec_of
from models.families import UnknownFamily, get, of_saved
from models.settings import flag, settings
from models.services import jobs
from models.training import run_folder
from models.training.config import TrainConfig, train_config

SOURCES = {"default": "Embedded", "run": "Your runs"}


@dataclass(frozen=True)
class Entry:
    key: str  # unique, stable: "default:NAME" or "run:NAME"
    label: str
    path: Path  # what load_model takes: a run folder, or an embedded model's file
    architecture: str  # the family's name
    hidden: int
    unroll: int  # the trained T (1 for a family without recurrent steps)
    sparsity: float | int | None  # its family's sparsity setting (λ, or k); None for a family without one
    state: str  # embedded | running | stopped | done | failed | interrupted
    data: DataSpec  # what it was trained on (models/domains): its test samples are what the pages show
    settings: dict = field(default_factory=dict, compare=False, hash=False)  # "model.hidden": 400, ... (flattened)
    origin: str = ""  # the run folder these settings train into (jobs.run_name): an embedded copy's run
    title: str = ""  # the name the user gave the run (its folder's name otherwise)
    note: str = ""  # and why it was trained

    @property
    def folder(self) -> Path:
        """Where its config.json is."""
        return self.path if self.path.is_dir() else self.path.parent

    @property
    def group(self) -> tuple[str, str, int, int, str]:
        """Models that differ only in sparsity (on the same data): the sparsity slider moves inside a group."""
        return (self.key.split(":")[0], self.architecture, self.hidden, self.unroll, self.data.key)

    def version(self) -> float:
        """Changes whenever the weights on disk change: part of every cache key."""
        files = [self.path / CHECKPOINT, self.path / PREVIOUS] if self.path.is_dir() else [self.path]
        stamps = []
        for f in files:
            try:
                stamps.append(f.stat().st_mtime)
            except OSError:
                pass
        return max(stamps, default=-1.0)


def group_label(group: tuple[str, str, int, int, str]) -> str:
    source, arch, hidden, unroll, data = group
    family = get(arch)
    size = f"{hidden}×{unroll}" if family.capabilities.steps else f"{hidden} units"
    return f"{SOURCES[source]} · {family.short} {size} · {spec_of({'domain': json.loads(data)}).describe()}"


def _entry(key: str, label: str, path: Path, cfg: dict | None, state: str, about: dict | None = None) -> Entry | None:
    if cfg is None:
        return None
    try:
        family = of_saved(cfg)
        m = family.config.from_dict(cfg["model"])
        t = TrainConfig.from_dict(cfg["train"])
        data = spec_of(cfg)
    except (UnknownFamily, UnknownDomain, ValueError, TypeError):
        return None  # damaged, a family or domain this version does not know, or settings it refuses: nothing to open
    settings = ({f"model.{k}": v for k, v in m.to_dict().items()} | {f"train.{k}": v for k, v in t.to_dict().items()}
                | {"domain.name": data.domain.name} | {f"domain.{k}": v for k, v in data.cfg.to_dict().items()})
    if isinstance(cfg.get("data"), dict):
        settings |= {f"data.{k}": v for k, v in cfg["data"].items()}
    about = about or {}
    return Entry(key, label, path, family.name, int(m.hidden), int(getattr(m, "unroll", 1)),
                 family.sparsity_of(m), state, data, settings, jobs.run_name(m, t, data), about.get("name", ""),
                 about.get("note", ""))


def entries(root: Path | None = None) -> list[Entry]:
    """Every model here, each entry built once per version of the files it is made of (the sidebar asks on every
    rerun)."""
    out, seen = [], {}
    for folder in default_models():
        made = (folder, "embedded", run_folder.stamp(folder / run_folder.CONFIG))
        e = seen[made] = _BUILT[made] if made in _BUILT else _embedded_entry(folder)
        out.append(e) if e else None
    for j in jobs.list_jobs(root):
        if j.state != "damaged" and ((j.run / CHECKPOINT).is_file() or (j.run / PREVIOUS).is_file()):
            made = (j.run, j.state, j.config_stamp, run_folder.stamp(j.run / run_folder.ABOUT))
            e = seen[made] = _BUILT[made] if made in _BUILT else _run_entry(j)
            out.append(e) if e else None
    _BUILT.clear()
    _BUILT.update(seen)  # what is listed now: a deleted run's entry goes
    return out


_BUILT: dict[tuple, Entry | None] = {}  # each entry, by what it is made of (its files' stamps, a run's state)


def _embedded_entry(folder: Path) -> Entry | None:
    try:
        cfg = run_folder.read_config(folder)
    except run_folder.DamagedRun:
        return None
    return _entry(f"default:{folder.name}", f"embedded · {folder.name}", folder / EXPORTED, cfg, "embedded")


def _run_entry(j: jobs.Job) -> Entry | None:
    about = run_folder.read_about(j.run)
    shown = f"{about['name']} ({j.name})" if about["name"] else j.name
    return _entry(f"run:{j.name}", f"run · {shown} ({j.state})", j.run, j.config, j.state, about)


def by_run(run_name: str, all_entries: list[Entry]) -> Entry | None:
    """The model a run name stands for: that run, else an embedded copy of a run with the same settings."""
    for e in all_entries:
        if e.key == f"run:{run_name}":
            return e
    return next((e for e in all_entries if e.origin == run_name), None)


def command(entry: Entry) -> str:
    """The training command that reproduces an entry: its family, and each setting it has that differs from that
    family's default (settings left at None have no flag)."""
    family = get(entry.architecture)
    defaults = {"model": family.config(), "train": train_config(family), "domain": entry.data.domain.config()}
    flags = [] if entry.data.domain.name == DEFAULT_DOMAIN else [f"--domain {entry.data.domain.name}"]
    for part, cfg in defaults.items():
        for f, _ in settings(type(cfg)):
            value = entry.settings.get(f"{part}.{f.name}")
            if value is not None and value != getattr(cfg, f.name):
                flags.append(f"{flag(f.name)} {value}")
    return " ".join([f"python -m models train --family {family.name} --out runs/{entry.folder.name}", *flags])


def members(group: tuple, all_entries: list[Entry]) -> list[Entry]:
    return [e for e in all_entries if e.group == group]


IGNORED = {"train.checkpoint_every", "data.source"}  # differences that do not make another model


def differences(entries: list[Entry]) -> dict[str, str]:
    """For entries of one group and sparsity, a label per entry key naming what sets it apart: 'seed 1 · epochs 300'."""
    keys = sorted({k for e in entries for k in e.settings} - IGNORED)
    differ = [k for k in keys if len({repr(e.settings.get(k)) for e in entries}) > 1]
    out = {}
    for e in entries:
        parts = [f"{k.split('.', 1)[1].replace('_', ' ')} {e.settings.get(k)}" for k in differ]
        out[e.key] = " · ".join(([e.title] if e.title else []) + parts) or e.label
    return out
