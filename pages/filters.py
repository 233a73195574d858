"""Filters: every unit's encoder row and decoder column as an image (or a bar strip for vectors), S − I and C as
heatmaps, filtered and sorted by kind and angle; for images, a Gabor fitted to each decoder; a filmstrip of the
filters forming over training."""
import numpy as np
import streamlit as st

from models.analysis.gabor import GOOD
from models.kinds import CATEGORICAL_MIN, KINDS, PART_MAX, angles, unit_order
from ui import background, figures, stepper
from ui.compute import figure, filmstrip_for, filmstrip_panels_for, gabor_task
from ui.export import chart, named
from ui.state import require

FILM_UNITS = 100  # units per filmstrip frame
PAGE_UNITS = 400  # units drawn at once (a wide dictionary is turned page by page)
GABOR_AT_ONCE = 256  # pixels a filter may have for its Gabor fit to run on opening the page (larger: on a button)

sel = require(__file__)
CLIP = 99  # percentile of |weight| the colours of S − I and C span: a few large weights blanked the rest

st.title("Filters")
view = sel.view()
samples = sel.samples()
shape = samples.shape
w, units = view.weights, view.units
kind, angle = view.kinds, units.angle  # kind: None where kinds mean nothing (the angle is then a plain number)
tied = float(np.abs(angle).max()) < 1e-3  # an encoder tied to its decoder (ISTA's Dᵀ): every angle 0, never shown

c1, c2, c3 = st.columns([2, 2, 1])
kinds = c1.multiselect("Unit kinds", list(KINDS), default=list(KINDS), key="flt-kinds") if kind is not None else None
lo, hi = (0.0, float(np.pi)) if tied else \
    c2.slider("Encoder–decoder angle (rad)", 0.0, float(np.pi), (0.0, float(np.pi)), 0.01, key="flt-angle")
orders = ({"kind, then angle": unit_order(kind, angle)} if kind is not None else {}) | \
    ({} if tied else {"angle": np.argsort(-angle)}) | {"unit number": np.arange(len(angle))}
if st.session_state.get("flt-sort") not in orders:  # another model's choice (a kind order where kinds mean nothing)
    st.session_state.pop("flt-sort", None)
if units.c_norm is not None:
    orders["‖C_i‖"] = np.argsort(-units.c_norm)
order_by = c3.radio("Sort by", list(orders), key="flt-sort")

order = orders[order_by]
matching = order[(np.isin(kind[order], kinds) if kind is not None else True) & (angle[order] >= lo) &
                 (angle[order] <= hi)]
if len(matching) == 0:
    st.warning("No unit matches these filters.")
    st.stop()
pages = -(-len(matching) // PAGE_UNITS)
page = 1
if pages > 1:
    if st.session_state.get("flt-page", 1) > pages:  # fewer units match than on the page it was at
        st.session_state["flt-page"] = 1
    page = st.number_input(f"Page of {PAGE_UNITS} units (1 – {pages})", 1, pages, key="flt-page")
shown = matching[(page - 1) * PAGE_UNITS:page * PAGE_UNITS]
st.caption(f"{len(matching):,} of {len(angle):,} units match"
           + (f"; units {(page - 1) * PAGE_UNITS + 1:,}–{(page - 1) * PAGE_UNITS + len(shown):,} of them shown"
              if pages > 1 else "")
           + (f". Part units: angle < {PART_MAX} rad; categorical: > {CATEGORICAL_MIN} rad." if kind is not None else
              "."))

favours = (lambda i: f" · class {units.c_class[i]}") if units.c_class is not None else (lambda i: "")
labels = [f"unit {i}" + (f" · {kind[i]}" if kind is not None else "") + ("" if tied else f" · angle {angle[i]:.2f}")
          + favours(i) for i in shown]
cols = int(min(20, max(5, np.ceil(np.sqrt(len(shown))))))
left, right = st.columns(2)
chart(left, figure("filter_grid", w.encoder[shown], labels, cols, "Encoder rows E_i", shape=shape), key="flt-E")
chart(right, figure("filter_grid", w.decoder[shown], labels, cols, "Decoder columns D_i", shape=shape), key="flt-D")
drawn = (f"a {shape[0]} × {shape[1]} image" if shape else
         f"a strip of bars, one per value (up: positive, down: negative; at most {figures.STRIP} bars, longer vectors "
         "pooled)")
st.caption(f"Each tile a unit's {w.decoder.shape[1]} weights as {drawn} (red positive, blue negative, each on its own "
           "scale): left what the unit looks for in the input, right what it adds to the reconstruction."
           + (" A part unit's two match (a small angle); a categorical unit's encoder drifts away from its decoder."
              if kind is not None else " The encoder is the decoder transposed: the two grids are the same."
              if tied else ""))

left, right = st.columns([3, 2])
if w.recurrent is not None:
    S = w.recurrent[np.ix_(shown, shown)]
    identity = np.eye(len(shown)) if st.session_state.get("flt-sub-i", True) else 0.0
    chart(left, figure("heatmap", S - identity,
                                title="Recurrent weights S − I (rows: to, columns: from; in the order above)",
                                hover="to %{y}, from %{x}: %{z:.3f}<extra></extra>", height=520,
                                x=[str(i) for i in shown], y=[str(i) for i in shown], clip=CLIP), key="flt-S",
          caption=f"Red: unit 'from' excites unit 'to' at the next step; blue: inhibits it. The colours span the "
                  f"{CLIP}th percentile of |S − I| (larger weights saturate); drag a box on the map to zoom into a "
                  "block of units.")
    left.checkbox("Subtract the identity (sparse coding's S is I − a DᵀD)", value=True, key="flt-sub-i")
if w.classifier is not None:
    chart(right, figure("heatmap", w.classifier[:, shown], x=[str(i) for i in shown],
                                 y=[str(k) for k in range(len(w.classifier))],
                                 title="Classifier C (rows: classes)", ytitle="class", height=520,
                                 hover="class %{y}, unit %{x}: %{z:.3f}<extra></extra>", clip=CLIP), key="flt-C",
          caption=f"How much each unit's activity votes for each class (red for, blue against); the colours span the "
                  f"{CLIP}th percentile of |C|, so the many small votes show beside the few large ones.")

# -- Gabors (samples that are images) ---------------------------------------------------------------------
if sel.caps.image:
    st.subheader("Are the filters Gabors?")
    st.caption("Sparse coding of natural image patches gives localized, oriented, band-pass filters (Olshausen & "
               "Field, 1996): a 2-D Gabor, a sinusoid under a Gaussian envelope, fitted to each decoder column by "
               f"least squares. R² is the share of the filter's variance the Gabor explains (higher: more Gabor-like; "
               f"a unit counts as fitted well at R² ≥ {GOOD}).")
    fit_now = shape[0] * shape[1] <= GABOR_AT_ONCE or st.session_state.get("flt-gabor") == sel.model_key
    if not fit_now and st.button(f"Fit a Gabor to each of the {view.hidden} decoders", key="flt-gabor-go"):
        st.session_state["flt-gabor"] = sel.model_key
        fit_now = True
    g = background.shown(gabor_task(*sel.key)) if fit_now else None  # a bar until the worker has fitted them
    if g is not None:
        good = g.good
        m = st.columns(4)
        m[0].metric(f"Fitted well (R² ≥ {GOOD})", f"{100 * g.share_good():.0f} %", help="higher is more Gabor-like")
        m[1].metric("Median R²", f"{np.median(g.r2):.2f}")
        if good.any():
            m[2].metric("Median frequency", f"{np.median(g.column('frequency')):.3f} c/px",
                        help="cycles per pixel of the carrier, among the units fitted well")
            m[3].metric("Median envelope size", f"{np.median(g.column('size')):.2f} px",
                        help="√(σx σy) of the Gaussian envelope, among the units fitted well")
        c = st.columns(4)
        chart(c[0], figures.histogram(g.r2, "R² of each unit's Gabor", "R²", bins=20), key="flt-gabor-r2",
              caption="Every unit: the share of its decoder's variance its Gabor explains.")
        if good.any():
            chart(c[1], figures.histogram(np.degrees(g.column("theta")), "Orientation (units fitted well)",
                                          "degrees (the carrier's direction)", bins=12, range_=(0, 180)),
                  key="flt-gabor-theta", caption="A population of oriented filters covers every orientation.")
            chart(c[2], figures.histogram(g.column("frequency"), "Spatial frequency", "cycles per pixel", bins=15),
                  key="flt-gabor-f", caption="Band-pass filters: a frequency each, most between the finest and the "
                                             "coarsest the patch allows.")
            chart(c[3], figures.histogram(g.column("size"), "Envelope size", "pixels", bins=15), key="flt-gabor-size",
                  caption="√(σx σy): how far the filter reaches around its centre (localized: a few pixels).")
            best = g.units[np.argsort(-g.r2)[:12]]
            st.image(figures.tiles(w.decoder[best], shape=shape, zoom=2) + figures.tiles(
                [figures.gabor_picture(g.fits[int(np.flatnonzero(g.units == u)[0])], shape) for u in best],
                shape=shape, zoom=2), caption=[f"unit {u}" for u in best] + [f"its Gabor, R² {g.fits[i].r2:.2f}"
                                                                             for i in np.argsort(-g.r2)[:12]])
            st.caption("Top: the 12 decoders fitted best; bottom: their Gabors.")

# -- how the filters formed -------------------------------------------------------------------------
st.subheader("How the filters formed")
film = filmstrip_for(*sel.model_key)
if film.error:
    st.warning(film.error)
elif film.strip is None:
    st.info("This model's run kept no filter snapshots (runs trained before they were kept): train a run to see its "
            "filters form.")
else:
    strip = film.strip
    kept = set(strip.units.tolist())
    have = np.array([u for u in shown if u in kept], dtype=int)[:FILM_UNITS]
    if len(have) == 0:
        st.info(f"None of the units shown is in the snapshots, which keep {len(kept)} of {len(angle)} units.")
    else:
        epochs = strip.epochs.tolist()
        pos = np.searchsorted(strip.units, have)
        cols = int(min(20, max(5, np.ceil(np.sqrt(len(have))))))
        when = ["at the start" if e == 0 else f"after epoch {e}" for e in epochs]
        if "flt-frame" not in st.session_state or st.session_state.get("flt-frames") != epochs:  # another run
            st.session_state.update({"flt-frame": len(epochs), "flt-frames": epochs})
        panels = filmstrip_panels_for(*sel.model_key, tuple(int(u) for u in have), cols, shape, tuple(when))
        f = stepper.stepper(panels, len(epochs), "flt-frame", name=named("filmstrip"),
                            label="After epoch", widths=[1, 1], steps_named=["start" if e == 0 else f"epoch {e}"
                                                                             for e in epochs]) - 1
        then = angles(strip.encoder[f][pos], strip.decoder[f][pos])
        if not tied:
            st.caption(f"{when[f].capitalize()} (where the slider was let go), units in the order shown above: "
                       + ", ".join(f"{u} ({a:.2f} → {angle[u]:.2f} rad)" for u, a in zip(have[:12], then[:12]))
                       + (" …" if len(have) > 12 else "") + " (angle then → now).")
        st.caption(f"The run's snapshots at {len(epochs)} epochs (more early on, where the filters change most), for "
                   f"the first {len(have)} of the units shown above"
                   + (f" (the snapshots keep {len(kept)} of {len(angle)} units)" if len(kept) < len(angle) else "")
                   + (". Press play: the encoders of categorical units drift away from their decoders."
                      if kind is not None else ". Press play: the filters forming."))
