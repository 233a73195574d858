import time

import numpy as np
import streamlit as st

from models import jobs, runs
from models.drsae import C_BOUNDS, DrSAEConfig
from models.train import TRAIN_ON, TrainConfig
from ui import figures
from ui.state import sidebar

st.title("Training")
sidebar(required=False)
st.caption("Runs train in the background, in their own process: leave this page, close the tab, open a new "
           "one — the run goes on and every tab sees it. The same settings never start two trainers.")

M, TC = DrSAEConfig(), TrainConfig()  # the form starts from the CLI's defaults: one recipe
with st.form("train-form"):
    c = st.columns(4)
    hidden = c[0].number_input("Hidden units", 8, 2000, M.hidden, 8)
    unroll = c[1].number_input("Unroll T", 1, 50, M.unroll)
    lam = c[2].number_input("Sparsity λ", 0.0, 5.0, M.sparsity, 0.01, format="%.3f")
    lr = c[3].number_input("Learning rate", 1e-5, 1.0, TC.lr, format="%.4f")
    c = st.columns(4)
    pre = c[0].number_input("Pre-training epochs (L_U)", 0, 500, TC.pretrain_epochs)
    sup = c[1].number_input("Supervised epochs (L_U + L_S)", 0, 2000, TC.epochs)
    batch = c[2].number_input("Batch size", 1, 4096, TC.batch_size)
    limit = c[3].number_input("Digits per split (0 = all)", 0, 50_000, 0, 1000)
    c = st.columns(4)
    bounds = {"unit": "each unit's weights C[:, i]", "class": "each class's weights C[k, :]"}
    c_bound = c[0].selectbox("‖C‖ ≤ 5 bounds", list(C_BOUNDS), list(C_BOUNDS).index(M.c_bound), format_func=bounds.get,
                             help="Per class, a class's whole budget piles onto one unit and caps its logit at 5: "
                                  "see the README's results.")
    sup_weight = c[1].number_input("L_S weight (L_U + w·L_S)", 0.0, 100.0, TC.sup_weight, 0.1)
    sets = {"split": "50k digits (10k held out)", "all": "all 60k (final fit)"}
    train_on = c[2].selectbox("Train on", list(TRAIN_ON), list(TRAIN_ON).index(TC.train_on), format_func=sets.get,
                              help="The final fit also trains on the 10k validation digits, at an epoch count "
                                   "chosen on the split: its validation error is then a training error.")
    ema = c[3].number_input("Weight average (EMA decay)", 0.0, 0.99999, TC.ema, 0.0001, format="%.5f",
                            help="Per-step decay of a moving average of the weights; the average is the model "
                                 "validated and saved. 0 = off.")
    submitted = st.form_submit_button("Start training", type="primary")
if submitted:
    try:
        mc = DrSAEConfig(hidden=int(hidden), unroll=int(unroll), sparsity=float(lam), c_bound=c_bound)
        tc = TrainConfig(pretrain_epochs=int(pre), epochs=int(sup), batch_size=int(batch), lr=float(lr),
                         sup_weight=float(sup_weight), train_on=train_on, ema=float(ema),
                         limit=int(limit) or None)
        if tc.total_epochs == 0:
            raise jobs.JobError("ask for at least one epoch")
        j = jobs.start(mc, tc)
        st.success(f"{j.name} is {'already ' if j.message != 'starting' else ''}running.")
    except jobs.JobError as e:
        st.error(str(e))


def _fmt_eta(s):
    return "—" if s is None else time.strftime("%H:%M:%S", time.gmtime(max(0, s)))


def _curves(rows: list[dict], held_out: bool):
    ep = np.array([r["epoch"] + 1 for r in rows])
    col = lambda k: np.array([r[k] for r in rows], dtype=float)  # noqa: E731
    c = st.columns(3)
    c[0].plotly_chart(figures.lines(ep, {"L_U train": col("train_unsup"), "L_U val": col("val_unsup"),
                                         "L_S train": col("train_sup"), "L_S val": col("val_sup")},
                                    "Losses", "epoch", log_y=True), key="tr-loss")
    title = "Validation error" if held_out else "Error on the validation digits (trained on)"
    c[1].plotly_chart(figures.lines(ep, {"validation error (%)": col("val_error")}, title, "epoch",
                                    log_y=True), key="tr-err")
    c[2].plotly_chart(figures.lines(ep, {"active units": col("val_active")}, "Mean active units", "epoch"),
                      key="tr-active")


@st.fragment(run_every=2.0)
def live():
    """Polls the run folders on disk every 2 s (AppTest skips fragments: the polling is tested in test_jobs)."""
    all_jobs = jobs.list_jobs()
    if not all_jobs:
        st.info("No runs yet.")
        return
    names = [j.name for j in all_jobs]
    name = st.selectbox("Run", names, key="tr-run")
    j = next(x for x in all_jobs if x.name == name)
    c = st.columns([3, 1, 1])
    c[0].progress(j.progress, text=f"{j.state} · epoch {min(j.epoch + 1, j.total_epochs)}/{j.total_epochs} · "
                                   f"time left {_fmt_eta(j.eta if j.state == 'running' else None)}")
    if j.state == "running":
        if c[1].button("Stop", key=f"stop-{name}"):
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
        held_out = (runs.read_config(j.run) or {}).get("data", {}).get("val_held_out", True)
        _curves(rows, held_out)
        c[2].metric("Validation error" if held_out else "Val. digits' error (trained on)", f"{rows[-1]['val_error']:.2f} %")
    else:
        st.caption("The first epoch's numbers appear here when it ends.")


live()
