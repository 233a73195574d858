"""Units: each unit's recurrent and classifier weight norms against its encoder–decoder angle (a model without kinds:
each unit's density against its class selectivity), chosen units side by side, the paper's population figures where
kinds mean something, and what ablating each kind, the chosen units, or every unit alone costs."""
import numpy as np
import streamlit as st

from models.analysis.intervene import kind_sets
from models.kinds import CATEGORICAL_MIN
from ui import background, figures, url
from ui.compute import figure, set_ablations_for, step_decoders_task, unit_ablations_task, unit_notes, unit_runs_for
from ui.export import chart, csv_text, download_csv
from ui.intervene import intervention_controls
from ui.state import clicked, keep, require, with_picked
from ui.text import plain

sel = require(__file__)
view, T = sel.view(), sel.unroll
w, units = view.weights, view.units
kind, angle = view.kinds, units.angle  # kind: None where kinds mean nothing (then no kind words on the page)
st.title("Units: categorical and part" if kind is not None else "Units")
samples = sel.samples()
shape, noun, nouns = samples.shape, samples.noun, samples.nouns
codes = sel.codes()
index = sel.unit_index() if kind is None else None  # density and selectivity: what does apply without kinds
# the per-unit activity analysis: what a recurrence does step by step (a model without steps has nothing for it)
an = sel.analysis() if sel.caps.steps else None
favoured = (units.c_class if units.c_class is not None else an.activity.preferred_class if an is not None else
            None if codes.per_class is None else codes.per_class.argmax(0))  # the class each unit answers

first_two = "the two most categorical units" if kind is not None else "the two most selective units"
linked = url.take("units", url.integers(0, view.hidden - 1, 8), "units", first_two)
if linked is not None:
    st.session_state["u-sel"] = linked
linked_digit = url.take("digit", url.integer(0, len(samples.split) - 1), noun, f"{noun} 0")
if linked_digit is not None:
    st.session_state["u-digit"] = linked_digit
# A selection carried over from a larger model names units this one lacks: keep those it has.
kept = [u for u in st.session_state.get("u-sel", []) if 0 <= u < view.hidden]
if not kept:
    rank = (angle if kind is not None else index.selectivity if index.selectivity is not None else index.density)
    kept = [int(i) for i in np.argsort(-rank, kind="stable")[:2]]
if kept != st.session_state.get("u-sel"):
    st.session_state["u-sel"] = kept

scatters = [(angle, units.s_minus_i_norm, "angle(E_i, D_i) (rad)", "‖(S − I)_i‖",
             "Recurrent weight norm against angle", "u-scatter-s"),
            (angle, units.c_norm, "angle(E_i, D_i) (rad)", "‖C_i‖", "Classifier weight norm against angle",
             "u-scatter-c")]
if kind is None:  # no kinds to sort the units by: how often each fires, and how selectively
    with np.errstate(divide="ignore"):
        log_density = np.where(index.density > 0, np.log10(np.maximum(index.density, 1e-12)), np.nan)
    scatters = [(log_density, index.selectivity if index.selectivity is not None else angle,
                 f"log₁₀ density (share of {nouns} it fires on)",
                 "class selectivity" if index.selectivity is not None else "angle(E_i, D_i) (rad)",
                 "Density against " + ("class selectivity" if index.selectivity is not None else "angle"),
                 "u-scatter-s")]
scatters = [s for s in scatters if s[1] is not None]
MOST = 8  # units compared at once
events = []
for col, (x, y, xtitle, ytitle, title, key) in zip(st.columns(max(len(scatters), 1)), scatters):
    events.append((key, chart(col, figure("unit_scatter", x, y, kind, xtitle, ytitle, title,
                                          st.session_state["u-sel"]),
                              key=key, on_select="rerun", selection_mode=("points", "box", "lasso"),
                              caption=None if key != "u-scatter-s" else
                              ("A point per unit. The angle between its encoder row and decoder column sorts it: part "
                               "units (blue, small angle) copy strokes; categorical units (red, large angle) have large "
                               "recurrent and classifier weights. " if kind is not None else
                               f"A point per unit that fires (its density: the share of the test {nouns} it fires on). ")
                              + "Click or box-select points to compare them below; with 'Clicks add' on, each click "
                                "adds its unit.")))
events.append(("u-rank-scatter", st.session_state.get("u-rank-scatter")))  # drawn further down: read here
adding = st.toggle("Clicks add", key="u-click-adds", help="On: a click or box adds its units to those chosen. "
                   "Off: it replaces them.")
for key, ev in events:
    picked = clicked(key, ev)
    if picked:
        now = st.session_state["u-sel"]
        chosen, left = with_picked(now, picked, adding, MOST)
        if left:
            st.session_state["u-note"] = f"At most {MOST} units at once: {', '.join(map(str, left))} left out " \
                                         "(remove some first)."
        if chosen != now:
            st.session_state["u-sel"] = chosen
            st.rerun()



def _add_typed() -> None:
    """The typed numbers, each exactly that unit (a multiselect's search would take 5, 50, 51… for "5")."""
    typed, st.session_state["u-add"] = st.session_state.get("u-add", ""), ""
    try:
        wanted = [int(t) for t in typed.replace(",", " ").split()]
    except ValueError:
        st.session_state["u-note"] = f"“{typed}” is not a list of unit numbers."
        return
    bad = [u for u in wanted if not 0 <= u < view.hidden]
    new = [u for u in wanted if u not in bad and u not in st.session_state["u-sel"]]
    room = MOST - len(st.session_state["u-sel"])
    st.session_state["u-sel"] = st.session_state["u-sel"] + new[:max(room, 0)]
    notes = ([f"no unit {', '.join(map(str, bad))} (units 0 – {view.hidden - 1})"] if bad else []) + \
            ([f"at most {MOST} units at once: {', '.join(map(str, new[room:]))} left out (remove some first)"]
             if len(new) > room else [])
    st.session_state["u-note"] = "; ".join(notes).capitalize() + "." if notes else ""


c_sel, c_add = st.columns([4, 1], vertical_alignment="bottom")
chosen = c_sel.multiselect(f"Units to compare (click or box-select points above; at most {MOST})",
                           list(range(view.hidden)), key="u-sel", max_selections=MOST)
c_add.text_input("Add units by number", key="u-add", on_change=_add_typed, placeholder="e.g. 5, 137",
                 help="Each number is exactly that unit")
if st.session_state.get("u-note"):
    st.warning(st.session_state.pop("u-note"))
if not chosen:
    st.info("Select at least one unit.")
    st.stop()
c1, c2 = st.columns([1, 3])
labels = None if samples.split.y is None else samples.split.y.numpy()
# first, a sample of the class the first chosen unit answers: a unit shown on another class's sample stays at 0
first = (0 if labels is None or favoured is None else
         int(np.flatnonzero(labels == favoured[chosen[0]])[0]) if (labels == favoured[chosen[0]]).any() else 0)
keep("u-digit", first)
if st.session_state["u-digit"] >= len(samples.split):  # a larger test set's number
    st.session_state["u-digit"] = first
digit = c1.number_input(f"{noun.capitalize()} for the activity over steps", 0, len(samples.split) - 1, key="u-digit")
tr = sel.trace(samples.split.x[digit])
url.share(units=chosen, digit=digit or None)
with c2:
    url.link()
S = w.recurrent
unit_notes_here = unit_notes(sel.entry) or {}  # what the user noted of a unit (the Unit browser keeps them)
for col, u in zip(st.columns(len(chosen)), chosen):
    with col:
        line = (f"**Unit {u}** · {kind[u]}  \nangle {angle[u]:.2f} rad" if kind is not None else
                f"**Unit {u}**  \nangle {angle[u]:.2f} rad · density {index.density[u]:.1%}"
                + ("" if index.selectivity is None else f" · selectivity {index.selectivity[u]:.2f}"))
        if S is not None:
            line += f" · S_ii {units.s_self[u]:.2f}"
        if units.c_norm is not None:
            line += f" · ‖C_i‖ {units.c_norm[u]:.2f} → class {units.c_class[u]}"
        st.markdown(line)
        if unit_notes_here.get(u):
            st.caption(f"Your note: {plain(unit_notes_here[u], 300)}")
        st.image(figures.tiles([w.encoder[u], w.decoder[u]], shape=shape), caption=["encoder E_i", "decoder D_i"])
        if S is not None:
            incoming, outgoing = S[u].copy(), S[:, u].copy()
            incoming[u] = outgoing[u] = 0
            for name, weights in (("incoming", incoming), ("outgoing", outgoing)):
                strongest = np.argsort(-np.abs(weights))[:4]
                st.caption(f"Strongest {name} S (their decoders)")
                st.image(figures.tiles(w.decoder[strongest], zoom=2, shape=shape),
                         caption=[f"{j}: {weights[j]:+.2f}" for j in strongest])
        top = codes.z.top(u, 6)
        if len(top):
            st.caption(f"{nouns.capitalize()} that drive it most (z_T)")
            st.image(figures.tiles(samples.split.x[top].numpy(), signed=False, zoom=2, shape=shape),
                     caption=[f"{codes.z.value(i, u):.2f}" for i in top])
        else:
            st.caption(f"It fires on none of the test {nouns}.")

# One chart each for all chosen units (a chart per unit costs ten tabs a second a move: docs/results.md).
left, right = st.columns(2)
names = {u: f"unit {u}" + (f" ({kind[u]})" if kind is not None else "") for u in chosen}
if sel.caps.steps:
    chart(left, figures.lines(np.arange(1, T + 1), {names[u]: tr.z[:, u] for u in chosen},
                              f"Activity z_t on {noun} {digit}", "step t", "z_t", height=300), key="u-steps",
          caption=f"How each chosen unit answers the {noun} above as the steps go on.")
if codes.per_class is not None:
    chart(right, figures.bars(list(samples.classes), None, "Mean z_T per class", "class", "mean z_T", height=300,
                              every_x=True, series={names[u]: codes.per_class[:, u] for u in chosen}),
          key="u-class", caption=f"Each chosen unit's mean final activity on the test {nouns} of each class"
                                 + (": a categorical unit answers one class." if kind is not None else "."))

# -- the population: the paper's figures ---------------------------------------------------------
if an is not None or kind is not None:
    st.header("All units")
left, right = st.columns(2)
if an is not None:
    chart(left, figure("unit_scatter", angle, an.activity.p_late_start, kind, "angle(E_i, D_i) (rad)",
                       "P(z_1 = 0, z_2 > 0)", "Units that switch on only at step 2", st.session_state["u-sel"]),
          key="u-scatter-late", caption=f"The share of test {nouns} for which the unit is silent at step 1 and "
                                        "active at step 2: units the recurrence, not the input, switches on.")
if an is not None and an.s_blocks is not None and kind is not None:
    groups = ["categorical", "part"]
    chart(right, figures.heatmap(np.array([[an.s_blocks[(a, b)] for b in groups] for a in groups]),
                                 x=[f"from {g}" for g in groups], y=[f"to {g}" for g in groups],
                                 title="Mean S_ij between and within the kinds (i ≠ j)", height=380,
                                 hover="%{y} %{x}: %{z:.4f}<extra></extra>"), key="u-sblocks",
          caption="Positive: on average the kind excites the other; negative: it inhibits it.")
cats = np.flatnonzero(kind == "categorical") if kind is not None else np.zeros(0, dtype=int)
if kind is None:
    pass  # nothing is categorical where kinds mean nothing
elif len(cats) and samples.class_means is not None:
    k = len(samples.class_means)
    by_class = [cats[favoured[cats] == c] for c in range(k)]
    by_class = [b[np.argsort(-angle[b], kind="stable")] for b in by_class]  # the most categorical first
    depth = max(len(b) for b in by_class)
    blank = np.zeros(w.decoder.shape[1], dtype=w.decoder.dtype)
    column = [(b[r] if r < len(b) else None) for r in range(depth) for b in by_class]  # row by row, a class a column
    tiles = np.stack([*samples.class_means, *(blank if u is None else w.decoder[u] for u in column)])
    names = [f"mean of class {c}" for c in samples.classes] + [" " if u is None else f"unit {u} → class {favoured[u]}"
                                                              for u in column]
    chart(st, figure("filter_grid", tiles, names, cols=k, title="Class means (first row) and, under each, the decoders "
                     "of the categorical units that favour its class", shape=shape, exact_cols=True), key="u-protos",
          caption=f"All {len(cats)} categorical units, each in the column of the class it favours (its classifier "
                  "weights, else its largest mean activity), the most categorical first. If categorical units are "
                  "class prototypes, their decoders look like the class mean at the top of their column.")
elif len(cats):
    chart(st, figure("filter_grid", w.decoder[cats[:40]], [f"unit {u}" for u in cats[:40]], cols=10,
                     title="The decoders of the categorical units", shape=shape), key="u-protos",
          caption=f"These {nouns} carry no labels: no class means to set them beside.")
else:
    st.info(f"This model has no categorical unit (angle > {CATEGORICAL_MIN} rad).")
if sel.caps.steps and st.toggle("Per-step optimal decoders: for each step t, the decoder D^t that best "
                                f"reconstructs the test {nouns} from z_t (least squares; seconds, once a model)",
                                key="u-stepdec-on") \
        and (solved := background.shown(step_decoders_task(*sel.key))) is not None:  # a bar until they are solved
    dec = solved.decoders
    u0 = st.selectbox("Unit", chosen, key="u-dec-unit")
    Tt = dec.shape[0]
    chart(st, figure("filter_grid", dec[:, :, u0], [f"D^{s + 1} of unit {u0}" for s in range(Tt)],
                     cols=Tt, title=f"Optimal decoders of unit {u0} at steps 1..{Tt}", shape=shape), key="u-stepdec")

# -- interventions -------------------------------------------------------------------------------
st.header("Interventions")
Tn = sel.unroll
sets = (kind_sets(kind) if kind is not None else ()) + ((f"units {', '.join(map(str, chosen))}", tuple(chosen)),)
ab = set_ablations_for(*sel.key, Tn, sets)
rows = [("nothing", 0, ab.error, ab.recon)] + [(name, ab.set_units[name], ab.set_error[name], ab.set_recon[name])
                                                for name, _ in sets]
table = {"ablated (held at 0 from step 1)": [r[0] for r in rows], "units": [r[1] for r in rows]}
if ab.error is not None:
    table["test error (%)"] = [round(r[2], 2) for r in rows]
if ab.recon is not None:
    table["reconstruction ½‖x − x̂‖²"] = [round(r[3], 4) for r in rows]
st.dataframe(table, hide_index=True)
st.caption(f"On the {samples.name} at T = {Tn}: " + ("each kind of unit, then " if kind is not None else "")
           + "the units chosen above, held at 0 at every "
           "step. The model must then encode (and classify) without them.")

with st.expander(f"Hold units on {noun} {digit}: its classes and reconstruction, untouched and held"):
    keep("u-iv-target", "chosen units")
    iv = intervention_controls(view.hidden, kind, Tn, tr.z, "u-iv", default_units=chosen)
    if iv is None:
        st.info("Choose at least one unit to hold.")
    else:
        held = sel.intervened(samples.split.x[digit], iv)
        left, right = st.columns(2)
        if held.recon is not None:
            left.image(figures.tiles([tr.x, tr.recon[-1], held.recon[-1]], zoom=4, shape=shape),
                       caption=["input", f"x̂(z_{Tn}) untouched", f"x̂(z_{Tn}) held"])
        if held.probs is not None:
            chart(right, figures.bars(list(samples.classes), None, f"Class probabilities after step {Tn}",
                                      "class", "p", series={"untouched": tr.probs[-1], "held": held.probs[-1]}),
                  key="u-iv-probs", caption=f"{len(iv.units)} units held at {iv.value:g} from step {iv.from_step}.")

st.subheader("Which single units does the model depend on most?")
runs = unit_runs_for(*sel.key, Tn)
if not sel.ranked:
    st.caption(f"Ablates each unit alone on every test {noun} where it fires at some step ({runs:,} {noun} × unit "
               "runs of the recurrence; elsewhere its ablation changes nothing). Cached: later views are instant.")
    if st.button("Rank every unit by its ablation", key="u-rank-go"):
        sel.rank()
        st.rerun()
elif (ua := background.shown(unit_ablations_task(*sel.key, Tn))) is not None:  # a bar until the worker is done
    order = ua.ranked()
    if ua.error is not None:
        delta = ua.error - ab.error
        chart(st, figure("unit_scatter", angle, delta, kind, "angle(E_i, D_i) (rad)", "test error added (points)",
                         "What ablating each unit alone costs the classifier", st.session_state["u-sel"]),
              key="u-rank-scatter", on_select="rerun", selection_mode=("points", "box", "lasso"),
              caption=f"A point per unit, on the {samples.name} at T = {Tn}: the error with the unit held at 0 minus "
                      "the error without. Select points to compare those units above.")
    top = order[:20]

    def columns(which: np.ndarray, places: int) -> dict:
        """The ranking's columns for these units (`which`) (error and reconstruction where the model has them)."""
        out = {"unit": which.tolist(), **({"kind": kind[which].tolist()} if kind is not None else {}),
               f"fires on {nouns}": ua.active[which].tolist()}
        if ua.error is not None:
            out |= {"test error (%)": ua.error[which].round(places).tolist(),
                    "predictions changed": ua.flips[which].tolist()}
        if ua.recon is not None:
            out["reconstruction"] = ua.recon[which].round(places + 2).tolist()
        return out

    shown = columns(top, 2)
    if ua.error is not None:
        shown["added (points)"] = np.round(ua.error[top] - ab.error, 2).tolist()
    st.dataframe(shown, hide_index=True)
    full = columns(order, 3)
    download_csv(st, "Every unit's ablation (CSV)", csv_text(full), f"unit-ablations-T{Tn}.csv", key="u-rank-csv")
