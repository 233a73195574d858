"""The host-model registry: networks whose activations a dictionary is trained on. A host is one module that
registers a `Host`: how to open it from a spec string ("digits-cnn", "torchvision:resnet18" with a weights file), the
data it reads by default, and how a batch of that data's samples becomes its input. Everything else (listing layers,
harvesting, measuring a dictionary through it) works on the opened module through forward hooks.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from models.registry import Registry


class HostError(ValueError):
    """A host that cannot be opened or used as asked; the message (one line) says why."""


@dataclass(frozen=True)
class Opened:
    """A host ready to run: its module in eval mode, what reopens it, and how samples become its input."""
    module: nn.Module
    spec: str  # "digits-cnn", "torchvision:resnet18": what reopens it (with `weights`)
    weights: str | None  # the weights file it was opened with, if any
    inputs: Callable[[torch.Tensor, tuple[int, int] | None], torch.Tensor]  # (rows in [0, 1], image shape) -> input
    data: str | None = None  # the domain it reads by default (its name), None: the user says
    describe: str = ""


@dataclass(frozen=True)
class Host:
    name: str  # before the ':' of a spec
    title: str
    summary: str
    open: Callable[[str, str | None], Opened]  # (the spec's argument after ':', a weights file) -> Opened


_HOSTS: Registry[Host] = Registry("host", HostError)
register, get, all_hosts = _HOSTS.register, _HOSTS.get, _HOSTS.all


def open_host(spec: str, weights: str | None = None) -> Opened:
    """The host a spec names ("NAME" or "NAME:ARGUMENT"), opened on the CPU in eval mode."""
    name, _, argument = str(spec).partition(":")
    opened = get(name).open(argument, weights)
    opened.module.eval()
    return opened


def raw_inputs(layout):
    """What a host reads of a domain's samples: values in [0, 1] where they all are (pixels), else as given."""
    from models.data import as_given, intensities

    return intensities if layout.unit_interval else as_given


def image_batch(x: torch.Tensor, shape: tuple[int, int] | None, channels: int) -> torch.Tensor:
    """Rows (n, h·w) of an image domain as (n, channels, h, w) (a grey image repeated across colour channels)."""
    if shape is None:
        raise HostError("this host reads images: choose a data domain whose samples are images")
    h, w = shape
    if x.shape[1] != h * w:
        raise HostError(f"the samples have {x.shape[1]} values, not the {h} × {w} of one grey image")
    return x.reshape(len(x), 1, h, w).expand(len(x), channels, h, w)
