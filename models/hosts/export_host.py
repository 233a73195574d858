"""A network saved with torch.export (`torch.export.save`, a .pt2 file): `export:FILE`. Its module hierarchy is kept
(torch.export.unflatten), so its named modules can be hooked as any host's. Its batch dimension must be dynamic (the
lab runs batches of any size): a program exported for one batch size is refused in one line, saying how to export.
TorchScript files are not read: torch deprecates them, and they take no forward hooks."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from models.hosts.registry import Host, HostError, Opened, image_batch, register


def _open(argument: str, weights: str | None) -> Opened:
    path = Path(argument)
    if not argument or not path.is_file():
        raise HostError(f"export: needs a torch.export file (export:PATH.pt2); there is none at {argument or '(empty)'}")
    if weights:
        raise HostError("an exported program holds its weights: drop --host-weights")
    try:
        program = torch.export.load(str(path))
    except Exception as e:  # noqa: BLE001 (a file of anything else: whatever the reader raises)
        raise HostError(f"{path} is not a torch.export file (torch.export.save): "
                        f"{(str(e).splitlines() or [type(e).__name__])[0][:160]}") from None
    example = (getattr(program, "example_inputs", None) or ((), {}))[0]
    if len(example) != 1 or not isinstance(example[0], torch.Tensor):
        raise HostError(f"{path} takes {len(example)} inputs; a host takes one tensor (a batch of samples)")
    sample = tuple(example[0].shape[1:])
    module = torch.export.unflatten(program)
    try:
        with torch.no_grad():
            for n in (1, 3):
                module(torch.zeros(n, *sample, dtype=example[0].dtype))
    except RuntimeError as e:
        if "Expected input" in str(e):
            raise HostError(f"{path} was exported for batches of {example[0].shape[0]} only: export it with a dynamic "
                            "batch (dynamic_shapes={'x': {0: torch.export.Dim.DYNAMIC}})") from None
        raise HostError(f"{path} does not run on zeros of its own input shape: {str(e).splitlines()[0][:160]}") \
            from None

    def inputs(x: torch.Tensor, shape) -> torch.Tensor:
        if x.shape[1] == math.prod(sample):
            return x.reshape(len(x), *sample)
        if len(sample) == 3 and shape is not None and tuple(sample[1:]) == tuple(shape):
            return image_batch(x, shape, sample[0])  # grey images for a colour network
        raise HostError(f"{path} reads samples of shape {sample}; these have {x.shape[1]} values")

    return Opened(module, f"export:{path}", None, inputs, None, f"the exported program {path.name} (input {sample})")


register(Host("export", "torch.export program", "a network saved with torch.export.save (export:FILE.pt2), its batch "
              "dynamic", _open))
