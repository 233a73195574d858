"""Are a model's "categorical" units class prototypes, or only units whose encoder drifted from their decoder?

The angle thresholds (kinds.py) were read off the default model. At a larger λ far more units cross them, so the
question is whether the name still means the same. A unit is a *prototype* here when it answers one class
(selectivity ≥ SELECTIVE on the samples) and its classifier weights favour that same class (argmax_k C_ki is the
class with its largest mean activity). Compared across models, kind by kind.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.kinds import KINDS
from models.analysis.representation import as_codes, class_means, selectivity_of

SELECTIVE = 0.5  # (top class mean − mean of the others) / their sum: the top class at least 3× the others
SAME_MEANING = 0.2  # a share of prototypes among categorical units that falls further than this: a new meaning


@dataclass
class KindMeaning:
    """For one model: per kind, how many units, and how many of them are prototypes."""
    sparsity: float | None
    counts: dict[str, int]
    prototypes: dict[str, int]  # of each kind's units, those that are prototypes
    selectivity: dict[str, float]  # median selectivity of each kind's live units
    agreement: dict[str, float]  # share of each kind's live units whose C favours the class they answer most
    dead: dict[str, int]  # units of each kind active on none of the samples

    def share(self, kind: str) -> float:
        return self.prototypes[kind] / self.counts[kind] if self.counts.get(kind) else float("nan")


def kind_meaning(kind: np.ndarray, z, y: np.ndarray, classifier: np.ndarray | None,
                 sparsity: float | None = None) -> KindMeaning:
    """`kind` (units,), `z` (samples, units) final codes (dense, or SparseCodes), `y` labels, `classifier` C
    (classes, units) or None."""
    z = as_codes(z)
    means = class_means(z, y)
    sel = selectivity_of(means)
    preferred = means.argmax(0)
    live = z.fires() > 0
    agrees = (classifier.argmax(0) == preferred) if classifier is not None else np.zeros(len(kind), bool)
    proto = live & (sel >= SELECTIVE) & (agrees if classifier is not None else True)
    out = {"counts": {}, "prototypes": {}, "selectivity": {}, "agreement": {}, "dead": {}}
    for k in KINDS:
        m = kind == k
        ml = m & live
        out["counts"][k] = int(m.sum())
        out["prototypes"][k] = int((m & proto).sum())
        out["selectivity"][k] = float(np.median(sel[ml])) if ml.any() else float("nan")
        out["agreement"][k] = float(agrees[ml].mean()) if ml.any() and classifier is not None else float("nan")
        out["dead"][k] = int((m & ~live).sum())
    return KindMeaning(sparsity, **out)


def judgement(models: list[KindMeaning]) -> str:
    """Whether "categorical" names the same thing at every λ, in words, from the numbers (models in λ order)."""
    have = [m for m in models if m.counts.get("categorical")]
    if len(have) < 2:
        return "Fewer than two models with categorical units: nothing to compare across λ."
    ref = have[0]
    lines = [f"λ = {m.sparsity:g}: {m.counts['categorical']} categorical units, {m.share('categorical'):.0%} of them "
             f"prototypes (median selectivity {m.selectivity['categorical']:.2f}, {m.agreement['categorical']:.0%} "
             f"favoured in C for the class they answer)" for m in have]
    drift = [m for m in have[1:] if ref.share("categorical") - m.share("categorical") > SAME_MEANING]
    if drift:
        verdict = (f"The angle thresholds do not mean the same at every λ: from λ = {drift[0].sparsity:g} on, the share "
                   f"of prototypes among categorical units falls more than {SAME_MEANING:.0%} below λ = "
                   f"{ref.sparsity:g}'s, so many units there are categorical by angle only: encoders that drifted "
                   "without becoming class templates.")
    else:
        verdict = (f"The angle thresholds mean about the same at every λ: the share of prototypes among categorical "
                   f"units stays within {SAME_MEANING:.0%} of λ = {ref.sparsity:g}'s.")
    return verdict + " " + "; ".join(lines) + "."
