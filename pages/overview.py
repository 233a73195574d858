"""Overview: what the selected model is, what each recurrent step buys on average over the test samples (or, for a
generative hierarchy, its bound on log p(x) layer by layer), where to start, and the downloads."""
import numpy as np
import streamlit as st

from models.analysis import report
from models.families import get as get_family
from models.kinds import kind_counts
from ui import background, compute, export, figures, nav
from ui.export import chart
from ui.state import require
from ui.text import plain

sel = require(__file__)
caps = sel.caps
st.title(f"sparselab · {sel.family.title}")
samples = sel.samples()
st.caption(f"**Data**: {sel.entry.data.domain.title} ({plain(sel.entry.data.describe())}). "
           f"{sel.entry.data.domain.summary} **What the model reads**: {sel.entry.data.normalization(sel.family)}."
           + (f" **Note**: {plain(sel.entry.data.note())}." if sel.entry.data.note() else ""))


def bound_overview():
    """A generative hierarchy: its bound on log p(x), and what each layer holds."""
    st.markdown(sel.family.summary)
    st.markdown(f"**Start here**: Samples draws {samples.nouns} from the model, Hierarchy shows what every unit draws "
                f"on its own, Traversal turns one top unit up and down, Layers shows any {samples.noun}'s code layer by "
                "layer.")
    for col, title in zip(st.columns(5), ("Samples", "Hierarchy", "Traversal", "Layers")):
        col.page_link(nav.spec_by_title(title).path, label=f"{title} →", icon=nav.spec_by_title(title).icon)
    r = background.shown(compute.likelihood_task(*sel.key))  # a bar until the worker has measured it
    if r is None:
        return
    metrics = [("Test ELBO (nats)", f"{r.elbo:.2f}"),
               (f"Importance-weighted bound (k = {r.iwae_k})", "—" if r.iwae is None else f"{r.iwae:.2f}"),
               ("KL, all layers (nats)", f"{r.kl:.2f}"), ("Units exactly 0", f"{100 * r.zero_fraction:.1f} %")]
    for col, (label, value) in zip(st.columns(len(metrics)), metrics):
        col.metric(label, value)
    st.caption(f"On the first {r.digits:,} of the {samples.name}, binarised once (seed {sel.model().cfg.test_seed}), "
               f"one posterior sample per {samples.noun}; the importance-weighted bound on the first {r.iwae_digits} of "
               f"them (their ELBO: {r.elbo_on_iwae_digits:.2f}). `python -m models evaluate` measures it with k = 1,000 "
               f"samples on 1,000 {samples.nouns}.")
    st.dataframe({"layer (1: next to the pixels)": [str(i + 1) for i in range(len(r.layers))],
                  "units": [la.units for la in r.layers], "KL (nats)": [round(la.kl, 2) for la in r.layers],
                  "exactly 0 (%)": [round(100 * la.zero_fraction, 1) for la in r.layers],
                  "active units": [la.active for la in r.layers],
                  "linear probe error (%)": [None if la.probe_error is None else round(la.probe_error, 1)
                                             for la in r.layers]},
                 hide_index=True, key="ov-layers")
    st.caption(f"KL: log q(z_l | ·) − log p(z_l | z_l+1) per {samples.noun}; exactly 0: share of a posterior sample's "
               f"units at 0; active: units whose posterior mean varies over the {samples.nouns} by more than 0.01 "
               f"(Burda et al.); probe: a linear classifier on the layer's posterior means, fitted on the first half "
               f"of the {samples.nouns} and tested on the second (labels never trained the model). A layer whose KL is "
               "near 0 holds nothing of its own: its posterior is its prior, whose means follow the layers above "
               "(hence still 'active').")


def code_overview():
    view = sel.view()
    st.markdown(sel.family.summary + " Move the sidebar's sliders: every figure follows.")
    start = [p for p in ("Dynamics", "Units") if p in {spec.title for spec in nav.offered(caps)}]
    if start:
        draw = " (or one you draw)" if samples.domain.own_input else ""
        prototypes = ("Units shows which units became whole-class prototypes and which stayed parts."
                      if caps.labels and caps.kinds else "Units shows each unit's filters and how the units interact.")
        how = ("and refines that code step by step. **Start here**: this page shows what every step buys on average; "
               if caps.steps else "in one pass. **Start here**: ")
        st.markdown(f"**You are looking at** a trained model that codes each {samples.noun} with a few of its "
                    f"{view.hidden} units {how}"
                    + (f"Dynamics runs one {samples.noun}{draw} through the steps; " if "Dynamics" in start else "")
                    + (prototypes if "Units" in start else ""))
        for col, title in zip(st.columns(len(start) + 2), start):
            col.page_link(nav.spec_by_title(title).path, label=f"{title} →", icon=nav.spec_by_title(title).icon)
    stats, t = view.stats, sel.unroll
    metrics = []
    if caps.classifier:
        metrics.append((f"Test error at T = {t}", f"{stats.error[t - 1]:.2f} %"))
    if caps.decoder:
        metrics.append(("Reconstruction ½‖x − x̂‖²", f"{stats.recon[t - 1]:.4f}"))
    metrics.append(("Active units", f"{stats.active[t - 1]:.1f} / {view.hidden}"))
    if view.units is not None and caps.kinds:  # the paper's kinds: where they mean something
        counts = kind_counts(view.units.kind)
        metrics += [("Categorical units", counts["categorical"]), ("Part units", counts["part"])]
    if view.converged is not None:  # its steps approach sparse coding's codes: both reconstructions, side by side
        metrics.append(("Converged codes: ½‖x − x̂‖²", f"{view.converged.recon:.4f}",
                        f"at L0 {view.converged.active:.1f} (its own at T: {stats.active[t - 1]:.1f})"))
    for col, (label, value, *note) in zip(st.columns(len(metrics)), metrics):
        col.metric(label, value, note[0] if note else None, delta_color="off", delta_arrow="off")
    sparsity = "" if sel.entry.sparsity is None else f", {sel.family.sparsity_symbol} = {sel.entry.sparsity:g}"
    trained = f", trained with T = {sel.trained_unroll}" if caps.steps else ""
    st.caption(f"On the {plain(samples.name)}. Model: {plain(sel.entry.label)}{sparsity}{trained}."
               + (" Its steps approach sparse coding's converged codes on its dictionary (the minimum of "
                  "½‖x − D z‖² + λ‖z‖₁): their reconstruction is quoted beside its own at T." if view.converged else ""))
    if caps.steps:
        steps = np.arange(1, stats.steps + 1)
        left, right = st.columns(2)
        if caps.classifier:
            chart(left, figures.lines(steps, {"test error (%)": stats.error}, "Classification error after each step",
                                      "step t", "error (%)", marker_x=t), key="ov-error",
              caption="The classifier read out after each step t: where the curve flattens, more steps stop helping. "
                      "Past the trained T (dotted line) the model runs steps it never trained on.")
        else:
            left.info(f"This model has no classifier: its {samples.nouns} carry no labels.")
        # No T marker here: a figure that does not change is not redrawn, which halves a slider move's cost.
        series = {"active units / 100": stats.active / 100}
        if caps.decoder:
            series = {"reconstruction": stats.recon, **series}
        chart(right, figures.lines(steps, series, "Reconstruction and activity after each step", "step t",
                                   "½‖x − x̂‖² · active units / 100"), key="ov-recon",
              caption="Mean reconstruction error of x̂ = D z_t and mean number of active units (÷ 100) over the test "
                      f"{samples.nouns}: the code settles as the steps go on.")
    elif view.weights is not None:
        chart(st, figures.filter_grid(view.weights.decoder[:40], [f"unit {i}" for i in range(min(40, view.hidden))],
                                      cols=20, title="Decoder columns of the first units", shape=samples.shape),
              key="ov-filters",
              caption="What each unit adds to a reconstruction (red positive, blue negative).")


def host_overview(host: dict):
    """A dictionary of a network's activations, measured through that network (SAEBench's loss recovered)."""
    st.subheader(f"Through its host: {plain(host['host'])}, layer {plain(host['layer'])}")
    r = background.shown(compute.through_host_task(*sel.key))
    if r is None:
        return
    metrics = [("Loss recovered (zero ablation)", f"{r.recovered('zero'):.3f}"),
               ("Loss recovered (mean ablation)", f"{r.recovered('mean'):.3f}"),
               ("Host accuracy: clean → reconstructed", f"{r.accuracy['clean']:.1f} → {r.accuracy['reconstructed']:.1f} %"),
               ("Predictions unchanged", f"{100 * r.unchanged:.1f} %")]
    for col, (label, value) in zip(st.columns(len(metrics)), metrics):
        col.metric(label, value)
    st.caption(f"The host run over its first {r.samples:,} test samples with the layer's output replaced by this "
               "model's reconstruction (in the layer's own units), by zeros and by its mean: loss recovered = "
               f"(L_ablated − L_reconstructed) / (L_ablated − L_clean), 1 the best. Cross-entropy: clean "
               f"{r.loss['clean']:.4f}, reconstructed {r.loss['reconstructed']:.4f}, zeros {r.loss['zero']:.4f}, mean "
               f"{r.loss['mean']:.4f}; the layer's FVU on these samples {r.fvu:.3f}. `python -m models evaluate` "
               "gives the same numbers.")
    alike = compute.dictionaries_of(host)  # every model here of the same host and layer
    if len(alike) < 2:
        st.caption("Train other dictionaries on this layer (another family, sparsity or size) to see them on a "
                   "frontier of sparsity against loss recovered here.")
        return
    measured = background.shown_all([compute.through_host_task(str(e.path), e.version(), e.data.key) for e in alike])
    if measured is None:
        return
    groups: dict[str, tuple[list, list, list[str]]] = {}
    for e, m in zip(alike, measured):
        g = groups.setdefault(get_family(e.architecture).short, ([], [], []))
        for column, value in zip(g, (m.l0, m.recovered("zero"), e.label)):  # (a bare tuple would be drawn: magic)
            column.append(value)
    chart(st, figures.points(groups, "Every dictionary of this layer: sparsity against loss recovered",
                             "active units a vector (L0)", "loss recovered (zero ablation)", mark=sel.entry.label),
          key="ov-host-frontier", caption=f"Each model here trained on {plain(host['host'])}'s layer "
          f"{plain(host['layer'])} (ringed: this one), measured through the host on the same test samples: up and "
          "left is better (more of the host's loss kept with fewer active units).")


if caps.likelihood:
    bound_overview()
else:
    code_overview()
    harvested = sel.entry.data.host()  # its manifest, read once
    if harvested is not None and caps.decoder:
        host_overview(harvested)

# -- take it away --------------------------------------------------------------------------------
st.subheader("Downloads")
model = sel.model()
name = sel.entry.folder.name
c = st.columns(3)
c[0].download_button("This model (float16 safetensors)",
                     lambda: export.model_file(model, sel.entry.label, sel.entry.data.to_dict()),
                     file_name=f"{name}.safetensors", mime="application/octet-stream", key="ov-model",
                     icon=":material/download:", help="Its weights, with its family and settings in the file's "
                     "header: `python -m models evaluate FILE` and the app read it")
if not report.missing(model):  # seconds of work: on the worker, behind a bar, once asked for
    if st.session_state.get("ov-report-for") == sel.key:
        text = background.shown(compute.report_task(*sel.key, sel.entry.label), c[1])
        if text is not None:
            c[1].download_button("The paper's claims checked (markdown)", text, file_name=f"{name}-report.md",
                                 mime="text/markdown", key="ov-report", icon=":material/download:",
                                 help=f"What `python -m models report` writes, on these {samples.nouns}")
    elif c[1].button("Check the paper's claims (markdown)", key="ov-report-go", icon=":material/fact_check:",
                     help=f"What `python -m models report` writes, on these {samples.nouns}: seconds of work, shown "
                          "as it goes; then a download"):
        st.session_state["ov-report-for"] = sel.key
        st.rerun()
c[2].caption("Each chart downloads from its camera button (PNG or SVG: the sidebar's choice); tables from their "
             "own download buttons.")
