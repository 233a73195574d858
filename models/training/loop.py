"""The training loop: pre-train on L_U, then train on L_U + w L_S, validating and checkpointing each epoch.
Resumable: the same call on the same run folder continues from its checkpoint.

The loop knows no family: it builds the model from the config's family, and takes the training update as an
argument (by default the family's, else models/training/update.py), so probes and new families never patch it.
"""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import torch

from models.checkpoint import CHECKPOINT, PREVIOUS, load_model, load_training_state, save_training_state, tidy
from models.data import Dataset
from models.domains import DataSpec, dataset, spec as data_spec, spec_of
from models.families import architecture, capabilities, get, of_config
from models.families.base import UnitWeights
from models.kinds import angles, kind_counts, kinds
from models.training import batches, run_folder, snapshots, tensorboard
from models.training.config import TrainConfig
from models.training.optim import lr_at, make_optimizer
from models.training.run_folder import DamagedRun, run_config
from models.training.update import COUNT, Diverged, Updater
from models.training.validate import evaluate_split

EPOCH_SAVE_GAP = 1.0  # seconds
VALIDATION_SAMPLES = 100_000  # an epoch is validated on at most the first this many validation samples

# Settings that may change between a run and its resumption without changing what it computes.
RESUMABLE = {"checkpoint_every"}


class RunConflict(RuntimeError):
    pass


class Collapsed(RuntimeError):
    """A run that finished but learned nothing usable (it ends "failed", with the reason)."""


def check_config(have: dict | None, wanted: dict, where: Path) -> bool:
    """A run folder belongs to one set of settings: resuming with others would mix two experiments. `have`: the
    settings the folder's config.json or checkpoint (`where`) holds. One change is a continuation, not a new
    experiment: more supervised epochs for a run at a steady lr (min_lr_ratio 1), whose lr does not depend on the
    epoch count. Returns True for such an extension."""
    if have is None:
        return False
    run = where.parent
    if architecture(have) != wanted["architecture"]:
        raise RunConflict(f"{run} holds a {architecture(have)} run, not a {wanted['architecture']} one. "
                          "Use another --out.")
    family = get(wanted["architecture"])
    try:
        have_tc = TrainConfig.from_dict(have["train"])
        have_data = spec_of(have)
        have = {"model": family.config.from_dict(have["model"]).to_dict(),  # fills settings added since
                "train": have_tc.to_dict(), "domain": have_data.cfg.to_dict()}
    except (ValueError, TypeError) as e:
        raise DamagedRun(f"{where} holds settings that cannot be read: {e}") from None
    wanted_data = spec_of(wanted)  # a request without a domain asks for digits, as a saved run without one had
    if have_data.domain.name != wanted_data.domain.name:
        raise RunConflict(f"{run} holds a run on {have_data.domain.name}, not on {wanted_data.domain.name}. "
                          "Use another --out.")
    wanted = {**wanted, "domain": wanted_data.cfg.to_dict()}
    diffs, extends = [], False
    for part in ("model", "train", "domain"):
        for k in set(have[part]) | set(wanted[part]):
            if k in RESUMABLE:
                continue
            a, b = have[part].get(k), wanted[part].get(k)
            if a == b:
                continue
            if (part, k) == ("train", "epochs") and b > a and have_tc.extendable:
                extends = True  # min_lr_ratio itself must still match (this loop reports it)
                continue
            diffs.append(f"{part}.{k}: run has {a!r}, asked {b!r}")
    if diffs:
        hint = (" (a run at a steady lr, --min-lr-ratio 1, can be extended with more --epochs; a cosine schedule "
                "depends on its length)" if any(d.startswith("train.epochs") for d in diffs) else "")
        raise RunConflict(f"{run} holds a run with other settings ({'; '.join(diffs)}). Use another --out, or the "
                          f"same settings to resume{hint}.")
    return extends


def collapsed(row: dict, tc: TrainConfig, classes: int) -> str | None:
    """Why a finished run is no use, if it is not: no unit active, or a classifier no better than chance."""
    if row["val_active"] < 0.01:
        return f"no unit is active on the validation samples (mean {row['val_active']:.3f} active units)"
    chance = 100.0 * (1 - 1 / max(classes, 1))
    if row.get("val_error") is not None and tc.epochs > 0 and classes > 1 and row["val_error"] >= chance - 2:
        return f"the validation error, {row['val_error']:.1f} %, is at chance level ({chance:.0f} %)"
    return None


class Progress:
    """A one-line terminal progress bar (or a line per epoch when output is not a terminal)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty, self.last = self.stream.isatty(), 0.0
        self.fields = ()  # (label, metrics key, format) per number on an epoch's line: the family's `progress`

    def update(self, epoch: int, total: int, phase: str, frac: float, eta: float, loss: float) -> None:
        now = time.time()
        if not self.tty or now - self.last < 0.2:
            return
        self.last = now
        bar = "#" * int(frac * 30)
        self.stream.write(f"\repoch {epoch + 1}/{total} {phase:10s} [{bar:30s}] {frac:4.0%} loss {loss:.4f} eta {_hms(eta)}  ")
        self.stream.flush()

    def epoch(self, row: dict) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 100 + "\r")
        losses = "".join(f"{label} {fmt.format(row[key])} " for label, key, fmt in self.fields
                         if row.get(key) is not None)
        self.stream.write(f"epoch {row['epoch'] + 1} {row['phase']}: {losses}active {row['val_active']:.1f} "
                          f"({row['epoch_time']:.1f}s)\n")
        self.stream.flush()


def _hms(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def train(mc, tc: TrainConfig, out: str | Path, data: Dataset | None = None, data_dir=None,
          device: str | None = None, progress: Progress | None = None, should_stop=lambda: False,
          graph: bool | None = None, update=None, spec: DataSpec | None = None, observers: tuple = ()) -> list[dict]:
    """Train a model of `mc`'s family on `spec`'s data (default: digits) into run folder `out`, resuming from its
    checkpoint if one is there. `data`: those samples already loaded (as the family reads them). Returns the metrics
    rows. `update`: (model, optimizer, tc, graph) -> the training update (default: the family's, else Updater).
    `graph`: replay the update as a CUDA graph (default: on CUDA with SGD). `observers`: callables given each epoch's
    metrics row once it is checkpointed (a sweep engine's report)."""
    family = of_config(mc)
    spec = spec or data_spec()
    layout = spec.layout()
    mc = family.fit(mc, layout)  # its input size and classes from the data
    out = Path(out)
    wanted = run_config(mc, tc, spec)
    if progress is not None:
        progress.fields = family.progress
    # Check the request against all that the folder holds before anything is written to it.
    run_folder.check_free(out)  # another trainer has it: refused before anything is loaded
    for line in tidy(out) if out.is_dir() else []:  # a killed trainer's temporary files
        if progress:
            progress.stream.write(f"{line}\n")
    have = run_folder.read_config(out)
    seen = stamp(out)  # the checkpoint as read, checked again once this trainer holds the folder
    st = load_training_state(out / CHECKPOINT) if (out / CHECKPOINT).exists() or (out / PREVIOUS).exists() else None
    extends = check_config(have, wanted, out / run_folder.CONFIG)
    if st is not None and "train_config" in st:
        saved = {"architecture": architecture(st), "domain": st.get("domain"), "model": st["config"],
                 "train": st["train_config"]}
        extends = check_config(saved, wanted, out / CHECKPOINT) or extends
        if st["progress"]["epoch"] >= tc.total_epochs:  # nothing to do: a finished run is read, not written
            if progress:
                progress.stream.write(f"{out} has finished its {tc.total_epochs} epochs already\n")
            return _finish(out, list(st["history"]), tc, layout.n_classes)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    inputs = spec.inputs(family)
    data = dataset(spec, data_dir, tc.limit, inputs)[0] if data is None else data.head(tc.limit)
    if tc.train_on == "all":
        data = data.all_training()
    val_split = data.val.head(VALIDATION_SAMPLES)
    wanted["data"] = {"source": data.source, "n_train": len(data.train), "n_val": len(val_split),
                      "val_held_out": tc.train_on == "split", "test_fingerprint": data.fingerprint,
                      **({"scale": inputs.factor} if hasattr(inputs, "factor") else {})}
    torch.manual_seed(tc.seed)
    resuming = st is not None
    model = (family.create(mc) if resuming else
             family.new(mc, batches.start_rows(data.train, tc.seed), tc.seed, load_model, layout)).to(device)
    opt = make_optimizer(model, tc)
    gen = torch.Generator().manual_seed(tc.seed)
    epoch, batch, perm, acc, history, elapsed = 0, 0, None, None, [], 0.0  # perm: the batch source's state
    if resuming:
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["generator"])
        p = st["progress"]
        batch = p.get("batch", p.get("step"))  # "step" in checkpoints written before "batch"
        epoch, elapsed, history = p["epoch"], p["elapsed"], list(st["history"])
        perm, acc = st.get("perm"), st.get("acc")
        if progress:
            if "restored_from" in st:
                progress.stream.write(f"{out / CHECKPOINT} is damaged: resuming from {st['restored_from']}\n")
            progress.stream.write(f"resuming {out} at epoch {epoch + 1}, batch {batch}\n")

    updater = (update or family.update or Updater)(model, opt, tc, graph=graph)  # refuses settings it cannot do
    out.mkdir(parents=True, exist_ok=True)  # all checked: from here on the run folder is written
    with run_folder.trainer_lock(out):  # one trainer a folder: a second is refused (run_folder.Busy)
        if stamp(out) != seen:
            raise RunConflict(f"another trainer wrote {out} while this one started: run the command again")
        if extends or have is None or "data" not in have:  # a job's folder gets its config before its data
            run_folder.write_json(out / run_folder.CONFIG, wanted)
        if resuming:
            run_folder.write_metrics(out, history)  # the checkpoint is the truth; drop rows written after it
            run_folder.keep_unit_angles(out, len(history))
        source = batches.source_for(data.train, tc.batch_size, device, gen, tc.seed)
        source.resume(perm)
        n_batches = source.n_batches
        updater.reset(acc, st.get("grad_norms") if resuming else None)
        if resuming and st.get("rng") is not None:  # checkpoints written before the generators were kept lack them
            torch.set_rng_state(st["rng"])
            if st.get("cuda_rng") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(st["cuda_rng"])
        if resuming and updater.average is not None:
            updater.average.load_state_dict(st["average"])
            updater.averaged.fill_(st["averaged"])

        def save(state_epoch, state_batch, state_perm, total_elapsed, acc=None):
            updater.health()  # raises Diverged: a diverged model is never checkpointed
            save_training_state(out / CHECKPOINT, {
                "architecture": family.name, "domain": spec.to_dict(), "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(), "config": mc.to_dict(), "train_config": tc.to_dict(), "history": history,
                "perm": state_perm, "acc": acc,
                # mid-epoch: this epoch's gradient norms so far, for its row's statistics
                "grad_norms": None if acc is None else updater.grad_norm_history(),
                # the global generators: what a family draws from them (the RG-VAE's samples and binarisation)
                "rng": torch.get_rng_state(),
                **({"cuda_rng": torch.cuda.get_rng_state_all()} if torch.cuda.is_available() else {}),
                **({} if updater.average is None else {"average": updater.average.state_dict(),
                                                       "averaged": updater.averaged.item()}),
                "progress": {"epoch": state_epoch, "batch": state_batch, "elapsed": total_elapsed,
                             "total_epochs": tc.total_epochs,
                             "val_error": history[-1]["val_error"] if history else None},
            })

        board = tensorboard.Writer(out, epoch if resuming else None, layout.image)
        run_folder.write_status(out, state="running", pid=os.getpid(), epoch=epoch, total_epochs=tc.total_epochs,
                                frac=0.0, message="", device=device)
        if not resuming:
            snapshot(out, unit_weights(updater.output), 0, tc.total_epochs)
        t_run0 = time.time() - elapsed
        t_proc0, done0 = time.time(), (epoch + batch / n_batches) / tc.total_epochs  # ETA from this process's pace
        last_save = last_check = time.time()
        saved, loss = False, float("nan")
        try:
            while epoch < tc.total_epochs:
                phase = ("pretrain" if epoch < tc.pretrain_epochs else
                         "supervised" if family.capabilities_of(mc).classifier else "train")
                if source.begin(batch):  # a new epoch, not one a checkpoint is in the middle of
                    batch = 0
                    updater.reset()
                t0 = time.time()
                model.train()
                for x, y in source.batches(epoch, batch):
                    if should_stop() or (out / run_folder.STOP).exists():
                        save(epoch, batch, source.state(), time.time() - t_run0, updater.acc.cpu())
                        run_folder.write_status(out, state="stopped", message="stopped; rerun to resume")
                        (out / run_folder.STOP).unlink(missing_ok=True)  # the request is served
                        return history
                    lr = lr_at(tc, epoch, batch / n_batches)
                    model.schedule_(epoch + batch / n_batches)
                    updater(x, y, lr, phase == "supervised")
                    batch += 1
                    now = time.time()
                    if now - last_check > 0.5:  # a sync twice a second: the bar, and divergence found early
                        try:
                            loss = updater.health()
                        except Diverged as e:
                            raise Diverged(f"{e} in epoch {epoch + 1}, by batch {batch}") from None
                        last_check = now
                    done = (epoch + batch / n_batches) / tc.total_epochs
                    eta = (now - t_proc0) / max(done - done0, 1e-9) * (1 - done)
                    if progress:
                        progress.update(epoch, tc.total_epochs, phase, batch / n_batches, eta, loss)
                    if now - last_save > tc.checkpoint_every:
                        save(epoch, batch, source.state(), now - t_run0, updater.acc.cpu())
                        run_folder.write_status(out, state="running", epoch=epoch, frac=batch / n_batches, eta=eta)
                        last_save, saved = now, True
                try:
                    updater.health()
                except Diverged as e:
                    raise Diverged(f"{e} in epoch {epoch + 1}") from None
                a = updater.acc.tolist()
                recon, l1, sup = (v / max(a[COUNT], 1) for v in a[:COUNT])
                upkeep = model.after_epoch_(epoch, source.draw, opt, gen)  # e.g. dead latents resampled
                if family.validate is None:
                    val = evaluate_split(updater.output, val_split, device=device, densities=True)
                else:
                    val = family.validate(updater.output, val_split, device=device)
                density = val.pop("density", None)
                weights = unit_weights(updater.output)  # the filters, once an epoch: their angles and snapshot
                theta = None if weights is None else angles(weights.encoder, weights.decoder)
                kinds_apply = family.capabilities_of(mc).kinds
                if not all(math.isfinite(v) for v in val.values() if v is not None):
                    raise Diverged(f"validation losses became non-finite at epoch {epoch + 1}: {val}")
                row = {"epoch": epoch, "phase": phase, "lr": lr,
                       "train_recon": recon, "train_l1": l1, "train_unsup": recon + model.unsup_weight * l1,
                       "train_sup": sup if family.capabilities_of(mc).classifier else None, **{f"val_{k}": v for k, v in val.items() if k != "l1"}, **(kind_columns(theta) if kinds_apply else {}), "epoch_time": time.time() - t0,
                       "elapsed": time.time() - t_run0, **upkeep, **updater.grad_norm_stats()}
                history.append(row)
                run_folder.append_metrics(out, row)
                if theta is not None:
                    run_folder.append_unit_angles(out, theta)
                epoch, batch = epoch + 1, 0
                source.end()
                kept = snapshot(out, weights, epoch, tc.total_epochs)
                board.epoch(row, weights.decoder if kept and weights is not None else None, density)
                # a fast (GPU) epoch takes well under a second: checkpoint at most once a second, at the end, and
                # every epoch for an observer (a sweep engine may stop the run after it)
                if epoch == tc.total_epochs or not saved or observers or time.time() - last_save >= EPOCH_SAVE_GAP:
                    save(epoch, 0, None, time.time() - t_run0)
                    last_save, saved = time.time(), True
                eta = (time.time() - t_run0) / epoch * (tc.total_epochs - epoch) if epoch else 0.0
                run_folder.write_status(out, state="running", epoch=epoch, frac=0.0, eta=eta, val_error=val["error"])
                if progress:
                    progress.epoch(row)
                for observe in observers:  # checkpointed: whatever an observer decides, nothing is lost
                    observe(row)
        except Diverged as e:
            kept = ("The last good checkpoint is kept" if (out / CHECKPOINT).is_file() else
                    "No checkpoint was written (it diverged before the first)")
            msg = f"Training diverged: {e}. {kept}; lower --lr and start again with a new --out."
            run_folder.write_status(out, state="failed", message=msg)
            raise Diverged(msg) from None
        except Exception as e:  # whatever stops the trainer, the run must not stay "running"
            run_folder.write_status(out, state="failed", message=f"{type(e).__name__}: {e}")
            raise
        finally:
            board.close()
        return _finish(out, history, tc, layout.n_classes)


def stamp(out: Path) -> float | None:
    """When the folder's checkpoint was last written (None: none yet)."""
    try:
        return (out / CHECKPOINT).stat().st_mtime
    except OSError:
        return None

def unit_weights(model) -> UnitWeights | None:
    """A family with filters: its units' weights now (None for one without)."""
    return model.unit_weights() if capabilities(model).filters else None


def kind_columns(theta) -> dict:
    """How many units of each kind the model has now, from every unit's encoder–decoder angle `theta` (kept in
    unit_angles.f32: when each unit settled into its kind, models/analysis/staging.py)."""
    return {} if theta is None else {f"units_{k}": n for k, n in kind_counts(kinds(theta)).items()}


def snapshot(out: Path, weights: UnitWeights | None, epoch: int, total_epochs: int) -> bool:
    """The filters after `epoch` epochs, where the snapshot schedule keeps that epoch (True: kept)."""
    return weights is not None and snapshots.record(out, epoch, total_epochs, weights.encoder, weights.decoder)


def _finish(out: Path, history: list[dict], tc: TrainConfig, classes: int) -> list[dict]:
    """The final status of a run that trained all its epochs: done, or failed if it learned nothing usable.
    Written only where the status file says otherwise, so a finished run on a read-only disk can be read."""
    why = collapsed(history[-1], tc, classes) if history else None
    msg = f"Training ended but learned nothing usable: {why}. Try a lower --lr or --sparsity." if why else "finished"
    final = {"state": "failed" if why else "done", "message": msg}
    try:
        status = run_folder.read_status(out)
    except DamagedRun:
        status = {}
    if any(status.get(k) != v for k, v in final.items()):
        run_folder.write_status(out, epoch=tc.total_epochs, frac=1.0, eta=0.0, **final)
    if why:
        raise Collapsed(msg)
    return history
