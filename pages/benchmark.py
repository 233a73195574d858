"""Benchmark: every family on the same data, measured the same way (python -m models benchmark). The frontier (L0
against the variance unexplained and the reconstruction: click a run to open it), the table with which way each
number is better, the published claims it can check, feature splitting across dictionary sizes (click a parent to
see its children's decoders) and the consistency of two seeds as matched filter pairs."""
from pathlib import Path

import numpy as np
import streamlit as st

from models.analysis.consistency import SAME, SPLIT_COSINE
from models.families import get
from models.services import benchmark, catalog
from ui import figures, sidebar, url
from ui.compute import benchmark_for
from ui.export import chart, csv_text, download_csv
from ui.text import plain

PAIRS_SHOWN = 16  # matched pairs drawn at once
CHILDREN_SHOWN = 12

st.title("Benchmark: every family on the same data")
found = benchmark.available()
if not found:
    st.info("No benchmark yet. Run one: `python -m models benchmark --out runs/benchmark-digits` trains the five "
            "sparse autoencoders at three sparsities and two seeds (about 20 minutes on two cores) and writes the "
            "folder this page opens.")
    st.stop()
labels = {str(p): label for label, p in found}
by_name = {p.name: str(p) for _, p in found}
linked = url.take("benchmark", url.choice(by_name, "is not among the benchmarks here"), "benchmark", "the first one")
if linked:
    st.session_state["bm-folder"] = by_name[linked]
if st.session_state.get("bm-folder") not in labels:
    st.session_state["bm-folder"] = str(found[0][1])
folder = st.selectbox("Benchmark", list(labels), format_func=labels.get, key="bm-folder")
url.share(benchmark=Path(folder).name)
try:
    bv = benchmark_for(folder, (Path(folder) / benchmark.RESULT).stat().st_mtime)
except (OSError, benchmark.DamagedBenchmark) as e:
    st.error(f"This benchmark cannot be read: {plain(e)}")
    st.stop()
result = bv.saved.result
metrics = result["metrics"]
st.caption(f"On {result['describe']}; {len(bv.rows)} family × sparsity settings, "
           f"{sum(r['role'] == 'grid' and r['state'] == 'done' for r in result['runs'])} runs "
           f"(generated {result.get('created', '?')} by `{result.get('command', '')}`). Every number is measured on "
           "the data's test samples; the probes are fitted on training samples.")

# -- the frontier ----------------------------------------------------------------------------------
st.subheader("The frontier: sparsity against reconstruction")
left, right = st.columns(2)
events = [chart(col, bv.frontier[y], key=f"bm-{y}", on_select="rerun", selection_mode="points",
                caption=f"A line per family through its sparsity settings (the mean over seeds, bars one standard "
                        f"deviation across them); faint circles are the runs: click one to open it. "
                        f"{metrics[y]['label']}: {metrics[y]['better']}; down and to the left is better.")
          for col, y in ((left, "fvu"), (right, "recon"))]
entries = catalog.entries()
for ev in events:
    for p in (ev or {}).get("selection", {}).get("points", []):
        key = p.get("customdata")
        if not isinstance(key, str):
            continue
        clicked = next((r for r in result["runs"] if r["key"] == key), None)
        # the run, else another seed of the same setting (seeds overlap on the frontier; an embedded copy keeps one)
        twins = [clicked] + [r for r in result["runs"] if clicked and r is not clicked and r["role"] == "grid"
                             and (r["family"], r["sparsity"]) == (clicked["family"], clicked["sparsity"])]
        entry = next((e for r in twins if r and (e := catalog.by_run(r["run"], entries))), None)
        if entry is None:
            st.info(f"{key.split(':', 1)[1]} is not on this machine: the benchmark's command trains it.")
        else:
            sidebar.open_model(entry.key)

# -- the table ---------------------------------------------------------------------------------
st.subheader("Every number")
shown = [k for k in metrics if any(k in r for r in bv.rows)]
table = {"family": [r["short"] for r in bv.rows], "sparsity": [f"{r['symbol']} {r['sparsity']:g}" for r in bv.rows],
         "units": [r["hidden"] for r in bv.rows], "seeds": [r["seeds"] for r in bv.rows]}
for k in shown:
    table[metrics[k]["label"]] = [None if r.get(k) is None else round(r[k], 4) for r in bv.rows]
pairs = {(p["family"], p["sparsity"]): p for p in result["pairs"]}
seed_label = result["pair_metrics"]["mcc"]["label"]
table[seed_label] = [round(pairs[(r["family"], r["sparsity"])]["mcc"], 3) if (r["family"], r["sparsity"]) in pairs
                     else None for r in bv.rows]
config = {metrics[k]["label"]: st.column_config.NumberColumn(help=f"{metrics[k]['meaning']}: {metrics[k]['better']}")
          for k in shown}
config[seed_label] = st.column_config.NumberColumn(help=f"{result['pair_metrics']['mcc']['meaning']}: "
                                                        f"{result['pair_metrics']['mcc']['better']}")
st.dataframe(table, hide_index=True, width="stretch", column_config=config)
st.caption("Means over seeds. Hover a column's name for what it measures and which way is better: "
           + "; ".join(f"**{metrics[k]['label']}** {metrics[k]['better']}" for k in shown) + ".")
download_csv(st, "Every run (CSV)", csv_text({k: [r.get(k) for r in result["runs"]] for k in
                                              ["family", "sparsity", "seed", "hidden", "role", "run", "state", *shown]}),
             f"benchmark-{Path(folder).name}.csv", key="bm-csv")
if bv.claims:
    st.markdown("**Published claims, checked here**")
    st.dataframe({"claim": [c["claim"] for c in bv.claims], "source": [c["source"] for c in bv.claims],
                  "holds": ["—" if c["holds"] is None else "yes" if c["holds"] else "no" for c in bv.claims],
                  "ours": [c["ours"] for c in bv.claims]}, hide_index=True, width="stretch")
left_out = [r for r in result["runs"] if r["state"] != "done"]
if left_out:
    st.warning("Left out (not finished): " + "; ".join(f"{r['run']} ({r['state']})" for r in left_out))


def decoders(run: str) -> np.ndarray | None:
    return bv.saved.decoders.get(run)


def pictures(vectors: np.ndarray, captions: list[str]) -> None:
    st.image(figures.tiles(vectors, shape=bv.shape, zoom=2), caption=captions)


# -- feature splitting -----------------------------------------------------------------------------
splits = {s["family"]: s for s in result["splitting"]}
st.subheader("Feature splitting across dictionary sizes")
if not splits:
    st.info("This benchmark trained no chain of dictionary sizes (`--sizes`).")
else:
    names = list(splits)
    fam = url.take("family", url.choice(splits, "has no chain of sizes here"), "family", names[0])
    if fam:
        st.session_state["bm-family"] = fam
    if st.session_state.get("bm-family") not in splits:
        st.session_state["bm-family"] = names[0]
    name = st.selectbox("Family", names, format_func=lambda n: get(n).short, key="bm-family")
    s = splits[name]
    url.share(family=name)
    st.caption(f"Dictionaries of {' → '.join(map(str, s['sizes']))} units (sparsity {s['sparsity']:g}, seed "
               f"{s['seed']}). Each unit of a larger dictionary hangs under the unit of the next smaller one whose "
               f"decoder is closest (cosine). A parent with two or more children at cosine ≥ {SPLIT_COSINE} split "
               "its feature; neither more nor fewer splits is better, it is what more units do with a feature.")
    level = s["levels"][0]
    parent = np.asarray(level["parent"])
    cos = np.asarray(level["cosine"])
    counts = np.bincount(parent[cos >= SPLIT_COSINE], minlength=s["sizes"][0])
    order = np.argsort(-counts, kind="stable")
    ev = chart(st, figures.bars([str(u) for u in order], counts[order].tolist(),
                                f"Children of each of the {s['sizes'][0]} units at {s['sizes'][1]} units",
                                f"unit of the {s['sizes'][0]}-unit dictionary (most children first)",
                                f"children (cosine ≥ {SPLIT_COSINE})", in_order=True),
               key="bm-children", on_select="rerun", selection_mode="points",
               caption="Click a bar to see that unit's children. "
                       + ", ".join(f"{lv['split_share']:.0%} of the {n}-unit dictionary split at {lv['size']}"
                                   for n, lv in zip(s["sizes"], s["levels"])) + ".")
    picked = [int(p["x"]) for p in (ev or {}).get("selection", {}).get("points", []) if str(p.get("x", "")).isdigit()]
    linked_unit = url.take("parent", url.integer(0, s["sizes"][0] - 1), "unit", "the unit with most children")
    if picked or linked_unit is not None:
        st.session_state["bm-parent"] = picked[0] if picked else linked_unit
    if not 0 <= int(st.session_state.get("bm-parent", -1)) < s["sizes"][0]:
        st.session_state["bm-parent"] = int(order[0])
    unit = st.number_input(f"Unit of the {s['sizes'][0]}-unit dictionary", 0, s["sizes"][0] - 1, key="bm-parent")
    url.share(parent=unit)
    small = decoders(s["runs"][0])
    if small is None:
        st.info("This benchmark folder holds no decoders (decoders.npz): only the numbers.")
    else:
        pictures(small[[unit]], [f"unit {unit} ({s['sizes'][0]} units)"])
        frontier_units = [unit]
        for depth, (lv, run) in enumerate(zip(s["levels"], s["runs"][1:])):
            par, c = np.asarray(lv["parent"]), np.asarray(lv["cosine"])
            kids = np.flatnonzero(np.isin(par, frontier_units))
            kids = kids[np.argsort(-c[kids], kind="stable")][:CHILDREN_SHOWN]
            dec = decoders(run)
            if not len(kids) or dec is None:
                break
            st.markdown(f"**At {lv['size']} units**: {len(kids)} unit{'s' if len(kids) > 1 else ''} under "
                        f"{'it' if depth == 0 else 'those'}")
            pictures(dec[kids], [f"unit {k} · cos {c[k]:.2f}" for k in kids])
            frontier_units = kids.tolist()

# -- consistency across seeds ----------------------------------------------------------------------
st.subheader("Do two seeds find the same features?")
if not result["pairs"]:
    st.info("This benchmark trained one seed: there is nothing to match.")
else:
    options = list(range(len(result["pairs"])))
    def describe(i: int) -> str:
        f = get(result["pairs"][i]["family"])
        return f"{f.short}, {f.sparsity_label(result['pairs'][i]['sparsity'])}"

    shows = [k for k in options if all(decoders(r) is not None for r in result["pairs"][k]["runs"])]
    if st.session_state.get("bm-pair") not in options:  # first open, or another benchmark: one with its filters
        st.session_state["bm-pair"] = shows[0] if shows else 0
    i = st.selectbox("Family and sparsity", options, key="bm-pair", format_func=describe)
    p = result["pairs"][i]
    cosine = np.asarray(p["cosine"])
    partner = np.asarray(p["partner"])
    m = st.columns(3)
    m[0].metric("Matched cosine (pairwise MCC)", f"{p['mcc']:.3f}", help=result["pair_metrics"]["mcc"]["meaning"]
                + "; " + result["pair_metrics"]["mcc"]["better"])
    m[1].metric(f"Units with a partner at ≥ {SAME}", f"{p['shared']:.0%}", help=result["pair_metrics"]["shared"]
                ["meaning"] + "; " + result["pair_metrics"]["shared"]["better"])
    m[2].metric("Units", len(cosine))
    left, right = st.columns([1, 2])
    chart(left, figures.histogram(cosine, "Each unit's partner in the other seed", "cosine", bins=20,
                                  range_=(-1.0, 1.0), ytitle="units"), key="bm-pair-hist",
          caption=f"Seed {p['seeds'][0]}'s units paired one to one with seed {p['seeds'][1]}'s (Hungarian).")
    with right:
        which = st.radio("Pairs", ["most alike", "least alike"], horizontal=True, key="bm-pair-which")
        order = np.argsort(-cosine if which == "most alike" else cosine, kind="stable")[:PAIRS_SHOWN]
        a, b = decoders(p["runs"][0]), decoders(p["runs"][1])
        if a is None or b is None:
            with_filters = [describe(k) for k, q in enumerate(result["pairs"]) if all(decoders(r) is not None
                                                                                     for r in q["runs"])]
            st.info("This benchmark folder does not keep these two runs' decoders (a compact copy keeps those at each "
                    "family's middle sparsity" + (f": {', '.join(with_filters)}" if with_filters else "") + ").")
        else:
            pictures(a[order], [f"seed {p['seeds'][0]} · unit {u}" for u in order])
            pictures(b[partner[order]], [f"seed {p['seeds'][1]} · {partner[u]} · cos {cosine[u]:.2f}" for u in order])
