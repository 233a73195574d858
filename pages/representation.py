"""Representation: the code at each step as a representation: L0, dead and dense units, unexplained variance,
Treves–Rolls sparseness and, where the data has labels, per-unit class selectivity and information, a MIG-style score
and a linear probe's error; each number's definition on hover."""
import numpy as np
import streamlit as st

from models.analysis import representation as rep
from ui import background, figures
from ui.compute import probe_errors_task, representation_for
from ui.export import chart, csv_text, download_csv
from ui.state import keep, require

sel = require(__file__)
st.title("Representation")
view, caps = sel.view(), sel.caps
T = sel.trained_unroll
r = representation_for(*sel.key, T)
samples = sel.samples()
noun, nouns = samples.noun, samples.nouns
labelled = r.mig is not None
probe = background.shown(probe_errors_task(*sel.key, T)) if labelled else None  # a bar until the worker has it
kind = view.kinds  # None where kinds mean nothing: one colour, no kind column
st.caption(f"The codes z_t of the first {r.samples:,} of the {samples.name}, at steps 1..{T} (the trained T)."
           + (" The probe is a logistic regression fitted on the first half of them and tested on the second."
              if labelled else f" These {nouns} carry no labels: the class measures are left out.")
           + " Hover a number for its definition.")

steps = np.arange(1, T + 1)
keep("rep-step", T)
t = st.slider("Step t", 1, T, key="rep-step") if T > 1 else 1
i = t - 1
cards = [("L0", f"{r.l0[i]:.1f}", f"mean number of active units (z > 0) per {noun}"),
         ("Dead", int(r.dead[i]), f"units active on none of these {nouns}"),
         ("Dense", int(r.dense[i]), f"units active on more than {rep.DENSE:.0%} of the {nouns}"),
         ("Sparseness", f"{r.population[i]:.3f}", f"population sparseness: Treves–Rolls across units, mean over {nouns}: "
          f"0 when every unit answers a {noun} equally, 1 when one unit alone does")]
if labelled:
    cards += [("MIG", f"{r.mig[i]:.3f}", "mutual information gap, with the classes as factors: for each class, the gap "
               "between the two units most informative about 'is it this class', over that factor's entropy; the mean "
               "over classes (1: a unit of its own each)"),
              ("Probe error", "…" if probe is None else f"{probe[i]:.1f} %", "test error (%) of a linear probe: a "
               "logistic regression on z_t")]
if r.fvu is not None:
    cards.insert(3, ("FVU", f"{r.fvu[i]:.3f}", f"fraction of variance unexplained, Σ‖x − x̂‖² / Σ‖x − x̄‖²: the share of "
                     f"the {nouns}' variance the reconstruction from z_t misses (1: no better than the mean {noun})"))
for col, (label, value, definition) in zip(st.columns(len(cards)), cards):
    col.metric(label, value, help=definition)

left, right = st.columns(2)
if labelled:  # the probe's line stays in the legend (and keeps its colour) while the worker fits it
    curves = {"linear probe on z_t": np.full(T, np.nan) if probe is None else probe}
    if caps.classifier:
        curves["the model's classifier"] = view.stats.error[:T]
    chart(left, figures.lines(steps, curves, "Class information over the steps", "step t", "test error (%)",
                              marker_x=t),
          key="rep-probe", caption="How much of the class a linear read-out finds in z_t at each step"
                                   + (f", against the model's own classifier (on all the test {nouns})"
                                      if caps.classifier else "")
                                   + (". The probe's line appears once it is fitted." if probe is None else "."))
elif r.fvu is not None:
    chart(left, figures.lines(steps, {"FVU": r.fvu}, "Unexplained variance over the steps", "step t", "FVU",
                              marker_x=t), key="rep-probe",
          caption="The share of the variance the reconstruction from z_t misses at each step (lower is better).")
counts = {f"L0 (active per {noun})": r.l0, "dense units": r.dense, "dead units": r.dead}
chart(right, figures.lines(steps, counts, "Active, dense and dead units over the steps", "step t", "units",
                           marker_x=t), key="rep-counts",
      caption=f"L0, the units active on more than {rep.DENSE:.0%} of {nouns}, and the units active on none.")

left, right = st.columns(2)
with np.errstate(divide="ignore"):
    log_density = np.where(r.density[i] > 0, np.log10(r.density[i]), np.nan)
chart(left, figures.kind_histogram(log_density, kind, f"Activation density of the units at step {t}",
                                   f"log₁₀ (share of {nouns} on which the unit is active)"), key="rep-density",
      caption=f"A unit far left fires rarely (a specialist), far right on most {nouns}. {int(r.dead[i])} dead units "
              "(never active) are left out.")
if labelled:
    chart(right, figures.unit_scatter(r.selectivity[i], r.information[i], kind, "class selectivity",
                                      "I(unit; class) (bits)", f"Selectivity and information at step {t}",
                                      angle_lines=False),
          key="rep-info", caption="Selectivity: (the unit's largest class mean − the mean of the other class means) / "
                                  "their sum. Information: the mutual information between its activity (zero, or one "
                                  f"of {rep.BINS} bins) and the class, in bits (at most log₂ of the class count).")
chart(st, figures.kind_histogram(r.lifetime[i], kind, f"Lifetime sparseness of the units at step {t}",
                                 f"Treves–Rolls sparseness across {nouns}"), key="rep-lifetime",
      caption=f"Per unit, across {nouns}: 0 when it answers every {noun} equally, 1 when it answers one {noun} only.")
table = {"unit": list(range(view.hidden)), **({"kind": list(kind)} if kind is not None else {}),
         "density": r.density[i].round(4).tolist(), "lifetime sparseness": np.round(r.lifetime[i], 4).tolist()}
if labelled:
    table |= {"selectivity": r.selectivity[i].round(4).tolist(), "I(unit; class) bits": r.information[i].round(4).tolist()}
download_csv(st, f"Every unit's numbers at step {t} (CSV)", csv_text(table), f"representation-step{t}.csv",
             key="rep-csv")
