"""A dictionary measured through the network its activations came from (SAEBench's "loss recovered"): the host run
over its own labelled test samples as it is, with the harvested layer's output replaced by the dictionary's
reconstruction, by zeros, and by the layer's mean over these samples (each channel's, at every position).

    loss recovered = (L_ablated − L_reconstructed) / (L_ablated − L_clean)

1 when the reconstruction costs the host nothing, 0 when it costs as much as the ablation (said with which). The
dictionary reads the layer's vectors as it was trained to (its normalisation), and its reconstruction is put back in
the layer's own units: a row scaled by s to become the input is divided by s again (a zero row keeps s = 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.domains import DataSpec, dataset, spec_of
from models.hosts import open_host, raw_inputs
from models.hosts.harvest import vectors_of
from models.hosts.layers import module_at

SAMPLES = 2000  # of the host's test samples (the first ones)
VARIANTS = ("clean", "reconstructed", "zero", "mean")


def loss_recovered(clean: float, reconstructed: float, ablated: float) -> float:
    """(L_ablated − L_reconstructed) / (L_ablated − L_clean); NaN where the ablation costs nothing."""
    gap = ablated - clean
    return math.nan if abs(gap) < 1e-12 else (ablated - reconstructed) / gap


@dataclass
class ThroughHost:
    host: str
    layer: str
    samples: int
    loss: dict[str, float]  # VARIANTS -> the host's mean cross-entropy on its test samples (lower is better)
    accuracy: dict[str, float]  # VARIANTS -> % of them it classifies right
    unchanged: float  # share of the host's predictions the reconstruction leaves as they were
    fvu: float  # of the layer's vectors as given, on these samples
    l0: float = math.nan  # mean units active in a layer vector's code, on these samples

    def recovered(self, ablation: str = "zero") -> float:
        return loss_recovered(self.loss["clean"], self.loss["reconstructed"], self.loss[ablation])

    def to_dict(self) -> dict:
        out = {f"loss_{v}": self.loss[v] for v in VARIANTS} | {f"accuracy_{v}": self.accuracy[v] for v in VARIANTS}
        return {**out, "loss_recovered": self.recovered("zero"), "loss_recovered_mean": self.recovered("mean"),
                "predictions_unchanged": self.unchanged, "host_fvu": self.fvu, "host_l0": self.l0, "host": self.host,
                "host_layer": self.layer, "host_samples": self.samples}


def as_read(vectors: torch.Tensor, inputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer vectors (m, C) as the dictionary reads them (its normalisation), and the factor each row was scaled by
    (1 for a zero row): what puts its reconstructions back in the layer's own units."""
    raw = vectors.float()
    x = torch.as_tensor(inputs(raw.numpy())).float()
    norm_raw = raw.norm(dim=1)
    return x, torch.where(norm_raw > 0, x.norm(dim=1) / norm_raw.clamp_min(1e-30), torch.ones_like(norm_raw))


def _host_of(data: DataSpec):
    """The harvest's host entry, the host opened, and the data it reads."""
    entry = data.host()
    if entry is None:
        raise ValueError("these samples were not harvested from a host model")
    return entry, open_host(entry["host"], entry.get("weights")), spec_of({"domain": entry["data"]})


def reconstruct(model, vectors: torch.Tensor, inputs, active: list | None = None) -> torch.Tensor:
    """The dictionary's reconstruction of these layer vectors (m, C), in the layer's own units; `active` (a list)
    gets the count of units active in each vector's code."""
    x, scale = as_read(vectors, inputs)
    with torch.no_grad():
        z = model.code(x)
        x_hat = model.decode(z)
    if active is not None:
        active.append((z > 0).sum(1))
    return x_hat / scale.clamp_min(1e-30)[:, None]


def _shaped(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Rows (n·p, C) back into the layer output's shape (vectors_of's inverse)."""
    if like.dim() == 4:
        n, c, h, w = like.shape
        return rows.reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous()
    return rows.reshape(like.shape)


def through_host(model, data: DataSpec, family=None, samples: int = SAMPLES, data_dir=None,
                 batch: int = 256) -> ThroughHost:
    """`model`, trained on `data` (a harvest), measured through the host the harvest names."""
    entry, opened, host_data = _host_of(data)
    layer, layout = entry["layer"], host_data.layout()
    if layout.classes is None:
        raise ValueError(f"the host's data ({host_data.describe()}) has no labels: its loss needs them")
    if isinstance(entry.get("limit"), int):  # the harvest's own test samples at most: the run's test split
        samples = min(samples, entry["limit"])
    test = dataset(host_data, data_dir, samples, inputs=raw_inputs(layout))[0].test
    inputs, module = data.inputs(family), module_at(opened, layer)
    model = model.float().eval()
    mode, stats = {"now": "clean"}, {"sum": None, "count": 0, "err": 0.0, "var": [], "active": []}
    mean = None

    def hook(_m, _inp, out):
        v, _ = vectors_of(out, layer)
        if mode["now"] == "measure":
            s = v.float().sum(0)
            stats["sum"] = s if stats["sum"] is None else stats["sum"] + s
            stats["count"] += len(v)
            return None
        if mode["now"] == "zero":
            return torch.zeros_like(out)
        if mode["now"] == "mean":
            return _shaped(mean.expand(len(v), -1), out).to(out.dtype)
        if mode["now"] == "reconstructed":
            v_hat = reconstruct(model, v, inputs, stats["active"])
            stats["err"] += float((v.float() - v_hat).pow(2).sum())
            stats["var"].append(v.float())
            return _shaped(v_hat, out).to(out.dtype)
        return None

    handle = module.register_forward_hook(hook)
    loss = dict.fromkeys(VARIANTS, 0.0)
    right = dict.fromkeys(VARIANTS, 0)
    unchanged = 0
    try:
        with torch.no_grad():
            batches = [(opened.inputs(test.x[i:i + batch], layout.image), test.y[i:i + batch])
                       for i in range(0, len(test), batch)]
            mode["now"] = "measure"
            for x, _ in batches:
                opened.module(x)
            mean = (stats["sum"] / max(stats["count"], 1))[None, :]
            for x, y in batches:
                preds = {}
                for v in VARIANTS:
                    mode["now"] = v
                    logits = opened.module(x)
                    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
                        raise ValueError(f"{opened.spec} does not give class scores (n, classes): its loss is unknown")
                    loss[v] += float(F.cross_entropy(logits.float(), y, reduction="sum"))
                    preds[v] = logits.argmax(1)
                    right[v] += int((preds[v] == y).sum())
                unchanged += int((preds["reconstructed"] == preds["clean"]).sum())
    finally:
        handle.remove()
    n = len(test)
    everything = torch.cat(stats["var"])
    total = float((everything - everything.mean(0)).pow(2).sum())
    return ThroughHost(entry["host"], layer, n, {v: loss[v] / n for v in VARIANTS},
                       {v: 100.0 * right[v] / n for v in VARIANTS}, unchanged / n,
                       stats["err"] / total if total > 0 else float(np.nan),
                       float(torch.cat(stats["active"]).float().mean()))


@dataclass(frozen=True)
class UnitEffect:
    """What one unit does to the host's outputs: its decoder direction added to the layer (at every position, at
    the size it has where it fires), the host's class logits and probabilities compared with the host as it is."""
    classes: tuple[str, ...]
    scale: float  # the size added, in the layer's own units: the mean ‖z_u D_u‖ where the unit fires
    logit: np.ndarray  # (classes,) mean change of each class's logit (up: the unit pushes towards it)
    probability: np.ndarray  # (classes,) mean change of each class's probability
    fires: int  # of the samples, those whose layer vectors make the unit fire (at any position)
    samples: int


def unit_effect(model, data: DataSpec, unit: int, family=None, samples: int = 500, data_dir=None,
                batch: int = 256) -> UnitEffect | None:
    """The unit's effect on the host's outputs through the rest of the network; None where it fires on none of the
    host's first `samples` test samples (its size there is unknown)."""
    entry, opened, host_data = _host_of(data)
    layer, layout = entry["layer"], host_data.layout()
    test = dataset(host_data, data_dir, samples, inputs=raw_inputs(layout))[0].test
    inputs, module = data.inputs(family), module_at(opened, layer)
    model = model.float().eval()
    direction = torch.as_tensor(np.asarray(model.unit_weights().decoder[unit], dtype=np.float32))
    norm = float(direction.norm())
    if norm == 0:
        return None
    sizes, fired = [], {"samples": 0}
    add = {"now": None}

    def hook(_m, _inp, out):
        v, _ = vectors_of(out, layer)
        if add["now"] is None:  # measuring: the unit's contribution where it fires, in the layer's units
            x, scale = as_read(v, inputs)
            z = model.code(x)[:, unit]
            on = z > 0
            sizes.append((z[on] * norm / scale[on]).double())
            fired["samples"] += int(on.reshape(out.shape[0], -1).any(1).sum())  # at any of a sample's positions
            return None
        return _shaped(v + add["now"], out).to(out.dtype)

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            batches = [opened.inputs(test.x[i:i + batch], layout.image) for i in range(0, len(test), batch)]
            clean = []
            for x in batches:
                clean.append(opened.module(x).float())
            contributions = torch.cat(sizes)
            if not len(contributions):
                return None
            alpha = float(contributions.mean())
            add["now"] = alpha * direction / norm
            pushed = [opened.module(x).float() for x in batches]
    finally:
        handle.remove()
    c, p = torch.cat(clean), torch.cat(pushed)
    return UnitEffect(tuple(layout.classes or [str(k) for k in range(c.shape[1])]), alpha,
                      (p - c).mean(0).numpy(), (p.softmax(1) - c.softmax(1)).mean(0).numpy(), fired["samples"],
                      len(test))
