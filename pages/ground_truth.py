"""Ground truth: where the data was generated from a known dictionary (synthetic data), did the model find the true
features? Each true atom's best cosine with a decoder column, the Hungarian-matched mean (MCC) against what a random
dictionary would score, the atoms beside the units that found them, the hierarchy's parents and children, and when in
training each atom was recovered."""
import numpy as np
import streamlit as st

from models.analysis.recovery import RECOVERED, by_epoch
from ui import figures
from ui.compute import recovery_for
from ui.export import chart, csv_text, download_csv
from ui.state import require

SHOWN = 16  # atoms shown beside their units

sel = require(__file__)
st.title("Ground truth: were the true features found?")
samples = sel.samples()
view = sel.view()
w = view.weights
rv = recovery_for(*sel.key)
r = rv.now
K = len(r.best)
st.caption(f"The {samples.nouns} were generated from {K} known atoms ({sel.entry.data.describe()}). Each true atom is "
           "compared with every decoder column by cosine similarity (signed: the codes are non-negative, so an atom "
           "and its negative are different features). Higher is better for every number here.")
m = st.columns(3)
chance = f"{view.hidden} random unit vectors in {w.decoder.shape[1]} dimensions"
for col, (label, value, base, words) in zip(m, (
        ("MCC", f"{r.mcc:.3f}", f"{r.chance_mcc:.3f}", "mean cosine of the true atoms with the units matched to them "
         f"one to one (the Hungarian algorithm); the random level: the MCC of {chance} (mean of "
         "several draws)"),
        (f"Recovered (cosine ≥ {RECOVERED})", f"{100 * r.recovered:.0f} %", f"{100 * r.chance_recovered:.0f} %",
         f"share of the true atoms some unit matches that closely; the random level: the share {chance} would"),
        ("Mean best cosine", f"{r.best.mean():.3f}", f"{r.chance:.3f}", "each true atom's best cosine with any unit, "
         f"averaged; the random level: the mean best cosine of {chance}"))):
    col.metric(label, value, f"a random dictionary's: {base}", delta_color="off", delta_arrow="off", help=words)

left, right = st.columns(2)
chart(left, figures.histogram(r.best, "Each true atom's best cosine", "cosine with the closest unit", bins=20,
                              range_=(-1.0, 1.0), ytitle="atoms"), key="gt-best",
      caption=f"Atoms to the right of {RECOVERED} were found; a random dictionary's atoms would average a best cosine "
              f"of {r.chance:.2f}.")
order = np.argsort(-r.best)
if r.parents:
    fam = []
    for parent, children in r.parents.items():
        fam.append({"parent atom": parent, "its best cosine": round(float(r.best[parent]), 3),
                    "children": " ".join(map(str, children)),
                    "children's best cosines": " ".join(f"{r.best[c]:.2f}" for c in children)})
    right.markdown("**The hierarchy**: each parent occurs only with one of its children.")
    right.dataframe(fam, hide_index=True)
else:
    right.dataframe({"atom": order[:20].tolist(), "best cosine": r.best[order[:20]].round(3).tolist(),
                     "its unit": r.best_unit[order[:20]].tolist()}, hide_index=True)

st.subheader("The atoms and the units that found them")
which = st.radio("Atoms", ["best recovered", "worst recovered"], horizontal=True, key="gt-which")
shown = order[:SHOWN] if which == "best recovered" else order[::-1][:SHOWN]
st.image(figures.tiles(rv.truth.dictionary.T[shown], shape=samples.shape), caption=[f"atom {a}" for a in shown])
st.image(figures.tiles(w.decoder[r.best_unit[shown]], shape=samples.shape),
         caption=[f"unit {u} · cos {c:.2f}" for u, c in zip(r.best_unit[shown], r.best[shown])])
st.caption("Top: true atoms; bottom: the decoder column closest to each (each on its own scale).")
download_csv(st, "Every atom's recovery (CSV)", csv_text({
    "atom": list(range(K)), "best cosine": r.best.round(4).tolist(), "best unit": r.best_unit.tolist(),
    "matched unit": r.matched_unit.tolist(), "matched cosine": r.matched_cosine.round(4).tolist()}),
    "recovery.csv", key="gt-csv")

st.subheader("When was each atom found?")
t = rv.training
if t is None:
    st.info(rv.note + " Train a run to see when its units found the atoms.")
else:
    found = t.recovered_at[t.recovered_at >= 0]
    left, right = st.columns(2)
    chart(left, figures.lines(t.epochs, {"atoms recovered": t.share()}, "Share of the true atoms recovered, by epoch",
                              "epoch (0: before training)", "share"), key="gt-over-epochs",
          caption=f"At each filter snapshot the run kept ({t.units_kept} units), the share of atoms some unit matches "
                  f"at cosine ≥ {RECOVERED}.")
    if len(found):
        chart(right, figures.histogram(found, "Epoch from which each atom stayed recovered", "epoch",
                                       bins=min(20, len(t.epochs)), ytitle="atoms", whole=True), key="gt-when",
              caption="Staged learning, where the constituents are known: atoms found early sit left.")
        quart = np.percentile(found, [25, 50, 75])
        st.markdown(f"{len(found)} of {K} atoms were recovered for good during training: {by_epoch(quart)}"
                    + (" — found stage by stage rather than all at once." if quart[2] > quart[0] else
                       " — all at about the same time.")
                    + ("" if t.units_kept == view.hidden else f" (the snapshots keep {t.units_kept} of the "
                                                              f"{view.hidden} units)"))
    else:
        right.info("No atom stayed recovered over the snapshots.")
