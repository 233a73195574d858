"""Sweeps on Ray Tune, for grids that outgrow one machine: `python -m models train sweep ... --engine ray`.

Each trial runs the same training loop into the same run folder as a local sweep's run (runs/NAME), so the app,
`evaluate` and every page read it unchanged; on a cluster the runs folder is a shared path and the checkout is at the
same path on every machine. Each epoch's validation number goes to Tune once it is checkpointed; ASHA may stop a
trial early, and its folder then says "stopped early at epoch N" (and keeps what it learned). Killing the driver and
running the same command again resumes the sweep: a finished or early-stopped run is read, not trained again, and a
run cut off resumes from its checkpoint. Ray is imported only here, only when chosen.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from models.domains import DataSpec, spec_of
from models.families import get, of_config
from models.services import jobs
from models.training import run_folder
from models.training.config import TrainConfig

EARLY = "early_stopped"  # a status key: ASHA stopped this run; a second sweep leaves it as it is


class RayError(RuntimeError):
    """Ray could not run the sweep (no cluster at that address, not installed): one line."""


def watched(family) -> tuple[str, str]:
    """The number a sweep's early stopping compares trials by, and whether lower or higher is better."""
    return family.watch


def _trial(config: dict) -> None:
    """One run, in a Ray worker: train it (or resume it, or read it when finished) in its run folder, reporting each
    checkpointed epoch's watched number to Tune."""
    import torch
    from ray import tune

    from models.training.loop import train

    trial = config["trial"]
    torch.set_num_threads(trial["threads"])
    run = Path(trial["run"])
    try:
        status = run_folder.read_status(run)
    except run_folder.DamagedRun:
        status = {}
    if status.get(EARLY):
        return  # ASHA stopped it in an earlier sweep: what it learned stands
    saved = trial["config"]
    family = get(saved["architecture"])
    mc, tc = family.config.from_dict(saved["model"]), TrainConfig.from_dict(saved["train"])
    key, _ = family.watch

    def report(row: dict) -> None:
        value = row.get(key)
        if value is not None:
            tune.report({"epoch": row["epoch"] + 1, key: value})

    train(mc, tc, run, data_dir=trial["data_dir"], device="cpu", spec=spec_of(saved), observers=(report,))


def reachable(address: str | None, timeout: float = 5.0) -> None:
    """RayError at once if HOST:PORT answers no connection (ray.init would retry for minutes)."""
    import socket

    if not address or address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise RayError(f"no Ray cluster at {address} ({e.strerror if isinstance(e, OSError) and e.strerror else e}): "
                       "start one with `ray start --head`, or leave out --address") from None


def why(error: BaseException) -> str:
    """A trial's error in one line: the exception raised in the trial, not Ray's wrapping of it."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip()
    return (f"{type(cause).__name__}: {text.splitlines()[0]}" if text else type(cause).__name__)[:300]


def _finished(run: Path, saved: dict) -> None:
    """A run whose checkpoint holds all its epochs: its final status, as the loop writes it (no data is loaded)."""
    from models.training.loop import train

    family = get(saved["architecture"])
    train(family.config.from_dict(saved["model"]), TrainConfig.from_dict(saved["train"]), run, device="cpu",
          spec=spec_of(saved))


def run(configs: list[tuple], root: Path, data: DataSpec, data_dir: str | None = None, address: str | None = None,
        cpus_per_trial: int = 1, early_stop: str | None = None, grace_epochs: int = 1,
        log: Callable[[str], None] = print) -> dict[str, str]:
    """Train every (model config, train config) of a grid as a Tune trial; returns each run's final state by name.
    `address`: a running cluster's ("auto", "HOST:PORT"), or None for a Ray on this machine."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no tables on the terminal: the sweep prints its own lines
    try:
        import ray
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
    except ImportError:
        raise RayError("Ray is not installed: pip install 'ray[tune]' (make test installs it), or sweep without "
                       "--engine ray") from None
    root = Path(root).resolve()
    trials, families = [], set()
    for mc, tc in configs:  # every setting checked before Ray starts or a folder is written
        data_, mc = jobs.fitted(mc, data)
        trials.append({"run": str(root / jobs.run_name(mc, tc, data_)), "config": run_folder.run_config(mc, tc, data_),
                       "data_dir": data_dir, "threads": cpus_per_trial})
        families.add(of_config(mc).name)
    if len(families) != 1:
        raise RayError("a Ray sweep trains one family")
    family = get(families.pop())
    key, mode = family.watch
    epochs = max(tc.total_epochs for _, tc in configs)
    checkout = str(Path(__file__).resolve().parents[2])
    t0 = time.time()
    reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 ignore_reinit_error=True, runtime_env={"env_vars": {"PYTHONPATH": checkout}},
                 **({} if address else {"num_cpus": os.cpu_count() or 1}))
    except OSError:
        raise  # a folder Ray cannot use: the CLI names it in one line
    except Exception as e:  # noqa: BLE001 (ray.init raises a bare Exception when its node times out starting)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RayError(f"no Ray cluster at {address}: {first}" if address else f"Ray did not start on this machine: "
                       f"{first}") from None
    log(f"Ray started in {time.time() - t0:.1f} s ({'cluster at ' + address if address else 'this machine'})")
    for t in trials:  # the registry lists them (the Training and Sweep pages) before their trials start
        run_dir = Path(t["run"])
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (run_dir / run_folder.CONFIG).is_file():
            run_folder.write_json(run_dir / run_folder.CONFIG, t["config"])
    scheduler = (ASHAScheduler(time_attr="epoch", metric=key, mode=mode, grace_period=grace_epochs, max_t=epochs)
                 if early_stop == "asha" else None)
    tuner = tune.Tuner(
        tune.with_resources(_trial, {"cpu": cpus_per_trial}),
        param_space={"trial": tune.grid_search(trials)},
        tune_config=tune.TuneConfig(scheduler=scheduler, reuse_actors=False),
        run_config=tune.RunConfig(name=f"sweep-{int(time.time())}", storage_path=str(root / ".ray"),
                                  verbose=0, failure_config=tune.FailureConfig(max_failures=0)),
    )
    try:
        results = tuner.fit()
    finally:
        if not address:
            ray.shutdown()
    states = {}
    for result in results:
        run_dir = Path(result.config["trial"]["run"])
        saved = result.config["trial"]["config"]
        total = TrainConfig.from_dict(saved["train"]).total_epochs
        epochs_done = int((result.metrics or {}).get("epoch", 0) or 0)
        job = jobs.job(run_dir)
        if result.error is None and job.state not in ("done", "failed") and epochs_done >= total:
            _finished(run_dir, saved)  # stopped right after its last epoch: finished, its status not yet written
        elif result.error is None and job.state not in ("done", "failed") and epochs_done:
            run_folder.write_status(run_dir, state="stopped", message=f"stopped early at epoch {epochs_done} (ASHA: "
                                    f"its {key} behind the others')", **{EARLY: True}, epoch=epochs_done)
        if result.error is not None:
            reason = why(result.error)
            if jobs.job(run_dir).state != "failed":  # it failed before the loop could say so (its setup)
                run_folder.write_status(run_dir, state="failed", message=reason)
            log(f"{run_dir.name}: failed ({reason})")
        states[run_dir.name] = jobs.job(run_dir).state
    return states
