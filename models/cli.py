"""sparselab's command line.

    python -m models train    [--family drsae] [--domain digits] [--config FILE] --out runs/NAME [--SETTING VALUE ...]
    python -m models train sweep [--family drsae] --sparsity 0.0125,0.025,0.05 [--seeds 0,1] [--trainers N] [--wait]
    python -m models evaluate [MODEL] [--unroll K] [--data-dir DIR | --sample] [--dtype bfloat16] [--json]
    python -m models units    [MODEL] [--data-dir DIR] [--json]
    python -m models report   [MODEL] [--data-dir DIR | --sample] [--out FILE.md]
    python -m models export   RUN --out FOLDER
    python -m models compare  --out runs/compare [--seeds 0,1] [--families ista,lista,drsae,structured-drsae]
    python -m models posteriors --out runs/posteriors [--epochs N]   (the RG-VAE: structured vs mean-field)
    python -m models gabor    [MODEL] [--json]   (a model on image patches: Gabors fitted to its filters)
    python -m models recovery [MODEL] [--json]   (a model on synthetic data: the true dictionary recovered?)
    python -m models benchmark --out DIR [--domain D] [--families ...] [--sparsity FAMILY=v,v ...] [--seeds 0,1]
    python -m models hosts    [HOST] [--host-weights FILE]   (host models; a host's layers and their output shapes)
    python -m models harvest  --host HOST --layer NAME --out DIR [--domain D] [--dtype float16] [--limit N]

MODEL is a run folder, a checkpoint.pt or an exported .safetensors; without it, the embedded default.
`train --help` lists every setting of a family (`train --family NAME --help` for another one).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

from models.checkpoint import CHECKPOINT, CheckpointError
from models.data import DataError
from models.domains import DEFAULT as DEFAULT_DOMAIN, SHOWN_SAMPLES, DataSpec, all_domains, get as domain_named
from models.families import all_families, architecture, get
from models.settings import flag, settings
from models.training import run_folder
from models.training.config import TrainConfig, train_config

ERRORS = (CheckpointError, DataError, OSError, ValueError)  # one line and exit 2, never a traceback


def _fail(e: Exception) -> int:
    if isinstance(e, OSError) and e.filename:  # a disk that is full, read-only or not ours
        e = f"cannot use {e.filename}: {e.strerror}"
    print(f"error: {e}", file=sys.stderr)
    return 2


def _add_settings(p: argparse.ArgumentParser, cls, title: str, defaults: dict | None = None,
                  skip: tuple[str, ...] = ()) -> None:
    g = p.add_argument_group(title)
    for f, s in settings(cls):
        if f.name in skip:
            continue
        default = (defaults or {}).get(f.name, f.default)
        g.add_argument(flag(f.name), dest=f.name, type=s.kind, default=argparse.SUPPRESS,
                       choices=list(s.choices) if s.choices else None, help=f"{s.help} (default: {default})")


def _read_config_file(path: str) -> dict:
    cfg = run_folder.read_config_file(Path(path))
    if cfg is None:
        raise ValueError(f"no config file at {path}")
    return cfg


def _configs(family, domain, saved: dict, given: dict):
    """Flags over the file's settings over the defaults. Without a file, a missing setting is today's default;
    from a file, it is what that run had (Config.from_dict). Returns the model's settings (its input size and
    classes from the data), the training settings and the data."""
    saved_domain = (saved.get("domain") or {}).get("settings") if saved else None

    def build(cls, part, have):
        mine = {f.name: given[f.name] for f, _ in settings(cls) if f.name in given}
        if have is not None:
            return cls.from_dict({**have, **mine})
        return train_config(family, **mine) if cls is TrainConfig else cls(**mine)

    data = DataSpec(domain, build(domain.config, "domain", saved_domain if saved else None))
    mc = build(family.config, "model", saved.get("model") if saved else None)
    return family.fit(mc, data.layout()), build(TrainConfig, "train", saved.get("train") if saved else None), data


def _family_and_saved(argv: list[str]):
    """The family, the domain and the --config file's settings, read before their own flags can be parsed."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--family")
    pre.add_argument("--domain")
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    saved = _read_config_file(known.config) if known.config else {}
    if known.family and saved and known.family != architecture(saved):
        raise ValueError(f"{known.config} is a {architecture(saved)} run, not {known.family}")
    saved_domain = (saved.get("domain") or {}).get("name", DEFAULT_DOMAIN) if saved else None
    if known.domain and saved and known.domain != saved_domain:
        raise ValueError(f"{known.config} is a run on {saved_domain}, not {known.domain}")
    return get(known.family or architecture(saved)), domain_named(known.domain or saved_domain or DEFAULT_DOMAIN), saved


def _data_flags(p: argparse.ArgumentParser, domain) -> None:
    p.add_argument("--domain", choices=[d.name for d in all_domains()], default=domain.name,
                   help="the data (default: %(default)s); its settings follow")
    _add_settings(p, domain.config, f"{domain.name} settings (the data)")


def sweep(argv: list[str]) -> int:
    """Queue a grid of runs (λ × seeds) in the job registry; as many train at once as allowed."""
    import time

    from models.services import jobs, sweep as sweeps

    try:
        family, domain, saved = _family_and_saved(argv)
    except ERRORS as e:
        return _fail(e)
    sym = family.sparsity_symbol
    p = argparse.ArgumentParser(prog="python -m models train sweep", description=f"Queue {family.title} runs, one "
                                f"per {sym} and seed, in the job registry (the app's Training page shows them); as many "
                                "train at once as allowed, the others wait, and the queue goes on after a restart.")
    p.add_argument("--family", choices=[f.name for f in all_families()], default=family.name)
    p.add_argument("--config", help="a run's config.json: start every run from its settings")
    p.add_argument("--sparsity", required=True, help=f"comma-separated values of {family.short}'s sparsity setting "
                   f"({sym}, --{family.sparsity_field.replace('_', '-')})")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: %(default)s)")
    p.add_argument("--trainers", type=int, help="trainers at once, kept for the registry (default: its setting, "
                   "else one per two cores)")
    p.add_argument("--runs", default=None, help=f"the registry folder (default: {jobs.RUNS_ROOT})")
    p.add_argument("--data-dir", help="folder with the four MNIST-format idx files (else $SPARSELAB_DATA)")
    p.add_argument("--wait", action="store_true", help="print progress until every run has ended")
    p.add_argument("--cancel", action="store_true", help="cancel this sweep (the same flags name its runs): its "
                   "queued runs leave the queue, its running ones checkpoint and stop")
    g = p.add_argument_group("Ray Tune (a sweep across machines)")
    g.add_argument("--engine", choices=["local", "ray"], default="local", help="local: this machine's job registry "
                   "(default); ray: trials on Ray Tune, into the same run folders (waits until they end)")
    g.add_argument("--address", help="ray: a running cluster ('auto', or HOST:PORT of `ray start --head`); default: "
                   "a Ray on this machine")
    g.add_argument("--cpus-per-trial", type=int, default=1, help="ray: cores (and torch threads) a trial takes")
    g.add_argument("--early-stop", choices=["asha"], help="ray: stop trials behind the others early (ASHA)")
    g.add_argument("--grace-epochs", type=int, default=1, help="ray: epochs every trial trains before ASHA may stop "
                   "it (default: %(default)s)")
    _data_flags(p, domain)
    _add_settings(p, family.config, f"{family.short} settings", skip=(family.sparsity_field,))
    _add_settings(p, TrainConfig, "training settings", family.train_defaults, skip=("seed",))
    a = p.parse_args(argv)
    root = Path(a.runs) if a.runs else jobs.RUNS_ROOT
    given = {k: v for k, v in vars(a).items() if k not in ("family", "config", "sparsity", "seeds", "trainers", "runs",
                                                           "data_dir", "wait", "cancel", "engine", "address", "cpus_per_trial",
                                                           "early_stop", "grace_epochs")}
    try:
        if not family.has_sparsity:
            raise ValueError(f"{family.title} models have no sparsity setting to sweep")
        lams, seeds = sweeps.values(a.sparsity, float, "--sparsity"), sweeps.values(a.seeds, int, "--seeds")
        mc, tc, data = _configs(family, domain, saved, {**family.with_sparsity(given, lams[0]), "seed": seeds[0]})
        configs = sweeps.grid(family, mc.to_dict(), tc.to_dict(), lams, seeds)  # flags over the file
        if a.cancel:
            fits = [(jobs.fitted(m, data, a.data_dir), t) for m, t in configs]
            return _cancelled(root, [jobs.run_name(m, t, d) for (d, m), t in fits])
        if a.engine == "ray":
            return _ray_sweep(configs, root, data, a)
        if a.trainers is not None:
            jobs.set_max_trainers(a.trainers, root)
        queued = sweeps.queue(configs, root, a.data_dir, data)
    except (jobs.JobError, *ERRORS) as e:
        return _fail(e)
    grid = [(family.sparsity_of(m), t.seed) for m, t in configs]
    for (lam, seed), j in zip(grid, queued):
        print(f"{j.name}  {family.sparsity_label(lam)} seed {seed}: {j.state}")
    print(f"{len(queued)} runs in {root}; {jobs.max_trainers(root)} train at once.")
    if not a.wait:
        return 0
    ended, last = ("done", "failed", "stopped", "interrupted", "damaged"), None
    while True:
        states = [jobs.job(j.run).state for j in queued]
        line = " · ".join(f"{s} {states.count(s)}" for s in dict.fromkeys(states))
        moved, last = line != last, line
        if moved:
            print(f"{time.strftime('%H:%M:%S')}  {line}", flush=True)
        if all(s in ended for s in states):
            return 0 if all(s == "done" for s in states) else 1
        if not moved:  # nothing moved for a round: a trainer killed without a word frees its place here (one that
            jobs.dispatch(root)  # ends cleanly starts the next itself, as it exits)
        time.sleep(2)


def _cancelled(root: Path, names: list[str]) -> int:
    """Cancel these runs of the registry at `root` (a sweep's, a benchmark's) and say what that did, in one line."""
    from models.services import jobs

    dequeued, stopping = jobs.cancel(root, names)
    print(f"{dequeued} of {len(names)} runs taken out of the queue, {stopping} asked to stop (they checkpoint; "
          "resuming trains them on)")
    return 0


def _ray_sweep(configs, root: Path, data, a) -> int:
    """The grid as Ray Tune trials (models/services/ray_sweep.py); prints each run's end; one line on a Ray error."""
    from models.services import ray_sweep

    if a.cpus_per_trial < 1 or a.grace_epochs < 1:
        return _fail(ValueError("--cpus-per-trial and --grace-epochs must be at least 1"))
    try:
        states = ray_sweep.run(configs, root, data, a.data_dir, a.address, a.cpus_per_trial, a.early_stop,
                               a.grace_epochs)
    except (ray_sweep.RayError, *ERRORS) as e:
        return _fail(e)
    for name, state in states.items():
        message = run_folder.read_status(root / name).get("message", "")
        print(f"{name}: {state}" + (f" ({message})" if message and message != "finished" else ""))
    ok = all(s == "done" or s == "stopped" for s in states.values())
    print(f"{len(states)} runs in {root}: " + ", ".join(f"{list(states.values()).count(s)} {s}"
                                                       for s in dict.fromkeys(states.values())))
    return 0 if ok else 1


def train(argv: list[str]) -> int:
    """Train (or resume) a run; a run folder holds one set of settings."""
    from models.training.loop import Collapsed, Progress, RunConflict, train as train_run
    from models.training.update import Diverged

    if argv[:1] == ["sweep"]:
        return sweep(argv[1:])
    try:
        family, domain, saved = _family_and_saved(argv)
    except ERRORS as e:
        return _fail(e)
    p = argparse.ArgumentParser(prog="python -m models train", description=f"Train a {family.title}. Resumable: "
                                "rerun the same command. Flags override the --config file's settings.")
    p.add_argument("--family", choices=[f.name for f in all_families()], default=family.name,
                   help="the model family (default: %(default)s)")
    p.add_argument("--config", help="a run's config.json: start from its settings")
    p.add_argument("--out", required=True, help="run folder (created, or resumed if it holds a checkpoint)")
    p.add_argument("--data-dir", help="folder with the four MNIST-format idx files (else $SPARSELAB_DATA, else download)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--no-cuda-graph", action="store_true", help="run each update eagerly on CUDA (same numbers, slower)")
    _data_flags(p, domain)
    _add_settings(p, family.config, f"{family.short} settings")
    _add_settings(p, TrainConfig, "training settings", family.train_defaults)
    a = p.parse_args(argv)
    try:
        mc, tc, data = _configs(family, domain, saved, vars(a))
    except ERRORS as e:
        return _fail(e)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    stop = {"flag": False}

    def on_signal(signum, frame):  # finish the batch, checkpoint, exit: nothing is lost
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if data.note():
            print(f"note: {data.note()}", file=sys.stderr)
        history = train_run(mc, tc, a.out, data_dir=a.data_dir, device=a.device, progress=Progress(),
                            should_stop=lambda: stop["flag"], graph=False if a.no_cuda_graph else None, spec=data)
    except run_folder.Busy as e:  # another trainer has the folder: its status is its own
        return _fail(e)
    except (RunConflict, Diverged, Collapsed, *ERRORS) as e:
        _failed_while_starting(Path(a.out), e)
        return _fail(e)
    finally:
        _next_in_queue(Path(a.out))
    if run_folder.read_status(Path(a.out)).get("state") == "stopped":
        print(f"stopped; the same command resumes from {Path(a.out) / CHECKPOINT}", file=sys.stderr)
        return 130
    if history:
        err = history[-1]["val_error"]
        done = "" if err is None else f"validation error {err:.2f}% "
        print(f"done: {done}after {history[-1]['elapsed']:.0f}s", file=sys.stderr)
    return 0


def _failed_while_starting(run: Path, e: Exception) -> None:
    """A trainer launched for this run (its status names this process) that failed before training (no data
    folder, a dictionary that is not a model): the run ends "failed" with the reason, not "running / starting"."""
    try:
        st = run_folder.read_status(run)
        if st.get("state") == "running" and st.get("pid") == os.getpid():
            run_folder.write_status(run, state="failed", message=str(e).splitlines()[0] if str(e) else type(e).__name__)
    except (run_folder.DamagedRun, OSError):
        pass


def _next_in_queue(run: Path) -> None:
    """A trainer of the job registry frees its place as it exits: the oldest queued run starts."""
    from models.services import jobs

    if jobs.in_registry(run):
        try:
            started = jobs.dispatch(run.parent, exiting=run)
        except (jobs.JobError, OSError) as e:  # the queue waits for the next trainer or the app's poll
            print(f"warning: the queue did not move on: {e}", file=sys.stderr)
            return
        if started:
            print(f"queue: started {', '.join(started)}", file=sys.stderr)


def evaluate(argv: list[str]) -> int:
    from models.analysis.evaluate import DTYPES, evaluate as run

    p = argparse.ArgumentParser(prog="python -m models evaluate", description="A model's numbers on the test set.")
    p.add_argument("model", nargs="?", default=None)
    p.add_argument("--unroll", type=int, default=None, help="run the encoder for K steps (default: the trained T)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--sample", action="store_true", help="use the embedded 1,000 test digits (no dataset needed)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", choices=list(DTYPES), default="float32", help="precision to run the model in")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--iwae-k", type=int, default=1000, help="a model with a likelihood: importance samples per "
                   "digit for the importance-weighted bound (0 = none; default: %(default)s)")
    p.add_argument("--iwae-digits", type=int, default=1000, help="... on the first this many test digits "
                   "(default: %(default)s)")
    a = p.parse_args(argv)
    if a.unroll is not None and a.unroll < 1:
        p.error("--unroll must be at least 1")
    if a.iwae_k < 0 or a.iwae_digits < 0:
        p.error("--iwae-k and --iwae-digits must be at least 0")
    try:
        r = run(a.model, a.unroll, a.data_dir, a.sample, a.device, a.dtype, a.iwae_k, a.iwae_digits)
    except ERRORS as e:
        return _fail(e)
    if r["warning"]:
        print(f"warning: {r['warning']}", file=sys.stderr)
    if a.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print(f"{k:20s} {v:.4f}" if isinstance(v, float) else f"{k:20s} {v}")
    return 0


def _model_and_samples(source, data_dir, sample: bool):
    """The model, the test samples the analysis CLIs read (its data's test set, or the samples the app shows: for
    digits without a folder, the embedded ones), what to call them, and its data. A model trained with another
    dataset gets a warning on stderr."""
    from models.analysis.evaluate import data_of, mismatch, test_samples
    from models.assets import default_model_path
    from models.checkpoint import load_model
    from models.families import of_model

    source = source or default_model_path()
    model, meta = load_model(source)
    data = data_of(source, meta)
    sample = sample or not (data_dir or os.environ.get("SPARSELAB_DATA"))
    samples, name, fingerprint = test_samples(data, data_dir, sample, data.inputs(of_model(model)))
    if len(samples) > SHOWN_SAMPLES:  # a test split on disk of any size: its first samples, as the app shows
        name = f"first {SHOWN_SAMPLES:,} of the {name}"
    samples = samples.load(SHOWN_SAMPLES)
    warning = mismatch(source, fingerprint)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return source, model, samples, name, data


def _needs(model, data: DataSpec, *needs: str) -> None:
    from models.families import NEEDS, capabilities

    missing = capabilities(model).with_data(data.layout()).missing(*needs)
    if missing:
        raise ValueError(f"this needs a model with {' and '.join(NEEDS[m] for m in missing)}")


def units(argv: list[str]) -> int:
    from models.analysis.activity import analyse, step_decoders, summary
    from models.families import capabilities

    p = argparse.ArgumentParser(prog="python -m models units",
                                description="Per-unit analysis: kinds, weights, activity over the test digits.")
    p.add_argument("model", nargs="?", default=None)
    p.add_argument("--data-dir", default=None, help="activity over this test set (default: $SPARSELAB_DATA, "
                                                     "else the embedded 1,000 test digits)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        _, model, digits, name, data = _model_and_samples(a.model, a.data_dir, False)
        _needs(model, data, "filters")
    except ERRORS as e:
        return _fail(e)
    an = analyse(model, digits)
    cols = an.per_unit()
    rows = [{"unit": i, **{k: _plain(v[i]) for k, v in cols.items()}, "first_step_hist": an.first_step_hist[i].tolist()}
            for i in range(len(an.units))]
    s = summary(an)
    if capabilities(model).steps:  # each step's own least-squares decoder: a question about a recurrence
        s["step_decoder_error"] = step_decoders(model, digits).error.tolist()
    if a.json:
        print(json.dumps({"digits": name, **s, "units": rows}))
        return 0
    names = list(cols)
    print(" ".join(f"{n[:12]:>12}" for n in ["unit"] + names))
    for r in rows:
        print(" ".join(_cell(r[n]) for n in ["unit"] + names))
    print(f"counts: {s['counts']} over {s['n_digits']} digits ({name})")
    return 0


def _cell(v) -> str:
    if v is None:
        return f"{'-':>12}"
    return f"{v:12.4f}" if isinstance(v, float) else f"{v!s:>12}"


def _plain(v):
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and v != v else v  # NaN (a unit never on) is not JSON


def report(argv: list[str]) -> int:
    from models.analysis.report import missing, render

    p = argparse.ArgumentParser(prog="python -m models report",
                                description="The paper's claims about categorical and part units, checked on a model.")
    p.add_argument("model", nargs="?", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--sample", action="store_true", help="the embedded 1,000 test digits")
    p.add_argument("--out", default=None, help="write the markdown here (default: print it)")
    a = p.parse_args(argv)
    try:
        source, model, digits, name, data = _model_and_samples(a.model, a.data_dir, a.sample)
        lacks = missing(model)
        if lacks:
            raise ValueError(f"the report needs {', '.join(lacks)}")
    except ERRORS as e:
        return _fail(e)
    src = Path(source)
    label = str(src.relative_to(Path.cwd())) if src.is_absolute() and src.is_relative_to(Path.cwd()) else str(source)
    text = render(label, model, digits, name, data.layout().image)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text)
        print(f"wrote {a.out}")
    else:
        print(text)
    return 0


def export(argv: list[str]) -> int:
    from models.services.export import export_run

    p = argparse.ArgumentParser(prog="python -m models export",
                                description="A run as a compact model folder (float16 safetensors, config, metrics).")
    p.add_argument("run")
    p.add_argument("--out", required=True)
    p.add_argument("--snapshot-units", type=int, help="keep the filter snapshots of this many units, an equal share "
                   "of each kind (0: none; default: all)")
    p.add_argument("--without-unit-angles", action="store_true", help="the metrics without every unit's angle per "
                   "epoch (a smaller copy; its Composition page then shows no staged learning)")
    a = p.parse_args(argv)
    try:
        if a.snapshot_units is not None and 0 < a.snapshot_units < 3:
            raise ValueError(f"--snapshot-units must be 0 or at least 3 (one per kind), got {a.snapshot_units}")
        path = export_run(a.run, a.out, a.snapshot_units, unit_angles=not a.without_unit_angles)
    except ERRORS as e:
        return _fail(e)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def compare(argv: list[str]) -> int:
    from models.services import comparison
    from models.training.loop import Progress

    p = argparse.ArgumentParser(prog="python -m models compare", description="Train (or resume, or read) ISTA, "
                                "LISTA, the DrSAE and the structured + residual DrSAE on the same digits, each "
                                "with its family's recipe, and write one table of their numbers (OUT/compare.md).")
    p.add_argument("--out", required=True, help="folder for the runs and the table")
    p.add_argument("--families", default=",".join(comparison.compared()), help="comma-separated (default: all "
                   "the compared families)")
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds (default: %(default)s)")
    p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--unroll", type=int, default=11)
    p.add_argument("--sparsity", type=float, default=None, help="λ for all (default: each family's)")
    p.add_argument("--models", nargs="+", help="compare these run folders or model files instead of training (any "
                   "with a decoder and filters: a sparse autoencoder's rows about sparse coding read n/a)")
    p.add_argument("--digits", type=int, default=None, help="test digits to measure on (default: all)")
    p.add_argument("--max-iterations", type=int, default=1000, help="ISTA iterations to look for an equal objective")
    p.add_argument("--data-dir")
    p.add_argument("--device")
    p.add_argument("--threads", type=int)
    p.add_argument("--no-cuda-graph", action="store_true", help="run each update eagerly on CUDA")
    for name in ("pretrain_epochs", "epochs", "limit", "batch_size"):
        p.add_argument(flag(name), dest=name, type=int, help="for every run (default: each family's)")
    a = p.parse_args(argv)
    train = {k: getattr(a, k) for k in ("pretrain_epochs", "epochs", "limit", "batch_size") if getattr(a, k) is not None}

    def work(should_stop):
        seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
        families = [f.strip() for f in a.families.split(",") if f.strip()]
        return comparison.run(Path(a.out), families, seeds, a.hidden, a.unroll, train, a.data_dir, a.device,
                              Progress(), a.digits, a.max_iterations, a.sparsity, a.models,
                              graph=False if a.no_cuda_graph else None, should_stop=should_stop)
    return _train_and_print(work, a.out, a.threads)


def _train_and_print(work, out: str, threads: int | None) -> int:
    """Run work(should_stop) -> a table, or None if a signal stopped it (SIGTERM or Ctrl-C: the run in training
    checkpoints, and the same command resumes it); print the table, or fail in one line."""
    from models.training.loop import Collapsed, RunConflict
    from models.training.update import Diverged

    if threads:
        import torch

        torch.set_num_threads(threads)
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        text = work(lambda: stop["flag"])
    except (RunConflict, Diverged, Collapsed, *ERRORS) as e:
        return _fail(e)
    if text is None:
        print(f"stopped; the same command resumes the runs in {out}", file=sys.stderr)
        return 130
    print(text)
    return 0


def _posteriors(out: Path, train: dict, data_dir, iwae_k: int, iwae_digits: int, digits: int | None,
                should_stop) -> str | None:
    """Train the RG-VAE with each posterior (resumable), measure both on the same test digits, write the table."""
    from models.checkpoint import atomic_write, load_model
    from models.domains import dataset, spec as data_spec, test_set
    from models.families.rg_vae import FAMILY, POSTERIORS
    from models.families.rg_vae.posteriors import report as posteriors_report
    from models.training.loop import Progress, train as train_run

    data = data_spec()
    loaded = dataset(data, data_dir, train.get("limit"), data.inputs(FAMILY))[0]
    tc = train_config(FAMILY, **train)
    measured = {}
    for posterior in POSTERIORS:
        folder = out / posterior
        train_run(FAMILY.config(posterior=posterior), tc, folder, data=loaded, progress=Progress(),
                  should_stop=should_stop, spec=data)
        if run_folder.read_status(folder).get("state") == "stopped":
            return None
    test = test_set(data, data_dir)
    split = test.arrays.split(data.inputs(FAMILY)).head(digits)
    for posterior in POSTERIORS:
        model, _ = load_model(out / posterior)
        rows = run_folder.read_metrics(out / posterior)
        measured[posterior] = (model.likelihood(split, iwae_k, iwae_digits), rows[-1]["elapsed"] / 60 if rows
                               else None, len(rows))
    text, numbers = posteriors_report(measured, f"{len(split)} of the {test.name}", model.cfg.test_seed)
    atomic_write(out / "posteriors.md", text.encode())
    atomic_write(out / "posteriors.json", json.dumps(numbers, indent=1).encode())
    return text


def posteriors(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m models posteriors", description="Train (or resume, or read) the "
                                "rectified-Gaussian VAE twice, with the structured and the mean-field posterior "
                                "and otherwise the same settings, and write one table of both (OUT/posteriors.md).")
    p.add_argument("--out", required=True, help="folder for the two runs and the table")
    p.add_argument("--data-dir")
    p.add_argument("--threads", type=int)
    p.add_argument("--iwae-k", type=int, default=1000, help="importance samples per digit (default: %(default)s)")
    p.add_argument("--iwae-digits", type=int, default=1000, help="test digits for that bound (default: %(default)s)")
    p.add_argument("--digits", type=int, default=None, help="test digits for the other numbers (default: all)")
    for name in ("epochs", "limit", "batch_size", "seed"):
        p.add_argument(flag(name), dest=name, type=int, help="for both runs (default: the family's)")
    p.add_argument("--train-on", choices=["split", "all"], help="for both runs (default: the family's)")
    a = p.parse_args(argv)
    train = {k: getattr(a, k) for k in ("epochs", "limit", "batch_size", "seed", "train_on")
             if getattr(a, k) is not None}
    if a.iwae_k < 0 or a.iwae_digits < 0 or (a.digits is not None and a.digits < 1):
        p.error("--iwae-k and --iwae-digits must be at least 0, --digits at least 1")
    return _train_and_print(lambda should_stop: _posteriors(
        Path(a.out), train, a.data_dir, a.iwae_k, a.iwae_digits, a.digits, should_stop), a.out, a.threads)


def _model_of(source, *needs: str):
    """A model (default: the embedded default), its data, and a one-line refusal where it lacks `needs`."""
    from models.analysis.evaluate import data_of
    from models.assets import default_model_path
    from models.checkpoint import load_model

    source = source or default_model_path()
    model, meta = load_model(source)
    data = data_of(source, meta)
    _needs(model, data, *needs)
    return source, model, data


def gabor(argv: list[str]) -> int:
    from models.analysis.gabor import GOOD, fit_filters

    p = argparse.ArgumentParser(prog="python -m models gabor", description="Fit a 2-D Gabor to every decoder filter "
                                "of a model trained on images (patches): the share fitted well, their orientations, "
                                "frequencies and sizes.")
    p.add_argument("model", nargs="?", default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        source, model, data = _model_of(a.model, "filters", "image")
    except ERRORS as e:
        return _fail(e)
    w = model.unit_weights()
    fits = fit_filters(w.decoder, data.layout().image)
    good = fits.good
    summary = {"model": str(source), "domain": data.describe(), "units": len(good),
               "share_good": fits.share_good(), "good_r2": GOOD, "median_r2": float(np.median(fits.r2)),
               **{f"median_{k}": float(np.median(fits.column(k))) if good.any() else None
                  for k in ("frequency", "size", "sigma_x", "sigma_y")},
               "orientation_histogram": np.histogram(fits.column("theta"), bins=8, range=(0, np.pi))[0].tolist()}
    if a.json:
        print(json.dumps({**summary, "units_r2": fits.r2.round(4).tolist()}))
        return 0
    print(f"{summary['units']} decoder filters of {source} ({summary['domain']}): {100 * summary['share_good']:.1f} % "
          f"fitted by a Gabor with R² ≥ {GOOD} (median R² {summary['median_r2']:.3f}; higher is more Gabor-like)")
    if good.any():
        print(f"  of those: median frequency {summary['median_frequency']:.3f} cycles/pixel, envelope size "
              f"{summary['median_size']:.2f} pixels (σx {summary['median_sigma_x']:.2f} across the stripes, σy "
              f"{summary['median_sigma_y']:.2f} along them)")
        print("  orientations, 8 bins of 22.5° from 0°: " + ", ".join(map(str, summary["orientation_histogram"])))
    return 0


def recovery(argv: list[str]) -> int:
    from models.analysis.recovery import RECOVERED, over_training, recovery as recover
    from models.domains import test_set
    from models.training import snapshots

    p = argparse.ArgumentParser(prog="python -m models recovery", description="How well a model trained on data "
                                "with a known dictionary (synthetic) recovered it: each true atom's best cosine with "
                                "a decoder column, the Hungarian-matched mean (MCC), the share recovered, and when "
                                "in training each atom was found (from the run's filter snapshots).")
    p.add_argument("model", nargs="?", default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        source, model, data = _model_of(a.model, "filters", "ground_truth")
        truth = test_set(data).truth
        strip = snapshots.read(source)
    except (snapshots.SnapshotError, *ERRORS) as e:
        return _fail(e)
    r = recover(truth.dictionary, model.unit_weights().decoder, truth.parents)
    out = {"model": str(source), "domain": data.describe(), "atoms": len(r.best), "units": model.cfg.hidden,
           "mcc": r.mcc, "recovered": r.recovered, "recovered_at_cosine": RECOVERED,
           "mean_best_cosine": float(r.best.mean()), "chance_best_cosine": r.chance, "chance_mcc": r.chance_mcc,
           "chance_recovered": r.chance_recovered}
    if strip is not None:
        t = over_training(truth.dictionary, strip.epochs, strip.decoder)
        out |= {"snapshot_epochs": t.epochs.tolist(), "share_recovered_by_epoch": t.share().round(4).tolist(),
                "units_in_snapshots": t.units_kept,
                "median_epoch_recovered": float(np.median(t.recovered_at[t.recovered_at >= 0]))
                if (t.recovered_at >= 0).any() else None}
    if a.json:
        print(json.dumps({**out, "best_cosine": r.best.round(4).tolist()}))
        return 0
    print(f"{source} ({out['domain']}), {out['units']} units against {out['atoms']} true atoms (higher is better):")
    print(f"  MCC (Hungarian-matched mean cosine) {r.mcc:.3f} (a random dictionary of this size: {r.chance_mcc:.3f}); "
          f"{100 * r.recovered:.1f} % of the atoms recovered at cosine ≥ {RECOVERED} (random: "
          f"{100 * r.chance_recovered:.1f} %); mean best cosine {out['mean_best_cosine']:.3f} (random: {r.chance:.3f})")
    if strip is not None:
        shown = np.unique(np.round(np.linspace(0, len(strip.epochs) - 1, min(12, len(strip.epochs)))).astype(int))
        pairs = ", ".join(f"epoch {out['snapshot_epochs'][i]}: {100 * out['share_recovered_by_epoch'][i]:.0f} %"
                          for i in shown)
        print(f"  recovered over training ({out['units_in_snapshots']} units kept in the snapshots): {pairs}")
    return 0


def benchmark(argv: list[str]) -> int:
    """Train what is missing of a family × sparsity × seed grid on one domain (the job registry), measure every run
    the same way, write one table (md + json) and the figures."""
    import time

    from models.services import benchmark as bench, jobs
    from models.services.figures import write_html

    try:
        _, domain, _ = _family_and_saved(argv)
    except ERRORS as e:
        return _fail(e)
    p = argparse.ArgumentParser(prog="python -m models benchmark", description="Train (through the job registry: a "
                                "second call trains only what is missing) and measure every family × sparsity × "
                                "seed on one domain; write OUT/benchmark.md, benchmark.json and the frontier "
                                "figures. The Benchmark page opens OUT.")
    p.add_argument("--out", required=True, help="folder for the table and the figures")
    p.add_argument("--families", default=",".join(bench.default_families()), help="comma-separated (default: "
                   "%(default)s)")
    p.add_argument("--sparsity", nargs="+", help="FAMILY=v1,v2,... per family (or v1,v2,... for all); a family "
                   "not named takes its own three values (its λ or k)")
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds (default: %(default)s)")
    p.add_argument("--hidden", type=int, help="units of every grid run (default: each family's)")
    p.add_argument("--sizes", default=",".join(map(str, bench.SIZES)), help="dictionary sizes for feature "
                   "splitting, at each family's middle sparsity and first seed ('none': no chain; default: "
                   "%(default)s)")
    p.add_argument("--runs", help=f"the registry folder (default: {jobs.RUNS_ROOT})")
    p.add_argument("--cancel", action="store_true", help="cancel this benchmark (the same flags name its runs): its "
                   "queued runs leave the queue, its running ones checkpoint and stop; the same command without "
                   "--cancel trains them on")
    p.add_argument("--trainers", type=int, help="trainers at once, kept for the registry (default: its setting, "
                   "else one per two cores)")
    p.add_argument("--data-dir")
    p.add_argument("--compact", action="store_true", help="a small copy to ship (assets/benchmarks/): no HTML "
                   "figures, and of the seed pairs only the decoders at each family's middle sparsity")
    for name in ("epochs", "batch_size", "limit"):
        p.add_argument(flag(name), dest=name, type=int, help="for every run (default: each family's)")
    _data_flags(p, domain)
    a = p.parse_args(argv)
    root = Path(a.runs) if a.runs else jobs.RUNS_ROOT
    train = {k: getattr(a, k) for k in ("epochs", "batch_size", "limit") if getattr(a, k) is not None}
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    try:
        data = _data_of(a, domain, argv)
        families = bench.families_of([f.strip() for f in a.families.split(",") if f.strip()])
        sparsity = bench.parse_sparsity(a.sparsity, families)
        seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
        sizes = () if a.sizes.strip() == "none" else tuple(int(s) for s in a.sizes.split(",") if s.strip())
        if not seeds:
            raise ValueError("--seeds: give at least one seed")
        planned = bench.plan(data, families, sparsity, seeds, root, a.hidden, sizes, train)
        if a.cancel:
            return _cancelled(root, [p_.run.name for p_ in planned])
        if a.trainers is not None:
            jobs.set_max_trainers(a.trainers, root)
        print(f"{len(planned)} runs on {data.describe()} in {root}; {jobs.max_trainers(root)} train at once.")
        t0 = time.time()
        states = bench.train_missing(planned, data, root, a.data_dir, should_stop=lambda: stop["flag"])
        if stop["flag"]:
            print("stopped waiting; the trainers go on in the background, and the same command picks them up",
                  file=sys.stderr)
            return 130
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # measuring writes nothing until its end: stop at once
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(f"trained in {time.time() - t0:.0f} s; measuring")
        result, shown = bench.measure(planned, states, data, a.data_dir, compact=a.compact)
        result.created = time.strftime("%Y-%m-%d")
        result.command = "python -m models benchmark " + " ".join(argv)
        paths = bench.write(result, shown, Path(a.out))
        if not a.compact:
            paths += write_html(result.to_dict(), Path(a.out))
    except (jobs.JobError, *ERRORS) as e:
        return _fail(e)
    except KeyboardInterrupt:
        print("stopped while measuring; the same command measures again (nothing is trained again)", file=sys.stderr)
        return 130
    print(bench.markdown(result))
    print("wrote " + ", ".join(str(p_) for p_ in paths))
    return 0 if all(s == "done" for s in states.values()) else 1


def _host_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host-weights", help="the host's weights: a file (a state dict, read without running code), or "
                   "torchvision's own by their name (DEFAULT)")


def _data_of(a, domain, argv: list[str], opened=None) -> DataSpec:
    """The data the flags name; with a host, its own data when it has one and --domain was not given."""
    if opened is not None and opened.data and not any(x.startswith("--domain") for x in argv):
        domain = domain_named(opened.data)
    return DataSpec(domain, domain.config(**{f.name: getattr(a, f.name) for f, _ in settings(domain.config)
                                             if hasattr(a, f.name)}))


def _host_parser(argv: list[str], prog: str, description: str):
    """A parser with the host's and the data's flags (hosts, harvest), and the domain the flags name."""
    _, domain, _ = _family_and_saved(argv)
    p = argparse.ArgumentParser(prog=f"python -m models {prog}", description=description)
    _host_flags(p)
    p.add_argument("--data-dir")
    _data_flags(p, domain)
    return p, domain


def hosts(argv: list[str]) -> int:
    """The hosts this version knows; a host's layers with the shape of what each gives; the embedded host trained."""
    from models import hosts as hosts_

    try:
        p, domain = _host_parser(argv, "hosts", "Without HOST: the host models this version knows. With one: its "
                                 "layers (named modules) and the shape of each one's output for one sample of its "
                                 "data, what `harvest --layer` takes.")
    except ERRORS as e:
        return _fail(e)
    p.add_argument("host", nargs="?", help="digits-cnn (embedded), torchvision:NAME, ...")
    p.add_argument("--train-embedded", metavar="DIR", help="train the embedded host (a small CNN) on digits into DIR")
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args(argv)
    try:
        if a.train_embedded:
            facts = hosts_.digits_cnn.train_embedded(Path(a.train_embedded), a.data_dir, a.epochs)
            print(f"wrote {a.train_embedded}: test error {facts['test_error']:.2f} % on {facts['test_samples']:,} "
                  f"test digits, {facts['seconds']:.0f} s")
            return 0
        if not a.host:
            for h in hosts_.all_hosts():
                print(f"{h.name:14s} {h.summary}")
            return 0
        opened = hosts_.open_host(a.host, a.host_weights)
        data = _data_of(a, domain, argv, opened)
        from models.domains import dataset

        ds, _ = dataset(data, a.data_dir, 1, inputs=hosts_.raw_inputs(data.layout()))
        x = opened.inputs(ds.test.take(slice(0, 1)).x, data.layout().image)
        print(f"{opened.describe}; one of the {data.describe()} as input {tuple(x.shape[1:])}:")
        for name, shape in hosts_.layer_shapes(opened, x):
            print(f"  {name:32s} {'×'.join(map(str, shape)) if shape else '(not one tensor)'}")
    except (hosts_.HostError, *ERRORS) as e:
        return _fail(e)
    return 0


def harvest(argv: list[str]) -> int:
    """A host's layer over a domain's samples, written as an activation store any family trains on."""
    from models import hosts as hosts_
    from models.hosts.harvest import harvest as run_harvest

    try:
        p, domain = _host_parser(argv, "harvest", "Run a host model over a data domain's samples and write what one "
                                 "layer gives as an activation store (shards and a manifest; a convolutional layer: a "
                                 "vector per position). A killed harvest continues where it stopped. Train on it: "
                                 "train --domain vectors --vectors OUT.")
    except ERRORS as e:
        return _fail(e)
    p.add_argument("--host", required=True, help="digits-cnn (embedded), torchvision:NAME, ...")
    p.add_argument("--layer", required=True, help="a named module (`python -m models hosts HOST` lists them)")
    p.add_argument("--out", required=True, help="the store's folder")
    p.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    p.add_argument("--limit", type=int, help="the first N samples of each split")
    p.add_argument("--batch-size", type=int, default=256)
    a = p.parse_args(argv)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
    try:
        if a.limit is not None and a.limit < 1 or a.batch_size < 1:
            raise ValueError("--limit and --batch-size must be at least 1")
        opened = hosts_.open_host(a.host, a.host_weights)
        manifest = run_harvest(opened, a.layer, _data_of(a, domain, argv, opened), Path(a.out), a.data_dir, a.dtype,
                               a.limit, a.batch_size, should_stop=lambda: stop["flag"])
    except (hosts_.HostError, *ERRORS) as e:
        return _fail(e)
    if manifest is None:
        print("stopped; the same command continues after the last shard written", file=sys.stderr)
        return 130
    rows = {part: sum(s["rows"] for s in manifest[part]) for part in ("train", "val", "test") if part in manifest}
    print(f"wrote {a.out}: " + ", ".join(f"{n:,} {part}" for part, n in rows.items())
          + f" vectors of {manifest['dimension']} ({manifest['dtype']}); train on it: python -m models train "
          f"--domain vectors --vectors {a.out} --family topk-sae --out runs/NAME")
    return 0


COMMANDS = {"train": train, "hosts": hosts, "harvest": harvest, "evaluate": evaluate, "units": units, "report": report, "export": export,
            "compare": compare, "posteriors": posteriors, "gabor": gabor, "recovery": recovery,
            "benchmark": benchmark}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stdout if argv[:1] in (["-h"], ["--help"]) else sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return COMMANDS[argv[0]](argv[1:])
