"""The embedded host: a small convolutional network trained here on digits (two convolutions, two dense layers,
about 30k weights), shipped in assets/hosts/digits-cnn so that harvesting and everything after it works offline.

    python -m models hosts --train-embedded assets/hosts/digits-cnn [--epochs 3]
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from models.hosts.registry import Host, HostError, Opened, image_batch, register

FOLDER = Path(__file__).resolve().parents[2] / "assets" / "hosts" / "digits-cnn"
WEIGHTS = "model.safetensors"


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)  # 28 × 28 -> 16 × 28 × 28, pooled to 14 × 14
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)  # -> 32 × 14 × 14, pooled to 7 × 7
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()  # modules, so each can be harvested

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.relu1(self.conv1(x)), 2)
        x = F.max_pool2d(self.relu2(self.conv2(x)), 2)
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


def _open(argument: str, weights: str | None) -> Opened:
    path = Path(weights) if weights else FOLDER / WEIGHTS
    module = DigitsCNN()
    try:
        module.load_state_dict(load_file(str(path)))
    except FileNotFoundError:
        raise HostError(f"no weights at {path} (train them: python -m models hosts --train-embedded "
                        f"{FOLDER.relative_to(FOLDER.parents[2])})") from None
    except Exception as e:  # noqa: BLE001 (not safetensors, or other tensors: whatever the reader raises)
        raise HostError(f"{path} does not hold the digits CNN's weights: "
                        f"{(str(e).splitlines() or [type(e).__name__])[0][:160]}") from None
    return Opened(module, "digits-cnn", weights, lambda x, shape: image_batch(x, shape, 1), "digits",
                  "a small CNN trained on digits (embedded)")


def train_embedded(out: Path, data_dir: str | None = None, epochs: int = 3, seed: int = 0, log=print) -> dict:
    """Train the embedded host on the digits' training split and write its weights and a metrics file (test error)."""
    from models.data import intensities
    from models.domains import dataset, spec

    torch.manual_seed(seed)
    ds, _ = dataset(spec("digits"), data_dir, inputs=intensities)
    train = ds.train.load()
    x, y = train.x.reshape(-1, 1, 28, 28), train.y
    model, t0 = DigitsCNN(), time.time()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            b = order[i:i + 128]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    model.eval()
    test = ds.test
    with torch.no_grad():
        pred = torch.cat([model(test.x[i:i + 2000].reshape(-1, 1, 28, 28)).argmax(1) for i in range(0, len(test), 2000)])
    error = 100.0 * (pred != test.y).float().mean().item()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS))  # float16: half
    # the size in assets/, the test error unchanged (its numbers are read back into float32)
    facts = {"test_error": round(error, 2), "test_samples": len(test), "epochs": epochs, "seed": seed,
             "seconds": round(time.time() - t0, 1), "data": spec("digits").describe(),
             "command": f"python -m models hosts --train-embedded {out} --epochs {epochs}"}
    (out / "metrics.json").write_text(json.dumps(facts, indent=1))
    return facts


register(Host("digits-cnn", "Digits CNN", "a small convolutional network trained on digits (embedded)", _open))
