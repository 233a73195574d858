"""Runs: every run (and embedded model) in one table with its family, data, settings and final numbers; filter by
any column, sort, group by a setting; the selected runs' curves overlaid, smoothed as TensorBoard smooths them; a
parallel-coordinates chart of a sweep's settings against a number; the selected runs opened in Compare."""
import numpy as np
import streamlit as st

from models.analysis.smoothing import smooth
from models.families import get
from models.services import catalog
from ui import figures
from ui.compute import runs_for, runs_stamp
from ui.export import chart, csv_text, download_csv

FILTERS = 2  # filters at once
COMPARE_NEEDS = ("steps", "decoder", "filters")

st.title("Runs")
st.caption("Every run here and every embedded model, in one table: filter by any column, sort, group by a setting; "
           "select rows to overlay their curves or open them in Compare. `tensorboard --logdir runs` shows the same "
           "runs' numbers, filters and activation densities.")
rows = runs_for(runs_stamp())
if not rows:
    st.info("No run yet: start one on the Training page.")
    st.stop()
columns = list(dict.fromkeys(c for r in rows for c in r.values))
numeric = {c for c in columns if all(isinstance(r.values.get(c), (int, float, type(None))) and
                                     not isinstance(r.values.get(c), bool) for r in rows)
           and any(r.values.get(c) is not None for r in rows)}
varies = [c for c in columns if len({repr(r.values.get(c)) for r in rows}) > 1]

# -- filter, sort, group ------------------------------------------------------------------------------
shown = list(rows)
cols = st.columns(FILTERS + 2)
for i in range(FILTERS):
    c = cols[i].selectbox(f"Filter {i + 1}", [None, *varies], key=f"runs-filter-{i}",
                          format_func=lambda v: "—" if v is None else v)
    if c is None:
        continue
    present = [r.values.get(c) for r in shown if r.values.get(c) is not None]
    if c in numeric and len(set(present)) > 1:
        lo, hi = float(min(present)), float(max(present))
        a, b = cols[i].slider(c, lo, hi, (lo, hi), key=f"runs-range-{i}-{c}", label_visibility="collapsed")
        shown = [r for r in shown if r.values.get(c) is not None and a <= r.values[c] <= b]
    else:
        options = sorted({repr(v) for v in present})
        keep = cols[i].multiselect(c, options, default=options, key=f"runs-values-{i}-{c}",
                                   label_visibility="collapsed")
        shown = [r for r in shown if repr(r.values.get(c)) in keep]
sort_by = cols[FILTERS].selectbox("Sort by", columns, index=columns.index("run"), key="runs-sort")
descending = cols[FILTERS].toggle("Descending", key="runs-desc")
group_by = cols[FILTERS + 1].selectbox("Group by", [None, *varies], key="runs-group",
                                       format_func=lambda v: "—" if v is None else v)
shown.sort(key=lambda r: (r.values.get(sort_by) is None, r.values.get(sort_by)
                          if isinstance(r.values.get(sort_by), (int, float)) else str(r.values.get(sort_by))),
           reverse=descending)
if descending:  # runs without the number stay last
    shown.sort(key=lambda r: r.values.get(sort_by) is None)

if group_by is not None:
    groups: dict = {}
    for r in shown:
        groups.setdefault(repr(r.values.get(group_by)), []).append(r)
    nums = [c for c in columns if c in numeric and c != group_by]
    table = {group_by: list(groups), "runs": [len(g) for g in groups.values()]}
    for c in nums:
        means = [[r.values[c] for r in g if r.values.get(c) is not None] for g in groups.values()]
        table[f"mean {c}"] = [round(float(np.mean(m)), 5) if m else None for m in means]
    st.dataframe(table, hide_index=True, width="stretch", key="runs-groups")
    st.caption(f"{len(shown)} runs in {len(groups)} groups by {group_by}: their count and the mean of each number.")

table = {c: [r.values.get(c) for r in shown] for c in columns}
event = st.dataframe(table, hide_index=True, width="stretch", key="runs-table", on_select="rerun",
                     selection_mode="multi-row")
selected = [shown[i].values["run"] for i in (event.selection.rows if event else []) if i < len(shown)]
st.caption(f"{len(shown)} of {len(rows)} runs. Click a column's name to sort by it too; select rows to compare them.")
download_csv(st, "The table (CSV)", csv_text(table), "sparselab-runs.csv", key="runs-csv")

# -- curves of the selected runs --------------------------------------------------------------------
st.subheader("Curves")
names = [r.values["run"] for r in shown]
if selected != st.session_state.get("runs-last-selection"):  # rows ticked in the table: they are the ones plotted
    st.session_state["runs-last-selection"] = selected
    if selected:
        st.session_state["runs-picked"] = selected
st.session_state["runs-picked"] = [n for n in st.session_state.get("runs-picked", []) if n in names]
chosen = st.multiselect("Runs to overlay", names, key="runs-picked", help="Or tick rows in the table above")
picked = [r for r in shown if r.values["run"] in chosen]
if not picked:
    st.info("Choose runs above, or tick rows in the table, to overlay their curves.")
else:
    keys = sorted({k for r in picked for k in r.curves} - {"epoch"})
    left, right = st.columns([3, 1])
    metric = right.selectbox("Number", keys, index=keys.index("val_unsup") if "val_unsup" in keys else 0,
                             key="runs-metric")
    weight = right.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="runs-smoothing",
                          help="TensorBoard's: a debiased exponential moving average; 0 shows the raw numbers")
    log_y = right.toggle("Log scale", key="runs-log")
    series, xs = {}, None
    for r in picked:
        if metric in r.curves:
            x, y = r.curves[metric]
            series[r.values["run"]] = np.array(smooth(y, weight))
            xs = x if xs is None or len(x) > len(xs) else xs
    padded = {k: np.concatenate([v, np.full(len(xs) - len(v), np.nan)]) for k, v in series.items()}
    chart(left, figures.lines(np.array(xs), padded, f"{metric} by epoch, smoothed {weight:.2f}", "epoch", metric,
                              log_y=log_y), key="runs-curves",
          caption="Each selected run's number after every epoch; a thin line is a short run.")
    if st.button("Open the selected runs in Compare", key="runs-compare", disabled=not 2 <= len(picked) <= 4,
                 help="Two to four runs on the same data, with recurrent steps, a decoder and filters"):
        by_key = {e.key: e for e in catalog.entries()}  # those that can be opened (a checkpoint)
        keys_ = [r.key for r in picked if r.key in by_key]
        datas = {by_key[k].data.key for k in keys_}
        fit = [k for k in keys_ if not get(by_key[k].architecture).capabilities.missing(*COMPARE_NEEDS)]
        if len(datas) != 1 or len(fit) != len(picked):
            st.error("Compare takes two to four models on the same data, with recurrent steps, a decoder and filters "
                     "(and a checkpoint): these are not.")
        else:
            st.session_state.update({"cmp-data": datas.pop(), "cmp-models": fit})
            st.switch_page("pages/compare.py")

# -- parallel coordinates ---------------------------------------------------------------------------
st.subheader("A sweep's settings against a number")
settings = [c for c in varies if c.startswith(("model.", "train.")) and c in numeric]
numbers = [c for c in columns if c in numeric and not c.startswith(("model.", "train.")) and c != "epochs"]
if not settings or not numbers:
    st.info("The runs shown differ in no numeric setting (filter down to a sweep: one family, several settings).")
else:
    c1, c2 = st.columns(2)
    dims = c1.multiselect("Settings", settings, default=settings[:4], key="runs-dims")
    target = c2.selectbox("Number", numbers, key="runs-target")
    have = [r for r in shown if all(r.values.get(d) is not None for d in dims) and r.values.get(target) is not None]
    if dims and len(have) >= 2:
        axes = []
        for d in dims:
            v = np.array([float(r.values[d]) for r in have])
            scale = bool((v > 0).all() and v.max() / v.min() >= 10)  # a setting that is a scale: log axis
            axes.append((d, np.log10(v) if scale else v, scale))
        fig = figures.parallel(axes, target, np.array([float(r.values[target]) for r in have]),
                               [r.values["run"] for r in have])
        chart(st, fig, key="runs-parallel",
              caption=f"A line per run through its settings, coloured by {target}; drag along an axis to keep a range. "
                      "Settings that span a decade or more are on log axes (their ticks show the values).")
    else:
        st.info("Choose settings that at least two of the runs shown have.")
