"""Dynamics: one sample (by class, misclassified, by number, drawn or uploaded where the data takes samples of
the user's own) through the recurrent steps, with a step slider and Play; hold units at a value from a step on and
compare codes, reconstructions and classes."""
import numpy as np
import streamlit as st

from models.families import get
from models.kinds import unit_order
from models.services import catalog
from ui import figures, step_views, url
from ui.compute import trace_panels_for
from ui.export import chart, named
from ui.intervene import intervention_controls
from ui.own_sample import own_modes, own_sample
from ui.state import Selection, keep, require
from ui.stepper import stepper

sel = require(__file__)
st.title("Dynamics")
samples = sel.samples()
shape = samples.shape
view, caps = sel.view(), sel.caps
stats, units = view.stats, view.units
T = sel.unroll
noun = samples.noun


def pick(container, label: str, n: int, key: str) -> int:
    """An index among n samples (a slider needs at least two)."""
    if n == 1:
        return 0
    keep(key, 0)
    return container.slider(label, 0, n - 1, key=key)


# -- which sample ------------------------------------------------------------------------------
n = len(samples.split)
labelled = stats.labels is not None
linked = url.take("digit", url.integer(0, n - 1), noun, f"the first {noun}" + (" of its class" if labelled else ""))
if linked is not None and labelled:  # a link names a test sample: find it among its class
    cls = int(stats.labels[linked])
    st.session_state.update({"dyn-mode": "By class", "dyn-class": cls,
                             f"dyn-k-{cls}": int(np.searchsorted(np.flatnonzero(stats.labels == cls), linked))})
elif linked is not None:
    st.session_state.update({"dyn-mode": "By number", "dyn-k": linked})
modes = (["By class"] if labelled else ["By number"]) + (["Misclassified"] if caps.classifier else []) \
    + own_modes(samples.domain)
if st.session_state.get("dyn-mode") not in modes:  # another model's choice (a class for unlabelled data)
    st.session_state["dyn-mode"] = modes[0]
mode = st.radio(noun.capitalize(), modes, horizontal=True, key="dyn-mode")
x, caption, i = None, "", None
if mode == "By class":
    c1, c2 = st.columns([1, 3])
    keep("dyn-class", 0)
    cls = c1.selectbox("Class", list(range(len(samples.classes))), key="dyn-class",
                       format_func=lambda k: samples.classes[k])
    pool = np.flatnonzero(stats.labels == cls)
    if len(pool) == 0:
        st.info(f"No {noun} of class {samples.classes[cls]} in the {samples.name}.")
        st.stop()
    k = pick(c2, f"Which {samples.classes[cls]} ({len(pool)} in the {samples.name})", len(pool), f"dyn-k-{cls}")
    i = int(pool[k])
    x, caption = samples.split.x[i], f"test {noun} {i}, label {samples.classes[cls]}"
elif mode == "By number":
    i = pick(st, f"Test {noun} (0 – {n - 1})", n, "dyn-k")
    x, caption = samples.split.x[i], f"test {noun} {i}"
elif mode == "Misclassified":
    wrong = np.flatnonzero(stats.preds[T - 1] != stats.labels)
    if len(wrong) == 0:
        st.success(f"No {noun} of the {samples.name} is misclassified at T = {T}.")
        st.stop()
    k = pick(st, f"Misclassified at T = {T} ({len(wrong)} {samples.nouns})", len(wrong), f"dyn-wrong-{T}")
    i = int(wrong[k])
    x = samples.split.x[i]
    caption = f"test {noun} {i}, label {stats.labels[i]}, predicted {stats.preds[T - 1, i]}"
else:
    url.share(digit=None)  # a sample of the user's own cannot be shared
    x, caption = own_sample(mode, "dyn", samples)

tr = sel.trace(x)

# -- every step's frames in the page: the browser steps through them; the server hears where the user stopped --
linked_step = url.take("step", url.integer(1, T), "step", f"step {T}")
if linked_step is not None:
    st.session_state["dyn-step"] = linked_step
if st.session_state.get("dyn-step", T) > T:  # a smaller T than the step last shown
    st.session_state["dyn-step"] = T
step = int(st.session_state.setdefault("dyn-step", T))
classes = list(samples.classes) if caps.classifier else None

other = None  # a second model beside this one: the same sample at another λ or T
peers = [e for e in catalog.entries() if e.data.key == sel.entry.data.key  # this one too: the same model at two T
         and get(e.architecture).capabilities.steps and not get(e.architecture).capabilities.missing("filters")]
if st.toggle("Side by side with another model, or this one at another T", key="dyn-side"):
    c1, c2 = st.columns([3, 1])
    keys = [e.key for e in peers]
    if st.session_state.get("dyn-other") not in keys:  # another model first, where there is one
        st.session_state["dyn-other"] = next((k for k in keys if k != sel.entry.key), sel.entry.key)
    by_key = {e.key: e for e in peers}
    b = by_key[c1.selectbox("Beside it", keys, key="dyn-other", format_func=lambda k: by_key[k].label)]
    b_most = max(3 * b.unroll, 3)
    if not 1 <= st.session_state.get("dyn-other-T", b.unroll) <= b_most:
        st.session_state["dyn-other-T"] = b.unroll
    b_T = int(c2.number_input(f"Its T (trained {b.unroll})", 1, b_most, st.session_state.get("dyn-other-T", b.unroll),
                              key="dyn-other-T"))
    other = Selection(b, get(b.architecture), b_T, b_most)

here = step_views.heading(sel.entry, sel.family.sparsity_symbol, T)
xb = np.asarray(x, dtype=np.float32).tobytes()
panels = trace_panels_for(*sel.key, sel.max_unroll, T, xb, None if classes is None else tuple(classes), shape, noun,
                          0, here if other else "", other is not None)
widths, steps_shown = [3, 2], T
if other is not None:
    b_classes = tuple(samples.classes) if other.caps.classifier else None
    b_here = step_views.heading(other.entry, other.family.sparsity_symbol, other.unroll)
    panels = panels + trace_panels_for(*other.key, other.max_unroll, other.unroll, xb, b_classes, shape, noun, 1,
                                       b_here, True)
    widths, steps_shown = [1, 1], max(T, other.unroll)
    if other.unroll != T:
        st.caption(f"The step slider runs to {steps_shown}; the model with fewer steps holds its last one.")
if st.session_state.get("dyn-step", T) > steps_shown:
    st.session_state["dyn-step"] = steps_shown
step = min(stepper(panels, steps_shown, "dyn-step", name=named("dynamics"), widths=widths,
                   on_unit=lambda u: st.session_state.update({"dyn-open-unit": u})), T)
if (opened := st.session_state.pop("dyn-open-unit", None)) is not None:  # a row of the heatmap clicked: its unit
    st.session_state["ub-unit"] = opened
    st.switch_page("pages/unit_browser.py")
url.share(digit=i, step=step if step != T else None)  # i: None for a sample of the user's own
if st.session_state.get("dyn-step-seen") != step:  # let go at another step: the intervention starts there
    st.session_state["dyn-step-seen"] = step
    st.session_state["dyn-iv-from"] = step
c = st.columns([5, 1])
c[0].markdown(f"**Input**: {caption}. Below, at step {step} (where the slider was let go): what other views use.")
with c[1]:
    url.link()

z_now = tr.z[step - 1]
cards = [("Active units", int((z_now > 0).sum()))]
if caps.classifier:
    probs = tr.probs[step - 1]
    pred = int(probs.argmax())
    cards.insert(0, (f"Prediction after step {step}", f"{pred}", f"p = {probs[pred]:.3f}", "off"))  # a level
if view.kinds is not None:
    cards.append(("Categorical units active", int((z_now[view.kinds == "categorical"] > 0).sum())))
for col, card in zip(st.columns(len(cards)), cards):  # (label, value, note, arrow): a probability is a level
    col.metric(card[0], card[1], card[2] if len(card) > 2 else None, delta_color="off",
               delta_arrow=card[3] if len(card) > 3 else "auto")
order = unit_order(view.kinds, units.angle) if view.kinds is not None else np.arange(view.hidden)
steps = np.arange(1, T + 1)

# -- interventions ---------------------------------------------------------------------------------
if units is not None:
    st.subheader("Intervene: hold units at a value")
    if st.toggle("Ablate or clamp units from a step on, and compare", key="dyn-iv"):
        iv = intervention_controls(view.hidden, view.kinds, T, tr.z, "dyn-iv")
        if iv is None:
            st.info("Choose at least one unit to hold.")
            st.stop()
        held = sel.intervened(x, iv)
        z_held = held.z[step - 1]
        what = f"{len(iv.units)} units held at {iv.value:g} from step {iv.from_step}"
        cards = [("Active units (held)", int((z_held > 0).sum()), f"{int((z_held > 0).sum()) - int((z_now > 0).sum()):+d}")]
        if caps.classifier:
            p_held = held.probs[step - 1]
            k = int(p_held.argmax())
            cards.insert(0, (f"Prediction after step {step} (held)", f"{k}", f"p = {p_held[k]:.3f}", "off"))
        c = st.columns(len(cards) + 1)
        c[0].markdown(f"**{what}**")
        for col, card in zip(c[1:], cards):
            col.metric(card[0], card[1], card[2], delta_color="off", delta_arrow=card[3] if len(card) > 3 else "auto")
        left, right = st.columns([3, 2])
        shown = order[(held.z[:, order] != tr.z[:, order]).any(0)]  # only the units the intervention moved
        chart(left, figures.heatmap(held.z[:, shown].T - tr.z[:, shown].T, x=list(range(1, T + 1)),
                                    y=[str(u) for u in shown], title=f"z_t held − z_t untouched: {len(shown)} units "
                                                                     "moved",
                                    xtitle="step t", hover="step %{x}, unit %{y}: %{z:+.4f}<extra></extra>",
                                    height=max(360, 12 * len(shown)), marker_x=step, categories=True),
              key="dyn-iv-z", caption="Red: the unit answers more with the units held; blue: less. The held units "
                                      "themselves show their forced change.")
        if held.recon is not None:
            right.image(figures.tiles([tr.recon[step - 1], held.recon[step - 1]], zoom=4, shape=shape),
                        caption=[f"x̂(z_{step}) untouched", f"x̂(z_{step}) held"])
        if caps.classifier:
            top = [int(k) for k in np.argsort(-(tr.probs[-1] + held.probs[-1]))[:3]]
            series = {f"{k}": tr.probs[:, k] for k in top} | {f"{k} held": held.probs[:, k] for k in top}
            chart(right, figures.lines(steps, series, "Class probabilities, untouched and held", "step t", "p",
                                       marker_x=step), key="dyn-iv-probs",
                  caption="The three classes most likely with or without the intervention, after every step.")
