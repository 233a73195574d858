"""Train a DrSAE: pre-train on L_U, then train on L_U + L_S. Resumable: rerun the same command.

    python -m models.train --hidden 400 --unroll 11 --sparsity 0.025 --data-dir DIR --out runs/NAME
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from models import runs
from models.checkpoint import CHECKPOINT, CheckpointError, load_training_state, save_training_state
from models.data import DataError, MNIST, load_mnist
from models.drsae import C_BOUNDS, DrSAE, DrSAEConfig
from models.metrics import evaluate_split
from models.step import COUNT, Diverged, Stepper


# What `train_on` trains on. "all" is the final fit on the 60k at an epoch count chosen on the split; its
# validation digits are then training digits, and its "validation" numbers training numbers.
TRAIN_ON = ("split", "all")


# Settings added after runs were written whose default is not what those runs did: a config without them
# had them off.
LEGACY = {"ema": 0.0}


@dataclass(frozen=True)
class TrainConfig:
    pretrain_epochs: int = 5
    epochs: int = 100  # supervised epochs, after pre-training
    batch_size: int = 50
    lr: float = 0.0035
    min_lr_ratio: float = 1.0  # cosine decay within each phase down to lr * this; 1 = a steady lr (see ema)
    optimizer: str = "sgd"  # sgd (as the paper) | adam; see param_groups
    c_lr_scale: float = 200.0  # sgd: C's lr is this times lr
    sup_weight: float = 1.0  # L_U + w L_S, as the paper (0.2 keeps more part units but errs more: README)
    momentum: float = 0.9  # sgd
    grad_clip: float = 1.0  # max global gradient norm (0 = off): the recurrence can blow up a step
    # max norm of each digit's gradient before the batch mean (0 = off): a few digits' gradients explode
    # through the recurrence and fill the clipped batch step; cutting them learns no better (models/digit_clip.py)
    digit_clip: float = 0.0
    # Per-step decay of a moving average of the weights (0 = off); the average is the result. A steady lr
    # keeps SGD's noise, which generalizes (a decayed lr fits the training set and errs more), and the
    # average removes the noise from the result: README, "Recipe".
    ema: float = 0.9999
    seed: int = 0
    train_on: str = "split"  # split: the first 50k digits, the last 10k held out | all: the 60k (a final fit)
    limit: int | None = None  # keep the first n digits of each split (tests, quick looks)
    checkpoint_every: float = 60.0  # seconds between mid-epoch checkpoints

    def __post_init__(self):
        if self.train_on not in TRAIN_ON:
            raise ValueError(f"train_on must be one of {TRAIN_ON}, not {self.train_on!r}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema is a decay per step in [0, 1), not {self.ema}")

    @property
    def total_epochs(self) -> int:
        return self.pretrain_epochs + self.epochs

    @property
    def extendable(self) -> bool:
        """A steady lr does not depend on the run's length, so more epochs continue the run; a cosine does."""
        return self.min_lr_ratio == 1.0

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config as written, settings added since then taking the value those runs trained with."""
        known = {f.name for f in fields(cls)}
        return cls(**{**LEGACY, **{k: v for k, v in d.items() if k in known}})


EPOCH_SAVE_GAP = 1.0  # seconds

# Settings that may change between a run and its resumption without changing what it computes.
RESUMABLE = {"checkpoint_every"}
# The model settings the CLI takes (the rest of DrSAEConfig are the paper's constants).
MODEL_FLAGS = ("hidden", "unroll", "sparsity", "c_bound")


class RunConflict(RuntimeError):
    pass


def param_groups(model: DrSAE, tc: TrainConfig) -> list[dict]:
    """Per-matrix step sizes. SGD: C acts on the unit vector z/||z||, so its gradient is at most 1 per
    digit while its bounded norms must grow near 5: it gets `c_lr_scale` times the lr. Adam moves every
    weight by about lr whatever its size, so E and b (rows bounded by 1.25/(T-1)) get that bound as
    scale and C its bound 5. (Adam trains faster but lifts every unit's tiny supervised gradient to a
    full step: the encoder leaves ISTA everywhere and the part/categorical split blurs; SGD keeps it.)"""
    if tc.optimizer == "sgd":
        scales = {"E": 1.0, "b": 1.0, "S": 1.0, "D": 1.0, "C": tc.c_lr_scale}
    else:
        e = min(model.cfg.e_row_max, 1.0)
        scales = {"E": e, "b": e, "S": 1.0, "D": 1.0, "C": model.cfg.c_row_max}
    return [{"params": [p], "name": n, "lr_scale": scales[n]} for n, p in model.named_parameters()]


def make_optimizer(model: DrSAE, tc: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, tc)
    if tc.optimizer == "adam":
        return torch.optim.Adam(groups, lr=tc.lr)
    if tc.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=tc.lr, momentum=tc.momentum)
    raise ValueError(f"unknown optimizer {tc.optimizer!r} (adam or sgd)")


def lr_at(tc: TrainConfig, epoch: int, frac: float) -> float:
    """Cosine decay inside each phase, restarting at the supervised phase."""
    if epoch < tc.pretrain_epochs:
        pos, length = epoch + frac, tc.pretrain_epochs
    else:
        pos, length = epoch - tc.pretrain_epochs + frac, tc.epochs
    cos = 0.5 * (1 + math.cos(math.pi * min(pos / max(length, 1e-9), 1.0)))
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * cos)


def initial_dictionary(data: MNIST, hidden: int, seed: int) -> torch.Tensor:
    """Random training digits minus the mean digit, as unit decoder columns. Random columns would leave
    every unit below threshold (|D_i^T x| ~ 0.04 < lambda): a silent ReLU network gets no gradient.
    Raw digits all overlap (a = 1/||D||^2 ~ 0.006, a stalled ISTA); centred ones give a ~ 0.025."""
    g = torch.Generator().manual_seed(seed)
    x = data.train.x
    cols = x[torch.randperm(len(x), generator=g)[:hidden]] - x.mean(0)
    if len(cols) < hidden:  # fewer digits than units: pad with noise
        cols = torch.cat([cols, torch.randn(hidden - len(cols), x.shape[1], generator=g)])
    return (cols / cols.norm(dim=1, keepdim=True).clamp_min(1e-8)).T.contiguous()


def check_config(run: Path, wanted: dict) -> bool:
    """A run folder belongs to one set of settings: resuming with others would mix two experiments.
    One change is a continuation, not a new experiment: more supervised epochs for a run at a steady lr
    (min_lr_ratio 1), whose lr does not depend on the epoch count. Returns True for such an extension."""
    have = runs.read_config(run)
    if have is None:
        return False
    have_tc = TrainConfig.from_dict(have.get("train", {}))
    have = {**have, "model": DrSAEConfig.from_dict(have.get("model", {})).to_dict(),  # fills settings added since
            "train": asdict(have_tc)}
    diffs, extends = [], False
    for part in ("model", "train"):
        for k in set(have.get(part, {})) | set(wanted[part]):
            if k in RESUMABLE:
                continue
            a, b = have.get(part, {}).get(k), wanted[part].get(k)
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


class Progress:
    """A one-line terminal progress bar (or a line per epoch when output is not a terminal)."""

    def __init__(self, stream=sys.stderr):
        self.stream, self.tty, self.last = stream, stream.isatty(), 0.0

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
        self.stream.write(
            f"epoch {row['epoch'] + 1} {row['phase']}: L_U {row['train_unsup']:.4f} L_S {row['train_sup']:.4f} "
            f"val err {row['val_error']:.2f}% active {row['val_active']:.1f} ({row['epoch_time']:.1f}s)\n"
        )
        self.stream.flush()


def _hms(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def train(mc: DrSAEConfig, tc: TrainConfig, out: str | Path, data: MNIST | None = None, data_dir=None,
          device: str | None = None, progress: Progress | None = None, should_stop=lambda: False,
          graph: bool | None = None) -> list[dict]:
    """Train into run folder `out`, resuming from its checkpoint if one is there. Returns the metrics rows.
    `graph`: replay the step as a CUDA graph (default: on CUDA with SGD); it computes the same step."""
    out = Path(out)
    wanted = {"model": mc.to_dict(), "train": asdict(tc)}
    extends = check_config(out, wanted)
    out.mkdir(parents=True, exist_ok=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    data = load_mnist(data_dir, limit=tc.limit) if data is None else data.head(tc.limit)
    if tc.train_on == "all":
        data = data.all_training()
    wanted["data"] = {"source": data.source, "n_train": len(data.train), "n_val": len(data.val),
                      "val_held_out": tc.train_on == "split"}
    if extends or "data" not in (runs.read_config(out) or {}):  # a job's folder gets its config before its data
        runs.write_json(out / runs.CONFIG, wanted)

    torch.manual_seed(tc.seed)
    resuming = (out / CHECKPOINT).is_file()
    start = None if resuming else initial_dictionary(data, mc.hidden, tc.seed)  # a resume loads its weights
    model = DrSAE(mc, dictionary=start, seed=tc.seed).to(device)
    opt = make_optimizer(model, tc)
    gen = torch.Generator().manual_seed(tc.seed)
    epoch, step, perm, acc, history, elapsed = 0, 0, None, None, [], 0.0
    if resuming:
        st = load_training_state(out / CHECKPOINT)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["generator"])
        p = st["progress"]
        epoch, step, elapsed, history = p["epoch"], p["step"], p["elapsed"], list(st["history"])
        perm, acc = st.get("perm"), st.get("acc")
        runs.write_metrics(out, history)  # the checkpoint is the truth; drop rows written after it
        if progress:
            progress.stream.write(f"resuming {out} at epoch {epoch + 1}, batch {step}\n")

    x_tr, y_tr = data.train.x.to(device), data.train.y.to(device)
    n, bs = len(y_tr), tc.batch_size
    n_batches = math.ceil(n / bs)
    stepper = Stepper(model, opt, tc, graph=graph)
    stepper.reset(acc)
    if resuming and stepper.average is not None:
        stepper.average.load_state_dict(st["average"])
        stepper.averaged.fill_(st["averaged"])

    def save(state_epoch, state_step, state_perm, total_elapsed, acc=None):
        stepper.health()  # raises Diverged: a diverged model is never checkpointed
        save_training_state(out / CHECKPOINT, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
            "config": mc.to_dict(), "train_config": asdict(tc), "history": history,
            "perm": state_perm, "acc": acc,
            **({} if stepper.average is None else {"average": stepper.average.state_dict(),
                                                   "averaged": stepper.averaged.item()}),
            "progress": {"epoch": state_epoch, "step": state_step, "elapsed": total_elapsed,
                         "total_epochs": tc.total_epochs,
                         "val_error": history[-1]["val_error"] if history else None},
        })

    runs.write_status(out, state="running", pid=os.getpid(), epoch=epoch, total_epochs=tc.total_epochs,
                      frac=0.0, message="", device=device)
    t_run0 = time.time() - elapsed
    t_proc0, done0 = time.time(), (epoch + step / n_batches) / tc.total_epochs  # ETA from this process's own pace
    last_save = last_check = time.time()
    saved, loss = False, float("nan")
    try:
        while epoch < tc.total_epochs:
            phase = "pretrain" if epoch < tc.pretrain_epochs else "supervised"
            if perm is None:
                perm, step = torch.randperm(n, generator=gen), 0
                stepper.reset()
            perm_dev = perm.to(device)
            t0 = time.time()
            model.train()
            while step < n_batches:
                if should_stop() or (out / runs.STOP).exists():
                    save(epoch, step, perm, time.time() - t_run0, stepper.acc.cpu())
                    runs.write_status(out, state="stopped", message="stopped; rerun to resume")
                    (out / runs.STOP).unlink(missing_ok=True)  # the request is served
                    return history
                lr = lr_at(tc, epoch, step / n_batches)
                idx = perm_dev[step * bs:(step + 1) * bs]
                stepper(x_tr[idx], y_tr[idx], lr, phase == "supervised")
                step += 1
                now = time.time()
                if now - last_check > 0.5:  # a sync twice a second: the bar, and divergence found early
                    try:
                        loss = stepper.health()
                    except Diverged as e:
                        raise Diverged(f"{e} in epoch {epoch + 1}, by batch {step}") from None
                    last_check = now
                done = (epoch + step / n_batches) / tc.total_epochs
                eta = (now - t_proc0) / max(done - done0, 1e-9) * (1 - done)
                if progress:
                    progress.update(epoch, tc.total_epochs, phase, step / n_batches, eta, loss)
                if now - last_save > tc.checkpoint_every:
                    save(epoch, step, perm, now - t_run0, stepper.acc.cpu())
                    runs.write_status(out, state="running", epoch=epoch, frac=step / n_batches, eta=eta)
                    last_save, saved = now, True
            try:
                stepper.health()
            except Diverged as e:
                raise Diverged(f"{e} in epoch {epoch + 1}") from None
            a = stepper.acc.tolist()
            recon, l1, sup = (v / max(a[COUNT], 1) for v in a[:COUNT])
            val = evaluate_split(stepper.output, data.val, device=device)
            if not all(math.isfinite(v) for v in val.values()):
                raise Diverged(f"validation losses became non-finite at epoch {epoch + 1}: {val}")
            row = {"epoch": epoch, "phase": phase, "lr": lr,
                   "train_recon": recon, "train_l1": l1, "train_unsup": recon + mc.sparsity * l1, "train_sup": sup,
                   "val_error": val["error"], "val_recon": val["recon"], "val_unsup": val["unsup"],
                   "val_sup": val["sup"], "val_active": val["active"], "epoch_time": time.time() - t0,
                   "elapsed": time.time() - t_run0}
            history.append(row)
            runs.append_metrics(out, row)
            epoch, perm = epoch + 1, None
            # a fast (GPU) epoch takes well under a second: checkpoint at most once a second, and at the end
            if epoch == tc.total_epochs or not saved or time.time() - last_save >= EPOCH_SAVE_GAP:
                save(epoch, 0, None, time.time() - t_run0)
                last_save, saved = time.time(), True
            eta = (time.time() - t_run0) / epoch * (tc.total_epochs - epoch) if epoch else 0.0
            runs.write_status(out, state="running", epoch=epoch, frac=0.0, eta=eta, val_error=val["error"])
            if progress:
                progress.epoch(row)
    except Diverged as e:
        msg = f"Training diverged: {e}. The last good checkpoint is kept; lower --lr and resume with a new --out."
        runs.write_status(out, state="failed", message=msg)
        raise Diverged(msg) from None
    runs.write_status(out, state="done", epoch=epoch, frac=1.0, eta=0.0, message="finished")
    return history


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m models.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run folder (created, or resumed if it holds a checkpoint)")
    p.add_argument("--data-dir", default=None, help="folder with the four MNIST idx files (else $SPARSELAB_DATA, else download)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--no-cuda-graph", action="store_true", help="run each step eagerly on CUDA (same numbers, slower)")
    for f in fields(DrSAEConfig):
        if f.name in MODEL_FLAGS:
            p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default,
                           help="default: %(default)s", **({"choices": list(C_BOUNDS)} if f.name == "c_bound" else {}))
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = int if f.name == "limit" else type(f.default)
        p.add_argument(flag, type=kind, default=f.default, help="default: %(default)s",
                       **({"choices": TRAIN_ON} if f.name == "train_on" else {}))
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    mc = DrSAEConfig(**{k: getattr(a, k) for k in MODEL_FLAGS})
    tc = TrainConfig(**{f.name: getattr(a, f.name) for f in fields(TrainConfig)})
    stop = {"flag": False}

    def on_signal(signum, frame):  # finish the batch, checkpoint, exit: nothing is lost
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        history = train(mc, tc, a.out, data_dir=a.data_dir, device=a.device, progress=Progress(),
                        should_stop=lambda: stop["flag"], graph=False if a.no_cuda_graph else None)
    except (DataError, CheckpointError, RunConflict, Diverged, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    status = runs.read_status(Path(a.out))
    if status.get("state") == "stopped":
        print(f"stopped; the same command resumes from {Path(a.out) / CHECKPOINT}", file=sys.stderr)
        return 130
    if history:
        print(f"done: validation error {history[-1]['val_error']:.2f}% after {history[-1]['elapsed']:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
