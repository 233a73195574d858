"""Data domains. Importing this package registers the built-in ones; see registry.py for what a domain is.

Adding a domain: one module here that builds a `Domain` and calls `register`, and its import below.
"""
from models.domains import digits, patches, synthetic, vectors  # noqa: F401  (registers, in the pickers' order)
from models.domains.registry import (  # noqa: F401
    DEFAULT, SHOWN_SAMPLES, Arrays, DataSpec, Domain, Layout, Raw, Shown, Stored, Truth, UnknownDomain, all_domains,
    dataset, get, spec,
    spec_of, test_set,
)
