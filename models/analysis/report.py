"""A markdown report: each claim of the paper about categorical and part units, checked on a model.

    python -m models report [MODEL] [--data-dir DIR | --sample] --out reports/default.md
"""
from __future__ import annotations

from datetime import date

from collections.abc import Callable

import numpy as np


from models.analysis.activity import UnitAnalysis, analyse, late_share, step_decoders
from models.analysis.composition import ENERGY, composition
from models.analysis.intervene import kind_sets, set_ablations, unit_ablations
from models.kinds import KINDS
from models.training.validate import evaluate_split
from models.analysis.representation import class_means, probe_errors, representation
from models.training.validate import DENSE
from models.analysis.staging import SETTLE, run_staging
from models.data import Split
from models.families import capabilities, of_model

NEEDS = ("steps", "classifier", "filters", "kinds")  # and recurrent weights S: the claims are about E, D, S and C


def prototype_similarity(model, samples: Split) -> np.ndarray:
    """Per unit: the best cosine between its decoder column and a class-mean sample."""
    means = class_means(samples.x.double().numpy(), samples.y.numpy())
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    D = model.unit_weights().decoder.T
    D = D / np.maximum(np.linalg.norm(D, axis=0, keepdims=True), 1e-12)
    return (means @ D).max(0)


def claims(model, a: UnitAnalysis, samples: Split) -> list[dict]:
    t, kind = a.per_unit(), a.units.kind
    cat, part = kind == "categorical", kind == "part"

    def mean(name, m):
        v = np.asarray(t[name], dtype=float)[m]
        return float(np.nanmean(v)) if m.any() else float("nan")

    frac = cat.mean()
    rows = [{
        "claim": "Categorical units are a minority, about a tenth of the hidden units",
        "paper": "roughly 10 % of units have angle(E_i, D_i) > 0.7 rad",
        "ours": f"{cat.sum()} of {len(kind)} ({100 * frac:.1f} %); part {part.sum()}, intermediate {(~cat & ~part).sum()}",
        "holds": 0.03 <= frac <= 0.25,
    }]

    def compare(claim, paper, name, fmt="{:.3f}", factor=1.0):
        c, p = mean(name, cat), mean(name, part)
        rows.append({"claim": claim, "paper": paper, "ours": f"categorical {fmt.format(c)} vs part {fmt.format(p)}",
                     "holds": bool(np.isfinite(c) and np.isfinite(p) and c > factor * p)})

    compare("Categorical units have larger recurrent connections", "‖(S − I)_i‖ larger for categorical units",
            "s_minus_i_norm")
    compare("Categorical units drive the classifier", "‖C_i‖ much larger for categorical units", "c_norm", factor=2.0)
    compare("Categorical units have stronger self-excitation", "S_ii larger for categorical units", "s_self")
    # How often a kind's activations (a unit on at T, on a sample) were off at step 1, pooled over the kind's units:
    # a mean over units of each one's mean switch-on step weighs a part unit seen on three samples like one seen on
    # three thousand, and those rare ones switch on late (docs/results.md, "Part units that are strokes")
    late = {k: late_share(a.first_step_hist, m) for k, m in (("categorical", cat), ("part", part))}
    rows.append({"claim": "Categorical units switch on later",
                 "paper": "categorical units are often off at step 1 and on from step 2",
                 "ours": f"off at step 1 in {100 * late['categorical']:.1f} % of categorical units' activations vs "
                         f"{100 * late['part']:.1f} % of part units' (mean switch-on step per unit "
                         f"{mean('first_step_mean', cat):.2f} vs {mean('first_step_mean', part):.2f})",
                 "holds": bool(late["categorical"] > late["part"])})  # False where a kind has none (NaN)
    compare("Categorical units more often start late", "P(z_1 = 0, z_2 > 0) higher for categorical units",
            "p_late_start", "{:.4f}")
    compare("Categorical units are class-selective", "each responds to one class (selectivity index)", "selectivity")
    cc, pp = a.s_blocks[("categorical", "categorical")], a.s_blocks[("part", "part")]
    rows.append({"claim": "Categorical units inhibit each other", "paper": "strong mutual inhibition between categorical units",
                 "ours": f"mean S between categorical units {cc:.4f}; between part units {pp:.4f}",
                 "holds": bool(cc < 0 and cc < pp)})
    bound = model.classifier_bound or float(np.max(t["c_norm"]))  # the bound on ‖C‖
    strong = np.asarray(t["c_norm"]) > bound / 2
    n_strong = int(strong.sum())
    classes = len(set(np.asarray(t["c_class"])[strong].tolist()))
    strong_angle = float(np.mean(t["angle"][strong])) if n_strong else float("nan")
    rows.append({"claim": "A few units carry the classifier, one or more per class, far from ISTA",
                 "paper": "categorical units: large ‖C_i‖, large angle, a well-defined class",
                 "ours": f"{n_strong} units with ‖C_i‖ > {bound / 2:g} (half its bound), favouring "
                         f"{classes} classes, mean angle {strong_angle:.2f} rad",
                 "holds": bool(0 < n_strong <= 0.25 * len(kind) and classes >= 8 and strong_angle > 0.7)})
    sim = prototype_similarity(model, samples)
    c_sim, p_sim = (float(sim[m].mean()) if m.any() else float("nan") for m in (cat, part))
    rows.append({"claim": "Categorical decoders look like class prototypes", "paper": "decoders of categorical units are prototypes of a class",
                 "ours": f"best cosine with a class-mean sample: categorical {c_sim:.3f} vs part {p_sim:.3f}",
                 "holds": bool(c_sim > p_sim)})
    return rows


def missing(model) -> list[str]:
    """What the model lacks for the report (capability names, or 'recurrent weights')."""
    out = capabilities(model).missing(*NEEDS)
    return out or ([] if model.unit_weights().recurrent is not None else ["recurrent weights"])


def render(source: str, model, samples: Split, data_name: str, shape: tuple[int, int] | None = None,
           progress: Callable[[float], None] = lambda done: None) -> str:
    """`shape`: the samples' image shape, for the filters' radius (None: vectors). `progress` hears the share done
    (seconds on a thousand samples: the app renders it on its worker, behind a bar)."""
    a = analyse(model, samples)
    progress(0.15)
    ev = evaluate_split(model, samples)
    rows = claims(model, a, samples)
    progress(0.3)
    held = sum(r["holds"] for r in rows)
    lines = [
        f"# Categorical and part units: the paper's claims on `{source}`", "",
        f"Model: {of_model(model).title}, {model.cfg.hidden} hidden units, T = {model.trained_unroll}, "
        f"λ = {model.sparsity:g}. "
        f"Samples: {data_name} ({len(samples)}). Generated {date.today()} by `python -m models report`.", "",
        f"Test error {ev['error']:.2f} %, reconstruction ½‖x − Dz‖² {ev['recon']:.4f}, "
        f"{ev['active']:.1f} active units per sample.", "",
        f"**{held} of {len(rows)} claims hold.**", "",
        "| claim | paper | ours | holds |", "|---|---|---|---|",
    ]
    lines += [f"| {r['claim']} | {r['paper']} | {r['ours']} | {'yes' if r['holds'] else '**no**'} |" for r in rows]
    lines += ["", "Per-step optimal decoders (least squares D^t for z_t): ½‖x − D^t z_t‖² = " +
              ", ".join(f"t={i + 1}: {e:.4f}" for i, e in enumerate(step_decoders(model, samples).error)), ""]
    progress(0.4)
    lines += representation_table(model, samples)
    progress(0.65)
    lines += composition_lines(model, a, shape) + staging_lines(source)
    progress(0.7)
    lines += ablation_lines(model, samples, a)
    progress(1.0)
    return "\n".join(lines)


def representation_table(model, samples: Split) -> list[str]:
    """The representation metrics at every step (models/analysis/representation.py), as markdown lines."""
    r, probe = representation(model, samples, model.trained_unroll), probe_errors(model, samples, model.trained_unroll)
    fvu = r.fvu if r.fvu is not None else [float("nan")] * len(r.l0)
    lines = ["## The code as a representation, step by step", "",
             f"On the first {r.samples:,} samples; the linear probe is fitted on the first half and tested on the "
             f"second. Dense: active on more than {DENSE:.0%} of samples. FVU: the variance the reconstruction leaves. "
             "Sparseness: Treves–Rolls across units, mean over samples. MIG: the mutual-information gap with the "
             "classes as factors.", "",
             "| step | L0 | dead | dense | FVU | sparseness | MIG | probe error (%) |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {t + 1} | {r.l0[t]:.1f} | {int(r.dead[t])} | {int(r.dense[t])} | {fvu[t]:.3f} | "
              f"{r.population[t]:.3f} | {r.mig[t]:.3f} | {probe[t]:.1f} |" for t in range(len(r.l0))]
    return lines + [""]


def composition_lines(model, a: UnitAnalysis, shape: tuple[int, int] | None) -> list[str]:
    """How local each kind is, and the composition graph's in-degrees (models/analysis/composition.py). `shape`: the
    samples' image shape (None: vectors, without a radius)."""
    c = composition(model.unit_weights(), a.units.kind, shape)
    by = c.by_kind()
    radius = shape is not None
    lines = ["## Composition", "",
             f"Medians per kind. Support: the fewest values holding {ENERGY:.0%} of a filter's squared weight"
             + ("; radius of gyration in pixels, with the squared weights as mass (w²) and with their absolute values "
                "(|w|: faint pixels count more)." if radius else "."), "",
             "| kind | units | encoder support | decoder support |" + (" encoder radius w² | decoder radius w² | "
                                                                      "encoder radius |w| | decoder radius |w| |"
                                                                      if radius else ""),
             "|---|---|---|---|" + ("---|---|---|---|" if radius else "")]
    lines += [f"| {k} | {v['units']} | {v['encoder_support']:.0f} | {v['decoder_support']:.0f} |"
              + (f" {v['encoder_radius']:.2f} | {v['decoder_radius']:.2f} | {v['encoder_radius_abs']:.2f} | "
                 f"{v['decoder_radius_abs']:.2f} |" if radius else "") for k, v in by.items()]
    deg = c.in_degrees()
    if len(deg):
        counts = np.bincount(deg)
        hist = ", ".join(f"{d}: {n}" for d, n in enumerate(counts) if n)
        lines += ["", f"In-degree of the {len(deg)} categorical units (part units j with S_ij > 0 carrying "
                      f"{ENERGY:.0%} of the positive part input): median {np.median(deg):.0f}, from {deg.min()} to "
                      f"{deg.max()}; histogram (in-degree: units) {hist}."]
    return lines + [""]


def staging_lines(source: str) -> list[str]:
    """When the units took their kinds, where the model's run recorded every unit's angle each epoch."""
    s = run_staging(source)
    if s is None:
        return ["## Staged learning", "", "The model's run did not record its units' angles every epoch.", ""]
    crossed, settled = s.medians("crossed"), s.medians("settled")
    rows = [f"| {k} | {int((s.kind == k).sum())} | {crossed[k]:.0f} | {settled[k]:.0f} |" for k in KINDS if k in crossed]
    return ["## Staged learning", "", s.answer(), "",
            f"| final kind | units | median epoch it took its kind | median epoch its angle settled (±{SETTLE} rad) |",
            "|---|---|---|---|", *rows, ""]


def ablation_lines(model, samples: Split, a: UnitAnalysis, top: int = 10) -> list[str]:
    """Test error and reconstruction with each kind ablated, and the units whose ablation alone costs most."""
    T = model.trained_unroll
    sa = set_ablations(model, samples, T, kind_sets(a.units.kind))
    ua = unit_ablations(model, samples, T)
    lines = ["## Interventions", "",
             f"Units held at 0 at every step (T = {T}), on the {len(samples):,} samples.", "",
             "| ablated | units | test error (%) | reconstruction |", "|---|---|---|---|",
             f"| nothing | 0 | {sa.error:.2f} | {sa.recon:.4f} |"]
    lines += [f"| all {k} units | {sa.set_units[k]} | {sa.set_error[k]:.2f} | {sa.set_recon[k]:.4f} |" for k in KINDS]
    order = ua.ranked()[:top]
    lines += ["", f"The {top} units whose ablation alone costs the classifier most ({ua.runs:,} sample × unit runs):", "",
              "| unit | kind | test error (%) | predictions changed |", "|---|---|---|---|"]
    lines += [f"| {u} | {a.units.kind[u]} | {ua.error[u]:.2f} | {ua.flips[u]} |" for u in order]
    return lines + [""]
