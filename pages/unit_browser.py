"""Unit browser: every unit in one table (kind where kinds mean something, angle, density, class selectivity, ablation
cost, weight norms),
filtered and sorted; a unit's own view with its filters, the 24 samples that drive it most, samples from bands across
its activations, its nearest units by decoder, its activation histogram and its mean activity per class; for a
network's activations, what it does to the network's outputs; a note per unit; the units a sample (a test sample, a
drawing, an upload) fires most; linkable with `units=`."""
import html

import numpy as np
import streamlit as st

from models.services import jobs
from ui import background, figures, url
from ui.compute import unit_ablations_task, unit_detail_for, unit_effect_task, unit_notes, unit_runs_for
from ui.export import chart, csv_text, download_csv
from ui.state import keep, require
from ui.own_sample import pick_sample
from ui.text import plain

SEARCH_UNITS = 10  # units a searched sample lists

sel = require(__file__)
st.title("Unit browser")
view, T = sel.view(), sel.unroll
w, units = view.weights, view.units
samples = sel.samples()
shape, noun, nouns = samples.shape, samples.noun, samples.nouns
index = sel.unit_index()
codes = sel.codes()
H = view.hidden
# the Units page's ranking, shared; a bar here until the worker has it
ablation = background.shown(unit_ablations_task(*sel.key, T)) if sel.ranked else None

linked = url.take("units", url.integers(0, H - 1, 8), "units", "the unit the table opens on")
if linked is not None:
    st.session_state["ub-unit"] = linked[0]

# -- the table ------------------------------------------------------------------------------------
columns = {"unit": np.arange(H)}
if view.kinds is not None:
    columns["kind"] = view.kinds
if units is not None:
    columns["angle (rad)"] = np.round(units.angle, 3)
columns |= {"density": np.round(index.density, 4), "mean z_T when on": np.round(index.mean, 4)}
if index.selectivity is not None:
    columns |= {"selectivity": np.round(index.selectivity, 3),
                "prefers": [samples.classes[k] for k in index.preferred]}
if ablation is not None and ablation.error is not None:
    columns["error without it (%)"] = np.round(ablation.error, 2)
elif ablation is not None:
    columns["½‖x − x̂‖² without it"] = np.round(ablation.recon, 4)
if units is not None and units.s_minus_i_norm is not None:
    columns["‖(S − I)_i‖"] = np.round(units.s_minus_i_norm, 3)
if units is not None and units.c_norm is not None:
    columns["‖C_i‖"] = np.round(units.c_norm, 3)
notes = unit_notes(sel.entry)
if notes:
    columns["note"] = [notes.get(i, "")[:60] for i in range(H)]

c = st.columns([2, 2, 2, 1])
keep_mask = np.ones(H, dtype=bool)
if "kind" in columns:
    kinds = sorted(set(columns["kind"]))
    picked = c[0].multiselect("Kinds", kinds, key="ub-kinds", placeholder="every kind")
    if picked:
        keep_mask &= np.isin(columns["kind"], picked)
if "prefers" in columns:
    prefer = c[1].multiselect("Prefers class", list(samples.classes), key="ub-classes", placeholder="any class")
    if prefer:
        keep_mask &= np.isin(columns["prefers"], prefer)
sortable = [k for k in columns if k not in ("kind", "prefers", "note")]
keep("ub-sort", "selectivity" if "selectivity" in columns else "density")
sort_by = c[2].selectbox("Sort by", sortable, key="ub-sort")
descending = c[3].toggle("Largest first", True, key="ub-desc")
alive = c[0].toggle("Hide units that never fire", True, key="ub-alive",
                    help=f"Units with z_T = 0 on every one of the {codes.z.n:,} test {nouns}")
if alive:
    keep_mask &= index.density > 0
shown = np.flatnonzero(keep_mask)
values = np.asarray(columns[sort_by], dtype=float)[shown]
shown = shown[np.argsort(-values if descending else values, kind="stable")]
if not sel.ranked:
    runs = unit_runs_for(*sel.key, T)
    c[1].caption(f"Ablation cost: rank every unit ({runs:,} {noun} × unit runs at T = {T}; the Units page "
                 "shares it).")
    if c[1].button("Rank by ablation", key="ub-rank"):
        sel.rank()
        st.rerun()
table = {k: [v[i] for i in shown] for k, v in columns.items()}
event = st.dataframe(table, hide_index=True, key="ub-table", on_select="rerun", selection_mode="single-row",
                     height=320)
st.caption(f"{len(shown)} of {H} units at T = {T} over the {samples.name}. Density: the share of {nouns} on which "
           "the unit fires; selectivity: 1 when it answers one class only, 0 when every class alike. Click a row "
           "to open the unit below; a header sorts the table too.")
download_csv(st, "Table (CSV)", csv_text({k: list(v) for k, v in table.items()}), "units.csv", "ub-csv")
rows = (event or {}).get("selection", {}).get("rows", [])
if rows and rows[0] < len(shown) and st.session_state.get("ub-row") != (tuple(shown[:50]), rows[0]):
    st.session_state["ub-row"] = (tuple(shown[:50]), rows[0])
    st.session_state["ub-unit"] = int(shown[rows[0]])
keep("ub-unit", int(shown[0]) if len(shown) else 0)
if not 0 <= st.session_state["ub-unit"] < H:  # another model's unit
    st.session_state["ub-unit"] = int(shown[0]) if len(shown) else 0

# -- one unit ---------------------------------------------------------------------------------------
st.divider()
left, right = st.columns([1, 3], vertical_alignment="bottom")
u = int(left.number_input(f"Unit (0 – {H - 1})", 0, H - 1, key="ub-unit"))
url.share(units=[u])
with right:
    url.link()
cards = []
if view.kinds is not None:
    cards += [("Kind", view.kinds[u])]
if units is not None:
    cards += [("Angle (rad)", f"{units.angle[u]:.2f}")]
cards += [("Density", f"{index.density[u]:.1%}")]
if index.selectivity is not None:
    cards += [("Selectivity", f"{index.selectivity[u]:.2f}"), ("Prefers", samples.classes[index.preferred[u]])]
if ablation is not None and ablation.error is not None:
    cards += [("Error without it", f"{ablation.error[u]:.2f} %")]
for col, (label, value) in zip(st.columns(len(cards)), cards):
    col.metric(label, value)

if notes is None:
    st.caption("Notes on units are kept in a run's folder: train a run to note its units (the embedded models keep "
               "none).")
else:
    with st.form(f"ub-note-form-{u}", border=False):
        c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
        text = c1.text_area(f"Your note on unit {u}", notes.get(u, ""), max_chars=jobs.NOTE_MAX, height=68,
                            placeholder="what it answers, what to check", help="Kept in the run's folder "
                            "(unit_notes.json) and shown in the table above and on the Units page")
        if c2.form_submit_button("Save note"):
            try:
                jobs.note_unit(sel.entry.folder, u, text, H)
                st.rerun()
            except jobs.JobError as e:
                st.error(plain(e))
a, b = st.columns([1, 3])
a.image(figures.tiles([w.encoder[u], w.decoder[u]], shape=shape), caption=["encoder E_i", "decoder D_i"])
top = [i for i in index.top[u] if i >= 0]
if top:
    b.image(figures.tiles(samples.split.x[top].numpy(), signed=False, zoom=2, shape=shape),
            caption=[f"{i}: {codes.z.value(i, u):.2f}" for i in top])
    b.caption(f"The {len(top)} test {nouns} that drive unit {u} most (number: z_T).")
else:
    b.info(f"Unit {u} fires on none of the {samples.name} at T = {T}.")
detail = unit_detail_for(*sel.key, T, sel.max_unroll, u)
if len(detail.bands) > 1:
    st.markdown(f"**Across its range**: the {nouns} it fires on, cut into {len(detail.bands)} bands of equal count by "
                f"z_T (the top band first), a few drawn from each: what it answers when it answers weakly too.")
    for k, (band, col) in enumerate(zip(detail.bands, st.columns(2) + st.columns(2))):
        col.image(figures.tiles(samples.split.x[band.samples].numpy(), signed=False, zoom=2, shape=shape),
                  caption=[f"{i}: {v:.2f}" for i, v in zip(band.samples, band.values)])
        col.caption(f"Band {k + 1}: z_T {band.lo:.2f} – {band.hi:.2f}, {band.fires:,} {nouns}"
                    + (f" ({len(band.samples)} drawn at random)." if len(band.samples) < band.fires else ", all shown."))
host = sel.entry.data.host()
if host is not None:  # activations of a network: what the unit does to that network's outputs
    task = unit_effect_task(*sel.key, u)
    effect = background.shown(task)
    if effect is None and task.future.done() and task.failed is None:
        st.info(f"Unit {u} fires on none of the host's first test samples: its effect on the host is not measured.")
    elif effect is not None:
        chart(st, figures.bars(list(effect.classes), effect.logit, f"What unit {u} does to "
                               f"{html.escape(host['host'])}'s outputs", "class", "mean change of the logit",
                               every_x=True),
              key="ub-effect", caption=f"Its decoder direction added to layer {plain(host['layer'])} at every "
              f"position, at its mean size where it fires ({effect.scale:.3g} in the layer's units; it fires on "
              f"{effect.fires} of the host's first {effect.samples} test {nouns}): up, the classes it pushes the "
              "network towards.")
if len(detail.nearest):
    st.markdown("**Nearest units** by the direction of their decoder columns (cosine): click one to open it.")
    near = st.columns(len(detail.nearest))
    for col, n, c in zip(near, detail.nearest, detail.cosine):
        col.image(figures.tiles([w.decoder[n]], shape=shape), caption=f"unit {n}")
        col.button(f"{c:.2f}", key=f"ub-near-{n}", help=f"Open unit {n} (decoder cosine {c:.3f} with unit {u})",
                   on_click=lambda n=int(n): st.session_state.update({"ub-unit": n}))
left, right = st.columns(2)
on = index.activations(codes.z, u)
if len(on):
    chart(left, figures.histogram(on, f"z_T of unit {u} where it fires", "z_T", bins=30, ytitle=nouns),
          key="ub-hist", caption=f"Over the {len(on):,} {nouns} where it fires; it is 0 on the other "
                                 f"{codes.z.n - len(on):,}.")
if index.class_means is not None:
    chart(right, figures.bars(list(samples.classes), index.class_means[:, u], f"Mean z_T of unit {u} per class",
                              "class", "mean z_T", every_x=True), key="ub-class",
          caption="A categorical unit answers one class; a part unit several." if view.kinds is not None else
          "A unit selective for a class answers it alone; a unit answering several classes alike is not.")
if st.button("Compare it on the Units page", key="ub-to-units"):
    st.session_state["u-sel"] = [u]
    st.switch_page("pages/units.py")

# -- search by input (last: a drawing not made yet stops the page here) -----------------------------------------
st.divider()
st.subheader(f"Which units does a {noun} fire?")
x, what = pick_sample("ub-search", samples)
z = sel.trace(x).z[-1]  # its code at the sidebar's T
ranked = np.argsort(-z, kind="stable")[:SEARCH_UNITS]
ranked = ranked[z[ranked] > 0]
if not len(ranked):
    st.info(f"No unit fires on {plain(what)} at T = {T}.")
else:
    st.caption(f"The {len(ranked)} units that fire most on {plain(what)} at T = {T} ({int((z > 0).sum())} fire in "
               "all), largest z_T first: a click opens one above.")
    for col, n in zip(st.columns(len(ranked)), ranked):
        col.image(figures.tiles([w.decoder[n]], shape=shape), caption=f"unit {n}")
        col.button(f"{z[n]:.2f}", key=f"ub-search-{n}", help=f"Open unit {n} (z_T {z[n]:.3f} on {what})",
                   on_click=lambda n=int(n): st.session_state.update({"ub-unit": n}))
