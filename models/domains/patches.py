"""Natural image patches: square patches cut from the two photographs that ship inside scikit-learn
(`sklearn.datasets.load_sample_images`, 427 × 640 each, in grey), as sparse coding is taught (Olshausen & Field,
1996: whitened patches give localized, oriented, band-pass filters).

Whitening: none (grey levels in [0, 1]); 1/f, Olshausen's filter R(ρ) = ρ·exp(−(ρ/f₀)⁴) with f₀ = 0.4 cycles per
pixel (0.4 N cycles per picture) applied to each whole image, which flattens natural images' 1/ρ amplitude spectrum
up to the low-pass; or ZCA on the patches (each patch's mean removed, then the training patches' covariance
whitened, W = U (Λ + ε)^(−½) Uᵀ with ε a hundredth of the mean eigenvalue).

Training, validation and test patches come from disjoint regions of each image (the left 70 % of its columns, the
next 15 %, the last 15 %): no test patch shares a pixel with a training patch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.data import fingerprint
from models.domains.registry import Arrays, Domain, Layout, Raw, cached, register
from models.settings import Config, setting

WHITENING = {"none": "none: grey levels in [0, 1]",
             "1/f": "1/f: Olshausen & Field's filter on each image",
             "zca": "ZCA: the patches' covariance whitened"}
F0 = 0.4  # cycles per pixel: the low-pass of the 1/f filter
REGIONS = {"train": (0.0, 0.70), "val": (0.70, 0.85), "test": (0.85, 1.0)}  # of each image's columns
HELD_OUT = 5000  # validation and test patches each
ZCA_EPSILON = 0.01  # of the mean eigenvalue
UNIT_VARIANCE = 0.1  # a whitened image's variance (Olshausen's scale)


@dataclass(frozen=True)
class PatchesConfig(Config):
    patch_size: int = setting(12, "Patch size", "side of a square patch, in pixels",
                              choices={8: "8 × 8", 12: "12 × 12", 16: "16 × 16"})
    whitening: str = setting("1/f", "Whitening", "how the images or patches are whitened", choices=WHITENING)
    patches: int = setting(40_000, "Training patches", f"patches cut for training (validation and test: "
                           f"{HELD_OUT:,} each)", min=1000, max=500_000)
    data_seed: int = setting(0, "Data seed", "where the patches are cut", min=0, max=2**31 - 1, advanced=True)


def grey_images() -> list[np.ndarray]:
    """scikit-learn's two sample photographs as grey levels in [0, 1] (float64, 427 × 640)."""
    from sklearn.datasets import load_sample_images

    return [np.asarray(im, dtype=np.float64).mean(2) / 255.0 for im in load_sample_images().images]


def whitening_filter(shape: tuple[int, int], f0: float = F0) -> np.ndarray:
    """Olshausen & Field's R(ρ) = ρ·exp(−(ρ/f₀)⁴) on an image's FFT grid (ρ in cycles per pixel)."""
    fy, fx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
    rho = np.hypot(fx, fy)
    return rho * np.exp(-(rho / f0) ** 4)


def whiten_image(img: np.ndarray, f0: float = F0) -> np.ndarray:
    """One image through the 1/f filter, scaled to variance UNIT_VARIANCE."""
    out = np.real(np.fft.ifft2(np.fft.fft2(img - img.mean()) * whitening_filter(img.shape, f0)))
    return out * np.sqrt(UNIT_VARIANCE / max(out.var(), 1e-20))


def zca(train: np.ndarray, epsilon: float = ZCA_EPSILON) -> np.ndarray:
    """The ZCA matrix (d, d) of the rows of `train` (mean already removed): U (Λ + ε mean Λ)^(−½) Uᵀ."""
    cov = train.T @ train / len(train)
    lam, U = np.linalg.eigh(cov)
    lam = np.clip(lam, 0, None)
    return (U / np.sqrt(lam + epsilon * lam.mean())) @ U.T


def positions(shape: tuple[int, int], size: int, region: tuple[float, float], n: int,
              rng: np.random.Generator) -> np.ndarray:
    """n top-left corners (row, col) of size × size patches lying wholly inside the region's columns."""
    h, w = shape
    lo, hi = int(round(region[0] * w)), int(round(region[1] * w))
    rows = rng.integers(0, h - size + 1, n)
    cols = rng.integers(lo, hi - size + 1, n)
    return np.stack([rows, cols], 1)


def cut(img: np.ndarray, corners: np.ndarray, size: int) -> np.ndarray:
    """The patches (n, size²) at those corners."""
    r = corners[:, 0, None, None] + np.arange(size)[None, :, None]
    c = corners[:, 1, None, None] + np.arange(size)[None, None, :]
    return img[r, c].reshape(len(corners), size * size)


def build(cfg: PatchesConfig) -> Raw:
    rng = np.random.default_rng(cfg.data_seed)
    images = grey_images()
    if cfg.whitening == "1/f":
        images = [whiten_image(im) for im in images]
    counts = {"train": cfg.patches, "val": HELD_OUT, "test": HELD_OUT}
    split = {}
    for name, region in REGIONS.items():
        per = [counts[name] // len(images) + (i < counts[name] % len(images)) for i in range(len(images))]
        split[name] = np.concatenate([cut(im, positions(im.shape, cfg.patch_size, region, k, rng), cfg.patch_size)
                                      for im, k in zip(images, per)])
        split[name] = split[name][rng.permutation(len(split[name]))]
    if cfg.whitening == "zca":
        split = {k: v - v.mean(1, keepdims=True) for k, v in split.items()}
        W = zca(split["train"])
        split = {k: v @ W for k, v in split.items()}
    arrays = {k: Arrays(v.astype(np.float32)) for k, v in split.items()}
    source = (f"{cfg.patch_size} × {cfg.patch_size} patches of scikit-learn's two sample photographs, "
              f"whitening {cfg.whitening}")
    return Raw(arrays["train"], arrays["val"], arrays["test"], source, fingerprint(arrays["test"].x))


def load(cfg: PatchesConfig, data_dir=None, download: bool = True) -> Raw:
    return cached("patches", cfg, lambda: build(cfg))


DOMAIN = register(Domain(
    name="patches",
    title="Natural image patches (whitened)",
    noun="patch",
    nouns="patches",
    summary="Square patches of two natural photographs (scikit-learn's sample images), whitened as sparse coding "
            "is taught: Olshausen & Field's 1/f filter, ZCA, or none.",
    config=PatchesConfig,
    layout=lambda cfg: Layout(cfg.patch_size ** 2, (cfg.patch_size, cfg.patch_size),
                              unit_interval=cfg.whitening == "none"),
    load=load,
    train_size=lambda cfg: cfg.patches,
))
