"""Training: start a run of any model family on any data domain (the form lists their settings), or queue a sweep
over λ and seeds; each trains in its own process, owned by its run folder. Live curves, stop, resume and train
longer; how the embedded models were trained."""
import os
import time

import numpy as np
import streamlit as st

from models.domains import DataSpec, all_domains, get as domain_named
from models.families import all_families, architecture, get, of_saved
from models.services import catalog, jobs, sweep as sweeps
from models.training import run_folder as runs
from models.training import cost
from models.training.config import TrainConfig, train_config
from ui import figures, nav, sidebar
from ui.export import chart, download_csv, rows_csv
from ui.forms import settings_form
from ui.text import plain

nav.through_app()
st.title("Training")
st.caption("Runs train in the background, in their own process: leave this page, close the tab, open a new "
           "one — the run goes on and every tab sees it. The same settings never start two trainers.")

names = [f.name for f in all_families()]
c = st.columns(2)
family = get(c[0].selectbox("Model family", names, format_func=lambda n: get(n).title, key="train-family"))
domain = domain_named(c[1].selectbox("Data", [d.name for d in all_domains()], key="train-domain",
                                     format_func=lambda n: domain_named(n).title))
c[1].caption(domain.summary)
with st.form("train-form"):  # the form starts from the CLI's defaults (the family's and the domain's): one recipe
    st.markdown(f"**{domain.title}**")
    data_values = settings_form(domain.config, {}, f"train-data-{domain.name}")
    st.markdown(f"**{family.short}**")
    model_values = settings_form(family.config, {}, f"train-{family.name}")
    st.markdown("**Training**")
    relabelled = {} if family.capabilities.classifier else {  # no L_S: one objective, its epochs
        "pretrain_epochs": "Epochs before (the same objective)", "epochs": "Training epochs"}
    # what only a classifier's training reads: not offered to a family without one
    unused = () if family.capabilities.classifier else ("sup_weight", "c_lr_scale")
    train_values = settings_form(TrainConfig, family.train_defaults or {}, f"train-{family.name}", labels=relabelled,
                                 skip=unused)
    c = st.columns([1, 2])
    run_title = c[0].text_input("Name (optional)", key="train-title", max_chars=jobs.TITLE_MAX,
                                placeholder="e.g. wide decoder", help="Shown in the model picker and the Runs "
                                "table; the run's folder keeps the name its settings give it")
    run_note = c[1].text_input("Note (optional)", key="train-note", max_chars=jobs.NOTE_MAX,
                               placeholder="why this run, what to look for")
    submitted = st.form_submit_button("Start training", type="primary")
    if family.has_sparsity:
        sym = family.sparsity_symbol
        st.markdown(f"**Or a sweep**: one run per {sym} and seed, the settings above otherwise; they wait in a queue "
                    "and train as trainers come free (the queue goes on if the app stops).")
        c = st.columns([3, 2, 2], vertical_alignment="bottom")
        sweep_lams = c[0].text_input(f"{sym} values", placeholder=family.sparsity_examples,
                                     key="sweep-lams")
        sweep_seeds = c[1].text_input("Seeds", "0, 1", key="sweep-seeds")
        swept = c[2].form_submit_button("Queue the sweep")
    else:
        swept = False
FORM_LIMIT = 24 * 3600.0  # seconds of estimated work one click may start (the CLI may go further, on purpose)
CONFIRM = 2 * 3600.0  # above this, Start must be pressed twice


def _hours(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds < 5400 else f"{seconds / 3600:.1f} hours"


def _cost(configs, data) -> float:
    """Estimated seconds of all these runs at this machine's rate (models/training/cost.py)."""
    n = data.domain.train_size(data.cfg) if data.domain.train_size else None
    return sum(cost.estimate(family, jobs.fitted(mc, data)[1], tc, n)[1] for mc, tc in configs)


def _allowed(seconds: float, what: str, key: str) -> bool:
    """Whether the form may start work of this estimated length: above FORM_LIMIT never (the CLI can), above
    CONFIRM on a second press with the same settings."""
    if seconds > FORM_LIMIT:
        st.error(f"{what} would take about {_hours(seconds)} on this machine, more than the Training form starts "
                 f"({_hours(FORM_LIMIT)}): lower the epochs or the size, or run it from the command line "
                 "(`python -m models train --help`).")
        return False
    if seconds > CONFIRM and st.session_state.get("confirm-long") != key:
        st.session_state["confirm-long"] = key
        st.warning(f"{what} would take about {_hours(seconds)} on this machine: press the button again to start it.")
        return False
    st.session_state.pop("confirm-long", None)
    return True


if submitted:
    try:
        data = DataSpec(domain, domain.config(**data_values))
        mc = family.config(**model_values)
        tc = train_config(family, **train_values)
        seconds = _cost([(mc, tc)], data)
        if _allowed(seconds, "This run", repr((mc, tc, data.key))):
            j = jobs.start(mc, tc, data=data, title=run_title, note=run_note, queue=True)
            if j.state == "queued":  # every trainer busy: it starts when one is free
                st.success(f"{plain(j.name)} is queued: it starts as soon as a trainer is free (about {_hours(seconds)} "
                           "of training on this machine); 'Trainers at once' below sets how many run together.")
            else:
                st.success(f"{plain(j.name)} is {'already ' if j.message != 'starting' else ''}running (about "
                           f"{_hours(seconds)} on this machine).")
            if data.note():
                st.info(plain(data.note()))
    except (jobs.JobError, ValueError) as e:
        st.error(plain(e))
if swept:
    try:
        data = DataSpec(domain, domain.config(**data_values))
        configs = sweeps.grid(family, model_values, train_values,
                              sweeps.values(sweep_lams, float, f"{family.sparsity_symbol} values"),
                              sweeps.values(sweep_seeds, int, "Seeds"))
        seconds = _cost(configs, data)
        if _allowed(seconds, f"This sweep of {len(configs)} runs", repr((configs, data.key))):
            queued = sweeps.queue(configs, data=data)
            states = [j.state for j in queued]
            st.success(f"Sweep of {len(queued)} runs (about {_hours(seconds)} of training on this machine): "
                       + ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
                       + ". The Sweep page plots them as they finish.")
    except (jobs.JobError, ValueError) as e:
        st.error(plain(e))
def _set_trainers():
    try:
        jobs.set_max_trainers(st.session_state["trainers-at-once"])
    except jobs.JobError as e:  # a read-only runs folder: say so, keep the page
        st.session_state["trainers-error"] = str(e)


cores = os.cpu_count() or 1
st.number_input("Trainers at once", 1, cores, min(jobs.max_trainers(), cores), key="trainers-at-once",
                on_change=_set_trainers,
                help="How many runs train at the same time (each on its share of the cores); queued runs wait. "
                     "Kept with the runs, for every tab and after a restart.")
if st.session_state.get("trainers-error"):
    st.error(st.session_state.pop("trainers-error"))


def _fmt_eta(s):
    return "—" if s is None else time.strftime("%H:%M:%S", time.gmtime(max(0, s)))


def _curves(rows: list[dict], held_out: bool, name: str, family, key: str = "tr"):
    """The family's charts of a run's metrics (models/families: Family.curves), a series per key the rows hold."""
    ep = np.array([r["epoch"] + 1 for r in rows])
    col = lambda k: np.array([np.nan if r.get(k) is None else r[k] for r in rows], dtype=float)  # noqa: E731
    curves = family.curves(rows, held_out, family.objective)
    for where, c in zip(st.columns(len(curves)), curves):
        series = {label: col(k) for label, k in c.series.items() if any(r.get(k) is not None for r in rows)}
        chart(where, figures.lines(ep, series, c.title, "epoch", c.ytitle, log_y=c.log_y,
                                   colors={k: v for k, v in figures.KIND_COLORS.items() if k in series}),
              key=f"{key}-{c.key}", caption=c.caption)
    download_csv(st, "Metrics (CSV, a row per epoch)", rows_csv(rows), f"{name}-metrics.csv", key=f"{key}-csv")


@st.fragment(run_every=2.0)
def live():
    """Polls the run folders on disk every 2 s (AppTest skips fragments: the polling is tested in test_jobs)."""
    all_jobs = jobs.poll()
    if sidebar.missing_runs(sidebar.listed()):  # a run's first checkpoint: the model picker lists it from now on
        st.rerun(scope="app")
    if not all_jobs:
        st.info("No runs of yours yet: start one above. Below, how the embedded models were trained.")
        return
    names = [j.name for j in all_jobs]
    waiting = [j.name for j in all_jobs if j.state == "queued"]
    if waiting and st.button(f"Empty the queue ({len(waiting)} waiting)", key="tr-empty-queue",
                             help="A sweep or a benchmark cancelled: the runs waiting for a trainer stay as they are, "
                                  "stopped; Resume trains any of them on"):
        taken, _ = jobs.cancel(jobs.RUNS_ROOT, waiting)
        st.toast(f"{taken} runs taken out of the queue.")
    abouts = {n: runs.read_about(jobs.RUNS_ROOT / n) for n in names}
    name = st.selectbox("Run", names, key="tr-run",
                        format_func=lambda n: f"{abouts[n]['name']} ({n})" if abouts[n]["name"] else n)
    j = next(x for x in all_jobs if x.name == name)
    if abouts[name]["note"]:
        st.caption(plain(abouts[name]["note"], lines=True))
    if j.state == "damaged":  # its files cannot be read: say why, and touch nothing
        st.error(f"{plain(name)} is damaged: {plain(j.message)}")
        return
    c = st.columns([3, 1, 1])
    c[0].progress(j.progress, text=f"{j.state} · epoch {min(j.epoch + 1, j.total_epochs)}/{j.total_epochs} · "
                                   f"time left {_fmt_eta(j.eta if j.state == 'running' else None)}")
    if j.state in ("running", "queued"):
        if c[1].button("Stop" if j.state == "running" else "Take out of the queue", key=f"stop-{name}"):
            jobs.stop(j.run)
            st.toast(f"Stopping {plain(name)}: it checkpoints and exits.")
    elif j.state in ("stopped", "interrupted", "failed"):
        if c[1].button("Resume", key=f"resume-{name}"):
            try:
                jobs.resume(j.run)
            except jobs.JobError as e:
                st.error(plain(e))
    have = jobs.extendable(j.run) if j.state in ("done", "stopped") else None
    if have is not None:  # a steady-lr run continues to the weights a longer run would reach
        e = st.columns([2, 1, 3], vertical_alignment="bottom")
        classified = get(architecture(j.config or {})).capabilities.classifier
        more = e[0].number_input("Supervised epochs in all" if classified else "Epochs in all", have + 1, 100_000,
                                 2 * have or 1, key=f"more-{name}",
                                 help="Continues from the checkpoint, at the run's steady lr, to the weights a run "
                                      "asked for this many epochs from the start would have. The run keeps its name.")
        if e[1].button("Train longer", key=f"extend-{name}"):
            try:
                jobs.extend(j.run, int(more))
            except jobs.JobError as err:
                st.error(plain(err))
    with st.expander("Name and note"):
        with st.form(f"about-{name}"):
            title = st.text_input("Name", abouts[name]["name"], max_chars=jobs.TITLE_MAX)
            note = st.text_area("Note", abouts[name]["note"], max_chars=jobs.NOTE_MAX, height=80)
            if st.form_submit_button("Save"):
                try:
                    jobs.describe(j.run, title, note)
                    st.rerun(scope="app")  # the model picker shows the new name
                except jobs.JobError as err:
                    st.error(plain(err))
    if j.message and j.state == "failed":
        st.error(plain(j.message))
    elif j.message.startswith("stopped early"):  # a sweep engine's early stop: why it ended before its epochs
        st.info(f"{plain(name)} {plain(j.message)}; Resume trains it on.")
    rows = runs.read_metrics(j.run)
    if rows:
        cfg = runs.read_config(j.run) or {}  # not damaged: job() read it
        run_family = of_saved(cfg)
        held_out = cfg.get("data", {}).get("val_held_out", True)
        _curves(rows, held_out, name, run_family)
        shown = [(label, k, fmt) for label, k, fmt in run_family.headline if rows[-1].get(k) is not None][:1]
        for label, k, fmt in shown:  # the number the family is watched by: its error, its bound...
            c[2].metric(label if held_out else f"{label} (trained on)", fmt.format(rows[-1][k]))
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
            _curves(rows, e.settings.get("data.val_held_out", True), e.folder.name, get(e.architecture),
                    key="tr-embedded")
        else:
            st.caption("Its training curves did not ship with it.")


embedded()
