"""The structured VAE with rectified-Gaussian units (Salimans, 2016): the model (model.py, registered as `rg-vae`), its
units' density (rectified_gaussian.py), what it achieves on test samples (likelihood.py), what its units and layers
draw (hierarchy.py), and its two posteriors side by side (posteriors.py)."""
from models.families.rg_vae.model import FAMILY, POSTERIORS, RGVAE, RGVAEConfig, validate  # noqa: F401
