import time

import numpy as np
import streamlit as st

from models.analysis.kinds import COLORS
from models.analysis.representation import DENSE
from models.families import all_families, get
from models.services import catalog, jobs, sweep as sweeps
from models.training import run_folder as runs
from models.training.config import TrainConfig
from ui import figures, nav
from ui.export import chart, download_csv, rows_csv
from ui.forms import settings_form

nav.through_app()
st.title("Training")
st.caption("Runs train in the background, in their own process: leave this page, close the tab, open a new "
           "one — the run goes on and every tab sees it. The same settings never start two trainers.")

names = [f.name for f in all_families()]
family = get(st.selectbox("Model family", names, format_func=lambda n: get(n).title, key="train-family"))
with st.form("train-form"):  # the form starts from the CLI's defaults (the family's): one recipe
    st.markdown(f"**{family.short}**")
    model_values = settings_form(family.config, {}, f"train-{family.name}")
    st.markdown("**Training**")
    relabelled = {} if family.capabilities.classifier else {  # no L_S: one objective, its epochs
        "pretrain_epochs": "Epochs before (the same objective)", "epochs": "Training epochs"}
    train_values = settings_form(TrainConfig, family.train_defaults or {}, f"train-{family.name}", labels=relabelled)
    submitted = st.form_submit_button("Start training", type="primary")
    if family.has_sparsity:
        st.markdown("**Or a sweep**: one run per λ and seed, the settings above otherwise; they wait in a queue "
                    "and train as trainers come free (the queue goes on if the app stops).")
        c = st.columns([3, 2, 2], vertical_alignment="bottom")
        sweep_lams = c[0].text_input("λ values", placeholder="0.0125, 0.025, 0.05, 0.1", key="sweep-lams")
        sweep_seeds = c[1].text_input("Seeds", "0, 1", key="sweep-seeds")
        swept = c[2].form_submit_button("Queue the sweep")
    else:
        swept = False
if submitted:
    try:
        mc = family.config(**model_values)
        tc = family.train_config(**train_values)
        j = jobs.start(mc, tc)
        st.success(f"{j.name} is {'already ' if j.message != 'starting' else ''}running.")
    except (jobs.JobError, ValueError) as e:
        st.error(str(e))
if swept:
    try:
        configs = sweeps.grid(family, model_values, train_values, sweeps.values(sweep_lams, float, "λ values"),
                              sweeps.values(sweep_seeds, int, "Seeds"))
        queued = sweeps.queue(configs)
        states = [j.state for j in queued]
        st.success(f"Sweep of {len(queued)} runs: " + ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
                   + ". The Sweep page plots them as they finish.")
    except (jobs.JobError, ValueError) as e:
        st.error(str(e))
st.number_input("Trainers at once", 1, 64, jobs.max_trainers(), key="trainers-at-once",
                on_change=lambda: jobs.set_max_trainers(st.session_state["trainers-at-once"]),
                help="How many runs train at the same time (each on its share of the cores); queued runs wait. "
                     "Kept with the runs, for every tab and after a restart.")


def _fmt_eta(s):
    return "—" if s is None else time.strftime("%H:%M:%S", time.gmtime(max(0, s)))


def _curves(rows: list[dict], held_out: bool, name: str, key: str = "tr"):
    ep = np.array([r["epoch"] + 1 for r in rows])
    col = lambda k: np.array([np.nan if r.get(k) is None else r[k] for r in rows], dtype=float)  # noqa: E731
    c = st.columns(3)
    if any("val_elbo" in r for r in rows):  # a likelihood model: its bound, the KL of each layer, its units
        _bound_curves(rows, ep, col, c, key)
        download_csv(st, "Metrics (CSV, a row per epoch)", rows_csv(rows), f"{name}-metrics.csv", key=f"{key}-csv")
        return
    chart(c[0], figures.lines(ep, {"L_U train": col("train_unsup"), "L_U val": col("val_unsup"),
                                   "L_S train": col("train_sup"), "L_S val": col("val_sup")},
                              "Losses", "epoch", log_y=True), key=f"{key}-loss",
          caption="L_U: reconstruction + λ‖z‖₁; L_S: the classifier's cross-entropy (log scale). Train and "
                  "validation apart: overfitting.")
    title = "Validation error" if held_out else "Error on the validation digits (trained on)"
    chart(c[1], figures.lines(ep, {"validation error (%)": col("val_error")}, title, "epoch",
                              log_y=True), key=f"{key}-err",
          caption="After each epoch, on digits the update never saw (unless the run is a final fit).")
    units = {"active per digit (L0)": col("val_active")}
    names = {"val_dead": "dead", "val_dense": "dense", "units_categorical": "categorical", "units_part": "part"}
    units |= {name: col(k) for k, name in names.items() if any(k in r for r in rows)}  # older runs lack them
    chart(c[2], figures.lines(ep, units, "Units over the epochs", "epoch", "units",
                              colors={"categorical": COLORS["categorical"], "part": COLORS["part"]}),
          key=f"{key}-active", caption="On the validation digits after each epoch: L0, the units active on none "
          f"(dead) or on more than {DENSE:.0%} of them (dense), and the units of each kind. A run collapsing to a "
          "few active units shows here in its first epochs.")
    download_csv(st, "Metrics (CSV, a row per epoch)", rows_csv(rows), f"{name}-metrics.csv", key=f"{key}-csv")


def _bound_curves(rows, ep, col, c, key):
    layers = sorted({int(k.rsplit("_", 1)[1]) for r in rows for k in r if k.startswith("val_kl_")})
    chart(c[0], figures.lines(ep, {"−ELBO train": col("train_unsup"), "−ELBO val": col("val_unsup"),
                                   "−log p(x | z) val": col("val_recon")}, "Negative ELBO (nats)", "epoch"),
          key=f"{key}-loss", caption="The bound's negative, lower is better: training digits (binarised afresh; the "
          "KL warm-up's weight while it lasts) and the validation digits (binarised once).")
    chart(c[1], figures.lines(ep, {f"layer {n}": col(f"val_kl_{n}") for n in layers}, "KL of each layer (nats)",
                              "epoch"), key=f"{key}-err",
          caption="log q − log p of each stochastic layer (1 next to the pixels) on the validation digits: a layer at "
                  "0 carries nothing about the digit.")
    chart(c[2], figures.lines(ep, {f"layer {n}": col(f"val_active_{n}") for n in layers},
                              "Units not exactly 0, per digit", "epoch", "units"), key=f"{key}-active",
          caption="Mean units of each layer that are not exactly zero in a sample from the posterior.")


@st.fragment(run_every=2.0)
def live():
    """Polls the run folders on disk every 2 s (AppTest skips fragments: the polling is tested in test_jobs)."""
    all_jobs = jobs.list_jobs()
    if any(j.state == "queued" for j in all_jobs) and jobs.dispatch():  # a trainer killed without a word frees
        all_jobs = jobs.list_jobs()                                       # its place here
    if not all_jobs:
        st.info("No runs of yours yet: start one above. Below, how the embedded models were trained.")
        return
    names = [j.name for j in all_jobs]
    name = st.selectbox("Run", names, key="tr-run")
    j = next(x for x in all_jobs if x.name == name)
    if j.state == "damaged":  # its files cannot be read: say why, and touch nothing
        st.error(f"{name} is damaged: {j.message}")
        return
    c = st.columns([3, 1, 1])
    c[0].progress(j.progress, text=f"{j.state} · epoch {min(j.epoch + 1, j.total_epochs)}/{j.total_epochs} · "
                                   f"time left {_fmt_eta(j.eta if j.state == 'running' else None)}")
    if j.state in ("running", "queued"):
        if c[1].button("Stop" if j.state == "running" else "Take out of the queue", key=f"stop-{name}"):
            jobs.stop(j.run)
            st.toast(f"Stopping {name}: it checkpoints and exits.")
    elif j.state in ("stopped", "interrupted", "failed"):
        if c[1].button("Resume", key=f"resume-{name}"):
            try:
                jobs.resume(j.run)
            except jobs.JobError as e:
                st.error(str(e))
    have = jobs.extendable(j.run) if j.state in ("done", "stopped") else None
    if have is not None:  # a steady-lr run continues to the weights a longer run would reach
        e = st.columns([2, 1, 3], vertical_alignment="bottom")
        more = e[0].number_input("Supervised epochs in all", have + 1, 100_000, 2 * have or 1, key=f"more-{name}",
                                 help="Continues from the checkpoint, at the run's steady lr, to the weights a run "
                                      "asked for this many epochs from the start would have. The run keeps its name.")
        if e[1].button("Train longer", key=f"extend-{name}"):
            try:
                jobs.extend(j.run, int(more))
            except jobs.JobError as err:
                st.error(str(err))
    if j.message and j.state == "failed":
        st.error(j.message)
    rows = runs.read_metrics(j.run)
    if rows:
        held_out = (runs.read_config(j.run) or {}).get("data", {}).get("val_held_out", True)  # not damaged: job() read it
        _curves(rows, held_out, name)
        if rows[-1]["val_error"] is not None:  # a model with a classifier
            c[2].metric("Validation error" if held_out else "Val. digits' error (trained on)",
                        f"{rows[-1]['val_error']:.2f} %")
        elif "val_elbo" in rows[-1]:  # a model with a likelihood bound
            c[2].metric("Validation ELBO" if held_out else "Val. digits' ELBO (trained on)",
                        f"{rows[-1]['val_elbo']:.2f}")
    else:
        st.caption("The first epoch's numbers appear here when it ends.")


live()


def embedded():
    """How the shipped models were trained: their curves, and the command that trains each again."""
    shipped = [e for e in catalog.entries() if e.state == "embedded"]
    if not shipped:
        return
    with st.expander("How the embedded models were trained", expanded=not jobs.list_jobs()):
        key = st.selectbox("Embedded model", [e.key for e in shipped], key="tr-embedded",
                           format_func=lambda k: catalog.group_label(next(e for e in shipped if e.key == k).group)
                           + f" · {k.split(':', 1)[1]}")
        e = next(x for x in shipped if x.key == key)
        st.caption("The command that trains it again (with $SPARSELAB_DATA set, or --data-dir):")
        st.code(catalog.command(e), language="bash")
        rows = runs.read_metrics(e.folder)
        if rows:
            _curves(rows, e.settings.get("data.val_held_out", True), e.folder.name, key="tr-embedded")
        else:
            st.caption("Its training curves did not ship with it.")


embedded()
