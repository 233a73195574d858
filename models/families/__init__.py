"""Model families. Importing this package registers the built-in ones; see registry.py for what a family is.

Adding a family: one module here that builds a `Family` and calls `register`, and its import below.
"""
from models.families import (  # noqa: F401  (registers, in the pickers' order)
    drsae, ista, lista, structured, rg_vae, relu_sae, topk_sae, batchtopk_sae, jumprelu_sae, matryoshka_sae,
)
from models.families.registry import (  # noqa: F401
    DEFAULT, NEEDS, Capabilities, Claim, Curve, Family, UnknownFamily, all_families, architecture, capabilities, get,
    of_config, of_model, of_saved, register, unregister,
)
