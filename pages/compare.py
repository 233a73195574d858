"""Compare: two to four models trained on the same data (any with a decoder and filters: the recurrent encoders and
the sparse autoencoders): validation curves, a table (error, reconstruction, FVU, dead units; for recurrent encoders
the objective against the sparse-coding optimum, equivalent ISTA iterations and conditioning; noise and attack), one
sample through each, units matched by their decoders."""
import numpy as np
import streamlit as st

from models.families import NEEDS as NEEDS_WORDS, get
from models.services import catalog
from models.services.comparison import COLUMNS
from ui import background, figures, url
from ui.compute import COMPARE_REFERENCE, COMPARE_SAMPLES, comparison_task, matching_for, samples_for, trace_for, \
    training_for
from ui.export import chart, csv_text, download_csv
from ui.state import current
from ui.text import plain

NEEDS = ("decoder", "filters")  # what every measurement reads: codes, the decoder and each unit's decoder column
SHOWN_UNITS = 25  # units per z_t heatmap: a column of the page is ~250 px wide

st.title("Compare models")
st.caption("Two to four models side by side — the encoder families, the sparse autoencoders, or your runs: their "
           "training curves, how well each reconstructs and how sparsely, what a recurrent encoder reaches in T steps "
           "against the sparse-coding optimum on its own dictionary, and how each holds up under noise and attack. "
           "`python -m models compare` trains the four recurrent families and measures them on the whole test set.")
sel = current()
able = [e for e in catalog.entries() if not get(e.architecture).capabilities.missing(*NEEDS)]
datas = list(dict.fromkeys(e.data.key for e in able))
on = {e.data.key: e.data for e in able}
if sel is not None and sel.entry.data.key in on:  # the sidebar model's data first
    datas.remove(sel.entry.data.key)
    datas.insert(0, sel.entry.data.key)
if not datas:
    st.info("Comparing needs two models with a decoder and filters.")
    st.stop()
if sel is not None and get(sel.entry.architecture).capabilities.missing(*NEEDS):  # say why it is not offered
    st.info(f"{sel.family.title} models cannot be compared here: Compare measures encoders with "
            + ", ".join(NEEDS_WORDS[n] for n in get(sel.entry.architecture).capabilities.missing(*NEEDS)) + ".")
data = st.selectbox("Models trained on", datas, format_func=lambda k: on[k].describe(), key="cmp-data")
found = [e for e in able if e.data.key == data]
if len(found) < 2:
    st.info("Comparing needs two models with a decoder and filters, trained on the same data: "
            f"there is one on {plain(on[data].describe())}.")
    st.stop()
by_key = {e.key: e for e in found}


def name(e: catalog.Entry) -> str:
    """'Embedded · LISTA 400×11 · λ 0.025', and a run's name for a run."""
    label = get(e.architecture).sparsity_label
    parts = [catalog.group_label(e.group)] + ([label(e.sparsity)] if e.sparsity is not None else [])
    return " · ".join(parts + ([e.key.split(":", 1)[1]] if e.state != "embedded" else []))


def short(e: catalog.Entry) -> str:
    """'LISTA λ 0.025' (a run: its name instead of λ), for table columns and legends."""
    family = get(e.architecture).short
    return f"{family} {e.key.split(':', 1)[1]}" if e.state != "embedded" else \
        f"{family} {e.hidden}×{e.unroll}" + (f" {get(e.architecture).sparsity_label(e.sparsity)}"
                                              if e.sparsity is not None else "")


# Default: the model in the sidebar, then one embedded model of each other family, those alike first (with steps as
# it has, or without)
first = [sel.entry.key] if sel is not None and sel.entry.key in by_key else []
stepped = (lambda e: not get(e.architecture).capabilities.missing("steps"))
alike = (lambda e: stepped(e) == stepped(by_key[first[0]])) if first else stepped
others = sorted((e.key for e in found if e.state == "embedded" and e.key not in first),
                key=lambda k: not alike(by_key[k]))
default, seen = list(first), {by_key[k].architecture for k in first}
for k in others:
    if by_key[k].architecture not in seen and len(default) < 4:
        default.append(k)
        seen.add(by_key[k].architecture)
def _known(raw: str) -> list[str]:
    keys = list(dict.fromkeys(k.strip() for k in raw.split(",") if k.strip()))
    unknown = [k for k in keys if k not in by_key]
    if unknown or not 2 <= len(keys) <= 4:
        raise ValueError(f"names {', '.join(unknown)}, not among the models here" if unknown else
                         "must name two to four models")
    return keys


linked = url.take("models", _known, "models", "the sidebar's model and one of each other family")
if linked is not None:
    st.session_state["cmp-models"] = linked
kept = [k for k in st.session_state.get("cmp-models", default) if k in by_key]  # runs deleted since
if kept != st.session_state.get("cmp-models"):
    st.session_state["cmp-models"] = kept or default
picked = st.multiselect("Models (two to four)", list(by_key), key="cmp-models", max_selections=4,
                        format_func=lambda k: name(by_key[k]))
url.share(models=picked if len(picked) >= 2 else None)
if len(picked) < 2:
    st.info("Pick at least two models.")
    st.stop()
url.link()
models = [by_key[k] for k in picked]
labels = list(dict.fromkeys(short(e) for e in models))
if len(labels) < len(models):  # two models with the same short name: the long one
    labels = [name(e) for e in models]

samples = samples_for(data, models[0].architecture)
noun, nouns = samples.noun, samples.nouns

# -- training curves ------------------------------------------------------------------------------------
trained = [training_for(str(e.path), e.version()) for e in models]
n_epochs = max(len(t.val_recon) for t in trained)
colour = dict(zip(labels, figures.PALETTE))  # a model's colour the same in both charts
pad = lambda v: np.array([np.nan if x is None else x for x in v] + [np.nan] * (n_epochs - len(v)))  # noqa: E731
for key, series, title, ytitle in (
        ("cmp-curves", "val_error", "Validation error against epoch", "validation error (%)"),
        ("cmp-recon", "val_recon", "Validation reconstruction against epoch", "½‖x − x̂‖² on validation " + nouns)):
    if n_epochs and any(v is not None for t in trained for v in getattr(t, series)):
        chart(st, figures.lines(np.arange(1, n_epochs + 1), {lab: pad(getattr(t, series))
                                                              for lab, t in zip(labels, trained)
                                                              if any(v is not None for v in getattr(t, series))},
                                title, "epoch", ytitle, log_y=True, colors=colour), key=key)
if n_epochs:
    st.caption(f"Each run's error (models with a classifier) and reconstruction on its validation {nouns} after each "
               f"epoch (for a final fit on all training {nouns}, these are training {nouns}). ISTA and LISTA train few "
               "epochs: each batch runs FISTA to convergence.")

# -- the table --------------------------------------------------------------------------------------------
numbers = background.shown_all([comparison_task(str(e.path), e.version(), e.data.key) for e in models])
if numbers is not None:  # until the worker has measured them all: a bar here, the rest of the page below
    rows_of = [col for col in COLUMNS if not col.per_run]
    cells = {col.label: [col.shown(c, t) for c, t in zip(numbers, trained)] for col in rows_of}
    kept_rows = [col for col in rows_of if any(v is not None for v in cells[col.label])]  # rows no model has: out
    rows = {col.label: ["—" if v is None else v for v in cells[col.label]] for col in kept_rows}
    st.dataframe({"": list(rows), **{lab: [rows[r][i] for r in rows] for i, lab in enumerate(labels)}},
                 hide_index=True, width="stretch", height="content")  # every row, no scroll box
    download_csv(st, "The table (CSV, a row per model, full precision)",
                 csv_text({"model": labels, **{col.label: [col.value(c, t) for c, t in zip(numbers, trained)]
                                               for col in COLUMNS}}), "sparselab-comparison.csv", key="cmp-csv")
    left_out = len(rows_of) - len(kept_rows)
    absent = [w for w, has in (("recurrent steps (the sparse-coding rows: objective, optimum, ≡ ISTA iterations, code "
                                "error)", all(c.objective is not None for c in numbers)),
                               ("recurrent weights S (cond(S))", all(c.condition is not None for c in numbers)),
                               ("a classifier (the error rows)", all(c.error is not None for c in numbers))) if not has]
    if absent:
        st.caption("— or a row left out: a model without " + "; without ".join(absent) + ". A one-pass autoencoder "
                   "does not approximate sparse coding's minimum on its dictionary, so it has no gap to it."
                   + (f" ({left_out} rows that no model here has are left out.)" if left_out else ""))
st.caption(f"On the first {min(COMPARE_SAMPLES, len(samples.split)):,} of the {samples.name}, each model at its trained "
           f"T (ISTA's objective curve on {COMPARE_REFERENCE} of them). FVU is the share of the {nouns}' variance the "
           "reconstruction leaves (0 perfect, 1 no better than their mean); dead units fire on none of them. The "
           "optimum is the sparse-coding objective's minimum over z ≥ 0 on the model's own decoder D and λ; '≡ ISTA "
           "iterations' is how many ISTA steps from z = 0 reach the model's objective; cond(S) is the median over "
           f"{nouns} of σmax/σmin of S restricted to the units active in z_T. Noise: Gaussian δ with ‖δ‖ a share of "
           "‖x‖; attack: 10 projected gradient steps on the classifier's loss within ‖δ‖ ≤ ε‖x‖. Gradient norms are "
           "per update, before clipping, from the run's metrics (— where a model has none).")

# -- one sample through each --------------------------------------------------------------------------------
st.header(f"One {noun}, step by step")
i = st.number_input(f"Test {noun} (0 – {len(samples.split) - 1})", 0, len(samples.split) - 1, 0, key="cmp-digit")
for col, e, lab in zip(st.columns(len(models)), models, labels):
    x = np.asarray(samples_for(data, e.architecture).split.x[i], dtype=np.float32)  # as its family reads it
    tr = trace_for(str(e.path), e.version(), e.unroll, x.tobytes())
    with col:
        st.markdown(f"**{plain(lab)}**")
        peak = tr.z.max(0)
        units = np.argsort(-peak)[:min(SHOWN_UNITS, int((peak > 0).sum()))]  # the sample's most active units
        if not len(units):
            st.caption(f"No unit is active for this {noun}.")
        else:
            chart(st, figures.heatmap(tr.z[:, units], x=[str(u) for u in units],
                                      y=[f"z_{t + 1}" for t in range(len(tr.z))],
                                      title=f"z_t · top {len(units)} of {int((peak > 0).sum())} active",
                                      xtitle="unit",
                                      colorscale="Viridis", symmetric=False, height=320, categories=True,
                                      hover="unit %{x}, %{y}: %{z:.3f}<extra></extra>"),
                  key=f"cmp-z-{e.key}")
        shown = sorted({0, len(tr.recon) // 2, len(tr.recon) - 1})
        st.image(figures.tiles([tr.x] + [tr.recon[t] for t in shown], signed=False, zoom=2, shape=samples.shape),
                 caption=["input"] + [f"x̂(z_{t + 1})" for t in shown])

# -- units matched across two models ---------------------------------------------------------------------------
st.header("Units matched across two models")
c1, c2 = st.columns(2)
a = c1.selectbox("Model A", picked, 0, format_func=lambda k: name(by_key[k]), key="cmp-a")
b = c2.selectbox("Model B", picked, 1, format_func=lambda k: name(by_key[k]), key="cmp-b")
ea, eb = by_key[a], by_key[b]
matched = matching_for(str(ea.path), ea.version(), str(eb.path), eb.version())
m = matched.matching
st.caption(f"Each unit of A paired with one unit of B (greedily, most similar decoders first). Median cosine "
           f"{np.median(m.cosine):.2f}; {m.share_above(0.9):.0%} of the pairs above 0.9, {m.share_above(0.5):.0%} "
           "above 0.5.")
n_show = st.slider("Pairs shown", 4, 40, 12, 4, key="cmp-pairs")
where = st.radio("Which pairs", ["most alike", "least alike"], horizontal=True, key="cmp-which")
idx = np.arange(len(m.cosine))[:n_show] if where == "most alike" else np.arange(len(m.cosine))[::-1][:n_show]
# A pair is one picture, A above B, so the pairs line up whatever their captions' widths
st.image(figures.pairs(matched.decoder_a[m.pairs[idx, 0]], matched.decoder_b[m.pairs[idx, 1]], zoom=2,
                       shape=samples.shape),
         caption=[f"A {m.pairs[j, 0]} · B {m.pairs[j, 1]} · cos {m.cosine[j]:.2f}" for j in idx])
st.caption("Each picture: A's decoder above, B's below.")
