"""Any torchvision architecture by name: `torchvision:resnet18` with a weights file (a state dict, read with
weights_only=True), or torchvision's own weights by their enum name (`--host-weights DEFAULT`, downloaded by
torchvision where the machine can reach the internet); without weights, random ones (seed 0), said in its
description."""
from __future__ import annotations

from pathlib import Path

import torch

from models.hosts.registry import Host, HostError, Opened, image_batch, register


def _first_channels(module) -> int:
    conv = next((m for m in module.modules() if isinstance(m, torch.nn.Conv2d)), None)
    return conv.in_channels if conv is not None else 1


def _open(argument: str, weights: str | None) -> Opened:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if argument not in names:
        near = [n for n in names if argument and (argument in n or n in argument)][:5]
        raise HostError(f"torchvision has no architecture {argument!r}" + (f" (near: {', '.join(near)})" if near else
                                                                            f"; it has {len(names)}, e.g. resnet18"))
    path = Path(weights) if weights and Path(weights).suffix else None
    if weights and path is None:  # an enum name: torchvision's own weights
        try:
            module = torchvision.models.get_model(argument, weights=weights)
        except Exception as e:  # noqa: BLE001 (no internet, an unknown enum name)
            raise HostError(f"torchvision's weights {weights!r} for {argument}: {str(e).splitlines()[0]}") from None
        told = f"torchvision's {weights} weights"
    else:
        torch.manual_seed(0)
        module = torchvision.models.get_model(argument, weights=None)
        told = "random weights (seed 0)"
        if path is not None:
            try:
                state = torch.load(str(path), map_location="cpu", weights_only=True)
            except FileNotFoundError:
                raise HostError(f"no weights file at {path}") from None
            except Exception as e:  # noqa: BLE001 (not a torch file, or one that would run code)
                raise HostError(f"{path} is not a weights file torch reads without running code: "
                                f"{str(e).splitlines()[0][:160]}") from None
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            if not isinstance(state, dict):
                raise HostError(f"{path} holds a {type(state).__name__}, not a state dict")
            own = module.state_dict()
            missing = [k for k in own if k not in state]
            unexpected = [k for k in state if k not in own]
            wrong = [k for k, v in state.items() if k in own and getattr(v, "shape", None) != own[k].shape]
            if missing or unexpected or wrong:  # named before loading: the first keys that do not fit
                first = (wrong and f"shape of {', '.join(wrong[:3])}") or \
                    (missing and f"missing {', '.join(missing[:3])}") or f"unexpected {', '.join(unexpected[:3])}"
                raise HostError(f"{path} does not fit torchvision's {argument}: {first}")
            module.load_state_dict(state)
            told = f"weights {path.name}"
    channels = _first_channels(module)
    return Opened(module, f"torchvision:{argument}", weights, lambda x, shape: image_batch(x, shape, channels), None,
                  f"torchvision {argument}, {told}")


register(Host("torchvision", "torchvision architecture", "any torchvision model by name (torchvision:resnet18), "
              "with a weights file or torchvision's own weights", _open))
