"""TensorBoard's smoothing of a curve: a debiased exponential moving average, so the first points are not pulled
towards zero (TensorBoard's scalar dashboard, `smoothing` from 0 to 0.99)."""
from __future__ import annotations

import math


def smooth(values, weight: float) -> list[float]:
    """Each point: the average of the points so far with weights weight^age, divided by (1 − weight^n) so the
    weights sum to one. Non-finite points stay as they are and do not move the average."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"a smoothing weight is in [0, 1), not {weight}")
    out, last, n = [], 0.0, 0
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(float("nan"))
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight ** n))
    return out
