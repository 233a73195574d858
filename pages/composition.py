"""Composition: how local each kind of unit's filters are (support, and for images the radius of gyration); which
part units excite each categorical unit through S (a graph: click a unit to see its parts); when each unit took its
kind during training; what "categorical" means at each λ."""
import numpy as np
import streamlit as st

from models.analysis import composition as comp
from models.kinds import KINDS
from models.analysis.prototypes import SELECTIVE, judgement
from models.analysis.staging import SETTLE
from models.services import catalog
from ui import figures
from ui.compute import composition_for, figure, meaning_for, staging_for
from ui.export import chart, csv_text, download_csv
from ui.state import require

sel = require(__file__)
st.title("Composition")
st.caption("Compositional sparsity says a learnable target is built from few constituents, each reading a small part "
           "of the input, found stage by stage. Here: are part units local and categorical units global, which parts "
           "build each categorical unit, and did the parts form first?")
view = sel.view()
samples = sel.samples()
w, units = view.weights, view.units
kind = units.kind
c = composition_for(*sel.key)
images = c.decoder_radius is not None  # a radius in pixels needs images

# -- 1. how local -------------------------------------------------------------------------------
st.header("How local is each kind of unit?")
by = c.by_kind()
measures = ({"support": "support (pixels)", "radius": "radius, w² as mass (pixels)",
             "radius_abs": "radius, |w| as mass (pixels)"} if images else {"support": "support (values)"})
table = {"kind": list(by), "units": [v["units"] for v in by.values()],
         **{f"{words} {part}": [round(v[f"{part}_{name}"], 1) for v in by.values()]
            for name, words in measures.items() for part in ("encoder", "decoder")}}
st.dataframe(table, hide_index=True)
if "part" in by and "categorical" in by and images:
    p, q = by["part"], by["categorical"]
    local = p["decoder_radius"] < 0.8 * q["decoder_radius"] and p["decoder_support"] < 0.8 * q["decoder_support"]
    st.markdown(f"Part units' decoders: median radius {p['decoder_radius']:.1f} pixels over {p['decoder_support']:.0f} "
                f"pixels of support; categorical units': {q['decoder_radius']:.1f} over {q['decoder_support']:.0f}: "
                f"{p['decoder_radius'] / q['decoder_radius']:.2f} × the radius with squared weights as mass, "
                f"{p['decoder_radius_abs'] / q['decoder_radius_abs']:.2f} × with absolute weights (which count faint "
                "pixels more). "
                + ("Here the part units are the more local ones." if local else
                   "By these measures the part units here are not more local than the categorical ones (less than "
                   f"20 % apart): both write whole-{samples.noun}-sized patterns."))
st.caption(f"Medians per kind. Support: the fewest values holding {comp.ENERGY:.0%} of a filter's squared weight."
           + (f" Radius of gyration: how far that weight (w², or |w|) spreads around its centre of mass (a stroke: a "
              f"few pixels; a whole {samples.noun}: about a quarter of its side)." if images else ""))
left, right = st.columns(2)
if images:
    chart(left, figure("kind_histogram", c.decoder_radius, kind, "Decoder radius of gyration", "pixels"),
          key="cmp-dec-radius", caption="What each unit writes into the reconstruction, by kind: local strokes to the "
                                        "left.")
    chart(right, figure("kind_histogram", c.encoder_radius, kind, "Encoder radius of gyration", "pixels"),
          key="cmp-enc-radius", caption="What each unit reads from the input, by kind.")
else:
    chart(left, figure("kind_histogram", c.decoder_support.astype(float), kind, "Decoder support", "values"),
          key="cmp-dec-radius", caption=f"How many values of a {samples.noun} hold 90 % of what each unit writes.")
    chart(right, figure("kind_histogram", c.encoder_support.astype(float), kind, "Encoder support", "values"),
          key="cmp-enc-radius", caption="How many values hold 90 % of what each unit reads.")

# -- 2. the composition graph -------------------------------------------------------------------
if c.graph is not None:
    st.header("Categorical units built from part units")
    if not c.graph or not c.in_degrees().any():  # no categorical unit, or none that any part unit excites
        st.info(f"Nothing is composed here: this model has {int((kind == 'categorical').sum())} categorical and "
                f"{int((kind == 'part').sum())} part units, and no part unit excites a categorical one through S.")
    else:
        deg = c.in_degrees()
        favoured = units.c_class
        cats = [p.unit for p in c.graph]
        # a click on the graph (its selection, read before the graph and the picker are drawn); a new click wins,
        # and a later choice in the picker wins over an old click
        points = (st.session_state.get("cmp-graph") or {}).get("selection", {}).get("points", [])
        picked = [int(p["customdata"]) for p in points if isinstance(p.get("customdata"), int | float)]
        if picked and picked[0] in cats and picked[0] != st.session_state.get("cmp-clicked"):
            st.session_state["cmp-clicked"] = st.session_state["cmp-unit"] = picked[0]
        if st.session_state.get("cmp-unit") not in cats:  # another model's unit, or none yet
            st.session_state["cmp-unit"] = cats[int(np.argmax(deg))]
        left, right = st.columns([3, 2])
        chart(left, figure("composition_graph", c.graph, np.flatnonzero(kind == "part"), favoured,
                           st.session_state["cmp-unit"]), key="cmp-graph", on_select="rerun",
                      selection_mode="points",
                      caption="Each categorical unit i (right) and the part units j (left) that excite it through "
                              f"S_ij > 0, only the strongest links that carry {comp.ENERGY:.0%} of its positive part "
                              "input. Click a categorical unit to see its parts.")
        counts = np.bincount(deg)
        chart(right, figures.bars(np.arange(len(counts)), counts, "In-degree of the categorical units",
                                  f"part units carrying {comp.ENERGY:.0%} of the input", "categorical units",
                                  color=figures.KIND_COLORS["categorical"]), key="cmp-degree",
              caption=f"Median {np.median(deg):.0f} parts, from {deg.min()} to {deg.max()}; "
                      f"{int((deg == 0).sum())} categorical units get no excitation from part units.")
        u = st.selectbox("Categorical unit", cats, key="cmp-unit",
                         format_func=lambda i: f"unit {i}" + ("" if favoured is None else f" → class {favoured[i]}"))
        p = c.parts_of(u)
        if p.in_degree == 0:
            st.info(f"No part unit excites unit {u} through S.")
        else:
            shown = p.carried[:24]
            st.markdown(f"**Unit {u}** (its decoder first) and the {p.in_degree} part units carrying "
                        f"{comp.ENERGY:.0%} of its part input, strongest first"
                        + (" (the first 24)" if p.in_degree > 24 else "") + ".")
            st.image(figures.tiles(np.concatenate([w.decoder[[u]], w.decoder[shown]]), zoom=2, shape=samples.shape),
                     caption=[f"unit {u}"] + [f"{j}: S {s:+.3f}" for j, s in zip(shown, p.weights)])
        download_csv(st, "Every categorical unit's parts (CSV)", csv_text({
            "categorical unit": [q.unit for q in c.graph], "in-degree": deg.tolist(),
            "parts (strongest first)": [" ".join(map(str, q.carried)) for q in c.graph],
            "weights": [" ".join(f"{s:.4f}" for s in q.weights[:q.in_degree]) for q in c.graph]}),
            "composition.csv", key="cmp-csv")

# -- 3. staged learning ---------------------------------------------------------------------------
st.header("When did each unit take its kind?")
stg = staging_for(*sel.model_key)
if stg is None:
    st.info("This model's run did not record its units' angles every epoch (runs trained before they were kept): "
            "train a run to see when its units took their kinds.")
else:
    st.markdown(stg.answer())
    left, right = st.columns(2)
    chart(left, figures.lines(stg.epochs, stg.share_crossed(), "Units in their final kind, by epoch", "epoch",
                              "share of the kind's units", colors=figures.KIND_COLORS), key="cmp-crossed",
          caption="For each final kind, the share of its units whose kind no longer changes after that epoch.")
    chart(right, figure("unit_scatter", stg.settled.astype(float), stg.angles[-1], stg.kind,
                        f"epoch the angle settled (within {SETTLE} rad)", "final angle (rad)",
                        "When each unit settled, and where", angle_lines=False), key="cmp-settled",
          caption="A point per unit: categorical units (red, large angles) against part units (blue).")

# -- 4. kinds across λ --------------------------------------------------------------------------
others = catalog.members(sel.entry.group, catalog.entries())
by_lambda = {}
for e in others:
    if e.sparsity is not None:
        by_lambda.setdefault(e.sparsity, e)  # the first of each λ: the embedded one, else the newest run
if len(by_lambda) >= 2 and w.classifier is not None:
    st.header("Kinds across λ")
    lams = sorted(by_lambda)
    meanings = [meaning_for(str(by_lambda[v].path), by_lambda[v].version(), by_lambda[v].data.key) for v in lams]
    names = [f"λ {v:g}" for v in lams]
    left, right = st.columns(2)
    chart(left, figures.bars(names, None, "Units of each kind", "sparsity λ", "units",
                             series={k: [m.counts[k] for m in meanings] for k in KINDS},
                             colors=figures.KIND_COLORS), key="cmp-lambda-kinds",
          caption="The same angle thresholds at every λ.")
    chart(right, figures.bars(names, None, "Share of each kind's units that are class prototypes", "sparsity λ",
                              "share", series={k: [m.share(k) for m in meanings] for k in KINDS},
                              colors=figures.KIND_COLORS),
          key="cmp-lambda-proto",
          caption=f"A prototype answers one class (selectivity ≥ {SELECTIVE}) and its classifier weights favour that "
                  "class.")
    st.markdown(judgement(meanings))
