"""Interventions on the units: hold one unit, a set or a whole kind at 0 (ablate) or at a value (clamp) at every
step from a chosen step on, and see what the samples' codes, reconstructions and classes do.

Over a set of samples: the error and reconstruction with each kind ablated, and with each single unit ablated (a
ranked table: which units the classifier depends on most). Ablating a unit changes nothing on a sample where it is
silent at every step, so each unit's ablation is run only on the samples where it fires: the same numbers as
running all of them, at a fraction of the cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from models.kinds import KINDS
from models.analysis.codes import LinearDecoder, SparseCodes, sparse
from models.analysis.steps import Trace
from models.data import Split
from models.families import capabilities
from models.families.base import Hold

ROWS = 4096  # samples × units per batch of single-unit ablations
ROWS_BUDGET = 1 << 24  # floats of codes such a batch may hold (a wide dictionary takes fewer rows)


@dataclass(frozen=True)
class Intervention:
    """What the user asked: these units, held at `value` (0 = ablated) from step `from_step` on."""
    units: tuple[int, ...]
    value: float = 0.0
    from_step: int = 1

    def hold(self, hidden: int) -> Hold:
        mask = torch.zeros(hidden, dtype=torch.bool)
        mask[list(self.units)] = True
        return Hold(mask, float(self.value), int(self.from_step))


@torch.no_grad()
def intervened_trace(model, x: torch.Tensor, steps: int, iv: Intervention) -> Trace:
    """One sample through `steps` steps with the intervention (compare steps.trace, the same without)."""
    model.eval()
    caps = capabilities(model)
    zs = model.encode(x.reshape(1, -1), steps, iv.hold(model.cfg.hidden))[:, 0]
    return Trace(x.reshape(-1).numpy(), zs.numpy(), model.decode(zs).numpy() if caps.decoder else None,
                 torch.softmax(model.classify(zs), -1).numpy() if caps.classifier else None)


def _outcome(model, x: torch.Tensor, z: torch.Tensor, caps, decoder=None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per sample: the predicted class and ½‖x − x̂‖² from its final code z (`decoder`: a linear one, which decodes
    the code's entries alone: codes.LinearDecoder)."""
    pred = model.classify(z).argmax(-1).numpy() if caps.classifier else None
    x_hat = None if not caps.decoder else decoder(sparse(z)) if decoder is not None else model.decode(z)
    recon = None if x_hat is None else (0.5 * (x - x_hat).pow(2).sum(-1)).numpy()
    return pred, recon


def _codes_with(model, steps: int):
    """(x, hold, z_T or None) -> z_T with the hold. A model without steps has one code: held units are that code
    with them set (the model's own steps() does the same: Hold.apply at step 1), so nothing is encoded again."""
    if capabilities(model).steps:
        return lambda x, hold, z=None: model.code(x, steps, hold)
    return lambda x, hold, z: hold.apply(z, 1)


@dataclass
class SetAblations:
    """Over a set of samples at `steps` steps: nothing ablated, then each named set of units ablated from step 1."""
    steps: int
    n_digits: int
    error: float | None  # % with nothing ablated (None: no classifier)
    recon: float | None  # mean ½‖x − x̂‖² with nothing ablated (None: no decoder)
    set_error: dict[str, float | None]
    set_recon: dict[str, float | None]
    set_units: dict[str, int]


def kind_sets(kind: np.ndarray) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Each kind's units, as `set_ablations` takes them (hashable: a cache key)."""
    return tuple((k, tuple(int(u) for u in np.flatnonzero(kind == k))) for k in KINDS)


@torch.no_grad()
def set_ablations(model, samples: Split, steps: int, sets: tuple[tuple[str, tuple[int, ...]], ...],
                  batch: int = 1000, codes: SparseCodes | None = None) -> SetAblations:
    """`sets`: (name, units) pairs, each ablated on its own. `codes`: the samples' codes where they are at hand (a
    model without steps, without a classifier: its held codes are those with entries dropped, nothing encoded)."""
    model.eval()
    caps = capabilities(model)
    H = model.cfg.hidden
    y = None if samples.y is None else samples.y.numpy()
    holds = {None: None, **{name: Intervention(units).hold(H) for name, units in sets}}
    preds, recons = {k: [] for k in holds}, {k: [] for k in holds}
    decoder = LinearDecoder.of(model) if caps.filters else None
    entries = decoder is not None and not caps.steps and not caps.classifier  # its held codes: entries dropped
    for i in range(0, len(samples), batch):
        x = samples.x[i:i + batch]
        if entries:
            c = sparse(model.code(x, steps)) if codes is None else codes.between(i, i + batch)
        else:
            z = model.code(x, steps)
        for k, hold in holds.items():
            if entries:
                x_hat = decoder(c if hold is None else c.without(hold.mask.numpy()))
                p, r = None, (0.5 * (x - x_hat).pow(2).sum(-1)).numpy()
            else:
                p, r = _outcome(model, x, z if hold is None else model.code(x, steps, hold), caps, decoder)
            preds[k].append(p), recons[k].append(r)
    err = {k: None if v[0] is None else float(100 * (np.concatenate(v) != y).mean()) for k, v in preds.items()}
    rec = {k: None if v[0] is None else float(np.concatenate(v).mean()) for k, v in recons.items()}
    return SetAblations(steps, len(samples), err.pop(None), rec.pop(None), err, rec,
                        {name: len(units) for name, units in sets})


@dataclass
class UnitAblations:
    """Over a set of samples at `steps` steps, each unit alone ablated from step 1."""
    steps: int
    n_digits: int
    error: np.ndarray | None  # (hidden,) % error with the unit ablated (None: no classifier)
    flips: np.ndarray | None  # (hidden,) samples whose prediction changes
    recon: np.ndarray | None  # (hidden,) mean ½‖x − x̂‖² with it ablated (None: no decoder)
    active: np.ndarray  # (hidden,) samples on which the unit fires at some step (the only ones it can change)
    runs: int  # sample × unit runs it took

    def ranked(self) -> np.ndarray:
        """Units, those whose ablation costs the classifier most first (else the reconstruction)."""
        if self.error is not None:
            return np.lexsort((-self.flips, -self.error))
        return np.argsort(-self.recon)


def _each_unit_ablated(model, x: torch.Tensor, fires: SparseCodes, steps: int, final: SparseCodes | None = None):
    """For every (sample d, unit u) with u firing on d (`fires`: the entries of (samples, hidden)), z_T of sample d
    with u alone held at 0; yielded in chunks of about ROWS_BUDGET floats as (d, u, z_T). `final`: the samples' z_T,
    for a model without steps (its held code is that code with u at 0: nothing to encode again)."""
    d_idx, u_idx = fires.rows, fires.units.astype(np.int64)
    H = fires.hidden
    held = _codes_with(model, steps)
    rows = max(1, min(ROWS, ROWS_BUDGET // H))
    for s in range(0, len(d_idx), rows):
        d, u = d_idx[s:s + rows], u_idx[s:s + rows]
        mask = torch.zeros(len(d), H, dtype=torch.bool)
        mask[torch.arange(len(d)), torch.from_numpy(u)] = True
        z = None if final is None else torch.from_numpy(final.dense(d))
        yield d, u, held(x[d], Hold(mask), z)


def unit_runs(model, samples: Split, steps: int, batch: int = 1000) -> int:
    """How many sample × unit runs unit_ablations takes: the samples on which each unit fires, summed."""
    return int(_fired(model, samples, steps, batch)[0].fires().sum())


@torch.no_grad()
def _fired(model, samples: Split, steps: int, batch: int = 1000) -> tuple[SparseCodes, SparseCodes]:
    """Where each unit fires at some step (its entries: 1), and z_T, over the samples (both sparse)."""
    model.eval()
    fired, final = [], []
    for i in range(0, len(samples), batch):
        zs = model.encode(samples.x[i:i + batch], steps)
        fired.append(sparse((zs > 0).any(0).float()))
        final.append(sparse(zs[-1]))
    H = model.cfg.hidden
    return SparseCodes.joined(fired, H), SparseCodes.joined(final, H)


@torch.no_grad()
def unit_ablations(model, samples: Split, steps: int, batch: int = 1000,
                   progress: Callable[[float], None] = lambda done: None) -> UnitAblations:
    """Each unit alone held at 0 on every sample where it fires; `progress` hears the share of those runs done."""
    model.eval()
    caps = capabilities(model)
    H, n = model.cfg.hidden, len(samples)
    x_all, y = samples.x, None if samples.y is None else samples.y.numpy()
    decoder = LinearDecoder.of(model) if caps.filters else None
    fires, final = _fired(model, samples, steps, batch)
    if decoder is not None and not caps.steps and not caps.classifier:
        return _entries_ablated(decoder, x_all, final, steps, batch, progress)
    base_pred, base_recon = [], []
    for i in range(0, n, batch):
        z = torch.from_numpy(final.dense(np.arange(i, min(i + batch, n))))
        p, r = _outcome(model, x_all[i:i + batch], z, caps, decoder)
        base_pred.append(p), base_recon.append(r)
    base_pred = None if base_pred[0] is None else np.concatenate(base_pred)
    base_recon = None if base_recon[0] is None else np.concatenate(base_recon)
    wrong_delta, flips, recon_delta = np.zeros(H), np.zeros(H, dtype=np.int64), np.zeros(H)
    runs, done = len(fires.units), 0
    one_step = None if capabilities(model).steps else final
    for d, u, z in _each_unit_ablated(model, x_all, fires, steps, one_step):
        done += len(d)
        progress(done / max(runs, 1))
        p, r = _outcome(model, x_all[d], z, caps, decoder)
        if p is not None:
            np.add.at(flips, u, p != base_pred[d])
            np.add.at(wrong_delta, u, (p != y[d]).astype(float) - (base_pred[d] != y[d]))
        if r is not None:
            np.add.at(recon_delta, u, r - base_recon[d])
    base_err = None if base_pred is None else 100 * float((base_pred != y).mean())
    return UnitAblations(steps, n, None if base_pred is None else base_err + 100 * wrong_delta / n,
                         None if base_pred is None else flips,
                         None if base_recon is None else float(base_recon.mean()) + recon_delta / n,
                         fires.fires(), runs)


def _entries_ablated(decoder: LinearDecoder, x: torch.Tensor, z: SparseCodes, steps: int, batch: int,
                     progress: Callable[[float], None]) -> UnitAblations:
    """unit_ablations for one linear code without a classifier: x̂ without unit u is x̂ − z_u D_u, so
    ½‖x − x̂ + z_u D_u‖² − ½‖x − x̂‖² = z_u D_u·(x − x̂) + ½ z_u² ‖D_u‖², for every entry at once."""
    n, H = z.n, z.hidden
    residual = torch.cat([x[i:i + batch] - decoder(z, i, min(i + batch, n)) for i in range(0, n, batch)])
    base = 0.5 * residual.double().pow(2).sum(1)
    pos = np.flatnonzero(z.values > 0)  # a unit ablated where it is 0 changes nothing
    delta = np.zeros(H)
    sq_norms = decoder.rows.double().pow(2).sum(1)
    for s in range(0, len(pos), ROWS):
        e = pos[s:s + ROWS]
        u = torch.from_numpy(z.units[e].astype(np.int64))
        v = torch.from_numpy(z.values[e]).double()
        dots = (residual[torch.from_numpy(z.rows[e])].double() * decoder.rows[u].double()).sum(1)
        delta += np.bincount(u.numpy(), weights=(v * dots + 0.5 * v * v * sq_norms[u]).numpy(), minlength=H)
        progress(min(s + ROWS, len(pos)) / max(len(pos), 1))
    return UnitAblations(steps, n, None, None, float(base.mean()) + delta / n, z.fires(), len(pos))


@dataclass
class CellUnits:
    """For a set of samples (a confusion cell): what ablating each unit does to their predictions."""
    samples: np.ndarray  # their indices
    flips: np.ndarray  # (hidden,) of those samples, how many change prediction with the unit ablated
    to_true: np.ndarray  # (hidden,) how many of those changes are to their true class

    def ranked(self) -> np.ndarray:
        return np.lexsort((-self.flips, -self.to_true))


@torch.no_grad()
def cell_units(model, samples: Split, idx: np.ndarray, steps: int) -> CellUnits:
    """Ablate each unit that fires on any of the samples `idx`, alone, and count the changed predictions."""
    model.eval()
    H = model.cfg.hidden
    x, y = samples.x[idx], samples.y.numpy()[idx]
    zs = model.encode(x, steps)
    base = model.classify(zs[-1]).argmax(-1).numpy()
    flips, to_true = np.zeros(H, dtype=np.int64), np.zeros(H, dtype=np.int64)
    one_step = None if capabilities(model).steps else sparse(zs[-1])
    for d, u, z in _each_unit_ablated(model, x, sparse((zs > 0).any(0).float()), steps, one_step):
        p = model.classify(z).argmax(-1).numpy()
        np.add.at(flips, u, p != base[d])
        np.add.at(to_true, u, (p != base[d]) & (p == y[d]))
    return CellUnits(np.asarray(idx), flips, to_true)
