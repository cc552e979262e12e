"""Experiments: rerun the paper's MNIST experiments and put this run's numbers beside the paper's."""

import pandas as pd
import streamlit as st

from kdviz import plots, runs
from kdviz.experiments import (
    DEFAULT,
    EXPERIMENTS,
    PRESETS,
    Result,
    describe_seconds,
    estimated_seconds,
    settings_table,
)
from kdviz.footprint import tradeoff
from pages.ui.layout import app_settings, cache_dir, data_or_stop, device_control, setup_page
from pages.ui.links import parse_choice, url_notice, url_state, write_url
from pages.ui.runs import footprints, progress_line, redraw_once_finished, session_run, start_run


def parse_names(raw: str) -> list[str]:
    names = [n for n in raw.split(",") if n]
    if not names or set(names) - set(EXPERIMENTS):
        raise ValueError(raw)
    return names


setup_page("Experiments")
st.title("The paper's experiments")
st.write(
    "Hinton, Vinyals & Dean (2015) report a handful of MNIST numbers. This page reruns each experiment "
    "with the paper's teacher that ships with kdviz and shows **this run's number next to the paper's**, "
    "and whether each of the paper's effects showed up, then what its title promises: an ensemble of "
    "teachers distilled into one student. The *quick* preset fits a laptop CPU in a few "
    "minutes (shorter student training: expect the same effects, not the same digits); *full* trains the "
    "students like the paper, over 3 seeds, and adds consistent teaching, which goes beyond the paper."
)
limits = app_settings().limits
# quick and full for everyone; a KDVIZ_EXPERIMENTS_PRESET such as tiny (seconds, for tests) is added
presets = [
    p
    for p in dict.fromkeys(["quick", "full", app_settings().experiments_preset])
    if p in limits.experiment_presets
]
default_preset = (
    app_settings().experiments_preset if app_settings().experiments_preset in presets else presets[0]
)
url_state(
    "experiments",
    {"preset": (default_preset, parse_choice(presets)), "only": (list(DEFAULT), parse_names)},
)
url_notice("experiments")
for name in EXPERIMENTS:  # the link's list, once per visit; the boxes keep the user's changes after
    st.session_state.setdefault(f"exp_{name}", name in st.session_state["only"])
if app_settings().classroom:
    st.caption("Classroom mode (KDVIZ_CLASSROOM=1): the full preset (an hour on a CPU) is not offered.")
device = device_control()
data = data_or_stop(device)

job = session_run("exp_job")
busy = bool(job and not job.finished)
c1, c2 = st.columns([1, 3])
preset = c1.radio(
    "Preset",
    presets,
    key="preset",
    disabled=busy,
    help="quick: minutes on a CPU; full: paper-like student training over 3 seeds",
)
with c2:  # a list a person can read, not chips that overflow
    st.write("Experiments")
    chosen = [n for n, (title, _) in EXPERIMENTS.items() if st.checkbox(title, key=f"exp_{n}", disabled=busy)]
write_url({"preset": preset, "only": ",".join(chosen)})
with st.expander("Settings of this preset"):
    st.dataframe(settings_table(PRESETS[preset]), hide_index=True, width="stretch")
estimate = estimated_seconds(preset, chosen, device)
if estimate is not None:
    (st.warning if estimate > 900 else st.caption)(
        f"This run takes about {describe_seconds(estimate)} on this device ({device.upper()})."
    )

b1, b2, _ = st.columns([1.6, 1, 1.4])
if b1.button("Run experiments", type="primary", disabled=busy or not chosen):
    run = runs.ExperimentsRun(preset, tuple(chosen))

    def work(job, run=run):
        # a new experiment starts its own progress bar, not at the last one's "epoch 20 of 20"
        return runs.experiments(
            run,
            data,
            cache_dir(),
            job.report,
            job.should_stop,
            on_step=lambda r: setattr(job, "latest", None),
        )

    start_run("exp_job", device, "experiments", work, details=run)
    st.rerun()
if b2.button("Stop", disabled=not busy):
    job.queue.cancel(job)
    st.rerun()


def size_panel(r: Result, finished: bool) -> None:
    """What the small model buys: the result's models side by side (kdviz.footprint)."""
    st.markdown("**What the small model buys**")
    if not finished:  # timing while the run trains would time the training too
        st.caption("The sizes and inference times appear when the run has ended.")
        return
    shape = {m["model"]: "-".join(map(str, m["hidden"])) for m in r.models}
    shapes = {shape[m["model"]]: tuple(m["hidden"]) for m in r.models}  # each shape timed once
    measured = {f.name: f.row() for f in footprints(tuple(shapes.items()), device)}
    table = [
        measured[shape[m["model"]]] | {"model": m["model"], "test errors": m["test errors"]} for m in r.models
    ]
    left, right = st.columns([3, 2])
    left.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    left.caption(
        "Measured on this machine, every shape in one go (median of 15 rounds): inference time per "
        "image for one image at a time and for a batch of 256. Sizes are the weights as safetensors."
    )
    points = [(m["model"], m["hidden"], m["test errors"]) for m in r.models]
    right.plotly_chart(plots.size_tradeoff(tradeoff(points)), width="stretch")


def show(r: Result, finished: bool) -> None:
    st.subheader(EXPERIMENTS[r.name][0])
    table = r.table(as_text=True)
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
    fig = plots.experiment_figure(r.name, r.curve, len(data.test_y))
    if fig is not None:
        right.plotly_chart(fig, width="stretch")
    if r.models:
        size_panel(r, finished)


# Finished results are drawn by full page runs only: redrawing every table and chart each second
# from the fragment slowed the training (quick preset in Chromium on 2 cores: 6 min, now 5). The
# fragment draws the progress bar and asks for one full run when a result lands or the run ends.
shown = list(job.details.results) if job else []
st.session_state["exp_shown"] = len(shown)


@st.fragment(run_every=1.0 if busy else None)
def live():
    job = session_run("exp_job")
    if job is None:
        st.info("Choose experiments and press **Run experiments**. Results appear one by one.")
        return
    if not job.finished:
        st.progress(
            job.latest.fraction if job.latest else 0.0,
            text=f"{job.details.title or 'starting'}: {progress_line(job)}",
        )
        if len(job.details.results) != st.session_state["exp_shown"]:
            st.rerun()  # a new result: draw it once, outside this fragment
    redraw_once_finished(job)


live()
if job is not None:
    if job.status == "failed":
        st.error(f"The experiments failed: {job.error}")
    elif job.status == "stopped":
        st.warning("Stopped: results so far are below.")
    for r in shown:
        show(r, job.finished)
    if job.status == "done" and shown:
        st.success(
            f"Done: {len(shown)} experiment(s) in {describe_seconds(job.details.seconds)} "
            f"({job.details.preset} preset, every second of the run)."
        )
