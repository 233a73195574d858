"""Units of two models matched one to one by the cosine similarity of their decoder columns: which unit of one
model draws what a unit of the other draws."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Matching:
    pairs: np.ndarray  # (k, 2): a unit of model A, its match in model B; best match first
    cosine: np.ndarray  # (k,): their decoders' cosine similarity

    def share_above(self, threshold: float) -> float:
        return float((self.cosine > threshold).mean()) if len(self.cosine) else 0.0


def match_units(decoder_a: np.ndarray, decoder_b: np.ndarray) -> Matching:
    """Greedy one-to-one matching of the rows of two (units, n_input) decoder arrays, by descending cosine; as
    many pairs as the smaller model has units."""
    a = decoder_a / np.linalg.norm(decoder_a, axis=1, keepdims=True).clip(1e-12)
    b = decoder_b / np.linalg.norm(decoder_b, axis=1, keepdims=True).clip(1e-12)
    cos = a @ b.T
    order = np.argsort(-cos, axis=None, kind="stable")
    used_a, used_b, pairs = np.zeros(len(a), bool), np.zeros(len(b), bool), []
    for flat in order:
        i, j = divmod(int(flat), len(b))
        if not used_a[i] and not used_b[j]:
            used_a[i] = used_b[j] = True
            pairs.append((i, j))
            if len(pairs) == min(len(a), len(b)):
                break
    pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return Matching(pairs, cos[pairs[:, 0], pairs[:, 1]] if len(pairs) else np.zeros(0))
