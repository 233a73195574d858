"""Sweep: every model of a family, active units (L0) against test error and against reconstruction, a curve per
setting (and per data), seeds pooled into error bars; a click on a run opens it."""
import streamlit as st

from models.families import all_families, get
from models.services import catalog, sweep
from ui import background, figures, sidebar
from ui.compute import summaries_for
from ui.export import chart, csv_text, download_csv
from ui.state import current
from ui.text import plain

st.title("Sweep: sparsity against error and reconstruction")
sel = current()
families = [f for f in all_families() if f.has_sparsity]
names = [f.name for f in families]
if sel is not None and sel.family.name not in names:  # say why the sidebar's model is not here
    st.info(f"{sel.family.title} models have no sparsity setting to sweep: here are the families that have one.")
if "sw-family" not in st.session_state or st.session_state["sw-family"] not in names:
    st.session_state["sw-family"] = sel.family.name if sel is not None and sel.family.name in names else names[0]
family = get(st.selectbox("Family", names, format_func=lambda n: get(n).title, key="sw-family"))
st.caption(f"Every {family.short} model there is (embedded, and your runs with a checkpoint), each measured on the "
           f"test samples of its own data at its trained T. Models that differ only in {family.sparsity_symbol} and "
           f"seed (on the same data) form one curve: a point per {family.sparsity_symbol} at "
           "the mean over seeds, the bars one standard deviation across seeds; the faint circles are the runs — "
           "click one to open it. Queue a sweep on the Training page, or `python -m models train sweep`.")

entries = [e for e in catalog.entries() if e.architecture == family.name and e.sparsity is not None]
if not entries:
    st.info(f"No {family.short} model yet: queue a sweep on the Training page.")
    st.stop()
numbers, failed, task = summaries_for(entries)
if task is not None:
    background.shown(task)  # a bar while the worker measures the models not measured yet; the page reruns after
if failed:
    st.warning("Left out: " + "; ".join(f"{plain(e.label)}: {plain(failed[e.key])}" for e in entries if e.key in failed))
entries = [e for e in entries if e.key in numbers]
if not entries:
    st.stop()
series = sweep.series(entries, numbers)
caps = family.capabilities
has_error = any(numbers[e.key][1] is not None for e in entries)  # a classifier: models trained with labels
plots = ([("error", "test error (%)")] if has_error else []) + ([("recon", "reconstruction ½‖x − x̂‖²")]
                                                                if caps.decoder else [])
events = []
for col, (y, ytitle) in zip(st.columns(len(plots)), plots):
    events.append(chart(col, figures.tradeoff(series, y, ytitle, f"{family.short}: {ytitle} against sparsity",
                                              symbol=family.sparsity_symbol),
                        key=f"sw-{y}", on_select="rerun", selection_mode="points"))
for ev in events:
    for p in (ev or {}).get("selection", {}).get("points", []):
        if isinstance(p.get("customdata"), str):  # a run's point (the means carry none)
            sidebar.open_model(p["customdata"])

runs = [r for s in series for r in s.runs]
table = {"run": [r.name for r in runs], "curve": [s.label for s in series for _ in s.runs],
         family.sparsity_symbol: [r.sparsity for r in runs], "seed": [r.seed for r in runs], "L0": [round(r.l0, 2) for r in runs],
         "test error (%)": [r.error for r in runs], "reconstruction": [r.recon for r in runs]}
st.dataframe(table, hide_index=True, width="stretch")
download_csv(st, "The runs (CSV)", csv_text(table), f"sparselab-sweep-{family.name}.csv", key="sw-csv")
