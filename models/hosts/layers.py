"""A host's layers (its named modules) and the shape of what each gives for one input, found by running the input
once with a forward hook on every module."""
from __future__ import annotations

import difflib

import torch

from models.hosts.registry import HostError, Opened


def layer_shapes(opened: Opened, x: torch.Tensor) -> list[tuple[str, tuple[int, ...] | None]]:
    """(name, output shape without the batch) for every named module, in the order they are declared; None where
    a module's output is not one tensor (a tuple, a dict) or it did not run for this input."""
    shapes: dict[str, tuple[int, ...] | None] = {}
    hooks = []
    for name, m in opened.module.named_modules():
        if not name:
            continue

        def hook(_m, _inp, out, name=name):
            if name not in shapes:
                shapes[name] = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
        hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            opened.module(x)
    finally:
        for h in hooks:
            h.remove()
    return [(name, shapes.get(name)) for name, _ in opened.module.named_modules() if name]


def module_at(opened: Opened, layer: str) -> torch.nn.Module:
    """The named module; a name the host lacks is refused in one line naming the nearest ones."""
    modules = dict(opened.module.named_modules())
    if layer in modules and layer:
        return modules[layer]
    near = difflib.get_close_matches(layer, [n for n in modules if n], n=4, cutoff=0.4)
    raise HostError(f"{opened.spec} has no layer {layer!r}" + (f" (nearest: {', '.join(near)})" if near else
                                                               "; `python -m models hosts HOST` lists its layers"))
