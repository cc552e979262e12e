"""Experiments: rerun the paper's MNIST experiments and put this run's numbers beside the paper's."""

import os
import time

import streamlit as st

from kdviz import plots
from kdviz.experiments import (
    EXPERIMENTS,
    PRESETS,
    Result,
    describe_seconds,
    estimated_seconds,
    run_all,
    settings_table,
)
from pages import cache_dir, data_or_stop, device_control, job_queue, progress_line, setup_page

setup_page("Experiments")
st.title("The paper's experiments")
st.write(
    "Hinton, Vinyals & Dean (2015) report a handful of MNIST numbers. This page reruns each experiment "
    "with the paper's teacher that ships with kdviz and shows **this run's number next to the paper's**, "
    "and whether each of the paper's effects showed up. The *quick* preset fits a laptop CPU in a few "
    "minutes (shorter student training: expect the same effects, not the same digits); *full* trains the "
    "students like the paper, over 3 seeds, and adds consistent teaching, which goes beyond the paper."
)
device = device_control()
data = data_or_stop(device)
queue = job_queue()

env_preset = os.environ.get("KDVIZ_EXPERIMENTS_PRESET", "")
presets = ["quick", "full"] + (
    [env_preset] if env_preset in PRESETS and env_preset not in ("quick", "full") else []
)
c1, c2 = st.columns([1, 3])
preset = c1.radio(
    "Preset",
    presets,
    index=presets.index(env_preset) if env_preset in presets else 0,
    help="quick: minutes on a CPU; full: paper-like student training over 3 seeds",
)
chosen = c2.multiselect(
    "Experiments", list(EXPERIMENTS), default=list(EXPERIMENTS), format_func=lambda n: EXPERIMENTS[n][0]
)
settings = PRESETS[preset]
with st.expander("Settings of this preset"):
    st.dataframe(settings_table(settings), hide_index=True, width="stretch")
estimate = estimated_seconds(preset, chosen, device)
if estimate is not None:
    (st.warning if estimate > 900 else st.caption)(
        f"This run takes about {describe_seconds(estimate)} on this device ({device.upper()})."
    )

run = st.session_state.get("exp_run")  # {"job": id, "results": [...], "current": name}
job = queue.get(run["job"]) if run else None
busy = bool(job and not job.finished)
b1, b2, _ = st.columns([1, 1, 4])
if b1.button("Run experiments", type="primary", disabled=busy or not chosen):
    state = {"results": [], "current": "", "preset": preset}

    def work(job, settings=settings, only=tuple(chosen), state=state):
        def start(name):
            state["current"] = name

        began = time.perf_counter()
        for result in run_all(data, settings, cache_dir(), job.report, job.should_stop, only, start):
            state["results"].append(result)
        state["seconds"] = time.perf_counter() - began  # all of it: teacher, logits, every experiment
        return len(state["results"])

    state["job"] = queue.submit(f"experiments:{time.time_ns()}", "experiments", work).id
    st.session_state["exp_run"] = state
    st.rerun()
if b2.button("Stop", disabled=not busy):
    queue.cancel(job)


def fmt(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return f"{v:g}" if isinstance(v, float) else str(v)


def show(r: Result) -> None:
    st.subheader(EXPERIMENTS[r.name][0])
    table = r.table()
    for col in ("this run", "paper"):  # one text column: numbers and words mix
        table[col] = [fmt(v) for v in table[col]]
    left, right = st.columns([3, 2])
    left.dataframe(table, width="stretch", hide_index=True)
    for check in r.checks:
        # Streamlit's bundled icons: emoji need a font that classroom machines may lack
        icon = ":material/check_circle: Shown" if check["holds"] else ":material/cancel: Not shown"
        left.markdown(f"{icon}: the paper's effect that {check['effect']}.")
    for note in r.notes:
        left.caption(note)
    settings_text = ", ".join(f"{k} {v}" for k, v in r.settings.items())
    left.caption(f"Settings: {settings_text}. Seed {r.seed}, {r.seconds:.1f} s.")
    if r.curve is None:
        return
    if r.name in ("omit3", "only78"):
        fig = plots.bias_sweep(r.curve, len(data.test_y))
    elif r.name == "temperature":
        fig = plots.grouped_lines(
            r.curve, "T", "errors", "student", "Test errors vs T", "T (log scale)", "test errors", True
        )
    elif r.name == "matching":
        fig = plots.grouped_lines(
            r.curve,
            "T",
            "cosine",
            "student",
            "Soft-loss gradient vs logit matching",
            "T (log scale)",
            "cosine",
            True,
        )
    else:
        fig = plots.grouped_lines(
            r.curve, "images", "errors", "student", "Few labels", "labelled images", "test errors", True
        )
    right.plotly_chart(fig, width="stretch")


@st.fragment(run_every=1.0 if busy else None)
def live():
    run = st.session_state.get("exp_run")
    job = queue.get(run["job"]) if run else None
    if run is None:
        st.info("Choose experiments and press **Run experiments**. Results appear one by one.")
        return
    if job is not None:
        job.touch()
        place = queue.position(job)
        if place:
            st.progress(0.0, text=f"Waiting for the trainer: {place - 1} run(s) ahead of yours")
        elif not job.finished:
            name = run["current"]
            what = "teacher" if name == "teacher" else EXPERIMENTS.get(name, (name,))[0]
            st.progress(job.latest.fraction if job.latest else 0.0, text=f"{what}: {progress_line(job)}")
        if job.status == "failed":
            st.error(f"The experiments failed: {job.error}")
        elif job.status == "stopped":
            st.warning("Stopped: results so far are below.")
    for r in list(run["results"]):
        show(r)
    if job is not None and job.finished and job.status == "done" and run["results"]:
        st.success(
            f"Done: {len(run['results'])} experiment(s) in {describe_seconds(run['seconds'])} "
            f"({run['preset']} preset, every second of the run)."
        )
    if job is not None and job.finished and not run.get("redrawn"):
        run["redrawn"] = True
        st.rerun()  # redraw the buttons and stop polling


live()
