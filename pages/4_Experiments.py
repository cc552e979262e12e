"""Experiments: rerun the paper's MNIST experiments and put this run's numbers beside the paper's."""

import pandas as pd
import streamlit as st

from kdviz import plots, runs
from kdviz.footprint import tradeoff
from kdviz.i18n import N_, _
from kdviz.links import parse_choice
from kdviz.recipes import RECIPES, recipe_table
from kdviz.timing import describe_seconds, estimated_seconds
from pages.ui.layout import cache_dir, chart, data_or_stop, device_control, env, fragment, setup_page
from pages.ui.session import footprints, progress_line, redraw_once_finished, session_run, start_run
from pages.ui.url import url_notice, url_state, write_url


def parse_names(raw: str) -> list[str]:
    return list(runs.check_names([n for n in raw.split(",") if n]))


setup_page("Experiments")
st.title(_("The paper's experiments"))
st.write(
    _(
        "Hinton, Vinyals & Dean (2015) report a handful of MNIST numbers. This page reruns each experiment "
        "with the paper's teacher that ships with kdviz and shows **this run's number next to the paper's**, "
        "and whether each of the paper's effects showed up, then what its title promises: an ensemble of "
        "teachers distilled into one student. The *quick* preset fits a laptop CPU in a few "
        "minutes (shorter student training: expect the same effects, not the same digits); *full* trains the "
        "students like the paper, over 3 seeds, and goes beyond the paper with consistent teaching, each "
        "beside a labels-only student on the very same views (on the teacher's own elastic distortions "
        "too): a fair comparison, whichever way it comes out."
    )
)
limits = env().limits
# quick and full for everyone; a KDVIZ_EXPERIMENTS_PRESET such as tiny (seconds, for tests) is added
presets = [
    p for p in dict.fromkeys(["quick", "full", env().experiments_preset]) if p in limits.experiment_presets
]
default_preset = env().experiments_preset if env().experiments_preset in presets else presets[0]
if url_state(
    "experiments",
    {"preset": (default_preset, parse_choice(presets)), "only": (list(runs.DEFAULT), parse_names)},
):
    for name in runs.EXPERIMENTS:  # settings (re)applied: the boxes follow the restored list
        st.session_state.pop(f"exp_{name}", None)
url_notice("experiments", {"preset": _("Preset"), "only": _("Experiments")})
for name in runs.EXPERIMENTS:  # the link's list, once per visit; the boxes keep the user's changes after
    st.session_state.setdefault(f"exp_{name}", name in st.session_state["only"])
if env().classroom:
    st.caption(_("Classroom mode (KDVIZ_CLASSROOM=1): the full preset (an hour on a CPU) is not offered."))
device = device_control()
data = data_or_stop(device)

job = session_run("exp_job")
busy = bool(job and not job.finished)
c1, c2 = st.columns([1, 3])
preset = c1.radio(
    _("Preset"),
    presets,
    key="preset",
    disabled=busy,
    # labels made now, in this run's language (a format_func is also called outside the run: AppTest);
    # the names are marked for translation in kdviz.env
    format_func={p: _(p) for p in presets}.get,
    help=_("quick: minutes on a CPU; full: paper-like student training over 3 seeds"),
)
with c2:  # a list a person can read, not chips that overflow
    st.write(_("Experiments"))
    chosen = [
        n for n, e in runs.EXPERIMENTS.items() if st.checkbox(_(e.title), key=f"exp_{n}", disabled=busy)
    ]
write_url({"preset": preset, "only": ",".join(chosen)})
with st.expander(_("Settings of this preset")):
    st.dataframe(recipe_table(RECIPES[preset]), hide_index=True, width="stretch")
estimate = estimated_seconds(preset, chosen, device)
if estimate is not None and not busy:  # while it runs, the progress line says what is left
    (st.warning if estimate > 900 else st.caption)(
        _("This run takes about {time} on this device ({device}).").format(
            time=describe_seconds(estimate), device=device.upper()
        )
    )

b1, b2, _gap = st.columns([1.6, 1, 1.4])
if b1.button(_("Run experiments"), type="primary", disabled=busy or not chosen):
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

    if start_run("exp_job", device, "experiments", work, details=run, estimate=estimate):
        st.rerun()
if b2.button(_("Stop"), disabled=not busy):
    job.queue.cancel(job)
    st.rerun()


def size_panel(r: runs.Result, finished: bool) -> None:
    """What the small model buys: the result's models side by side (kdviz.footprint)."""
    st.markdown(_("**What the small model buys**"))
    if not finished:  # timing while the run trains would time the training too
        st.caption(_("The sizes and inference times appear when the run has ended."))
        return
    shape = {m["model"]: runs.shape_name(m["hidden"]) for m in r.models}
    shapes = {shape[m["model"]]: tuple(m["hidden"]) for m in r.models}  # each shape timed once
    measured = {f.name: f.row() for f in footprints(tuple(shapes.items()), device)}
    table = [
        measured[shape[m["model"]]] | {N_("model"): m["model"], N_("test errors"): m["test errors"]}
        for m in r.models
    ]
    left, right = st.columns([3, 2])
    left.dataframe(pd.DataFrame(table).rename(columns=_), hide_index=True, width="stretch")
    left.caption(
        _(
            "Measured on this machine, every shape in one go (median of 15 rounds): inference time per "
            "image for one image at a time and for a batch of 256. Sizes are the weights as safetensors."
        )
    )
    points = [(m["model"], m["hidden"], m["test errors"]) for m in r.models]
    chart(plots.size_tradeoff(tradeoff(points)), right)


def show(r: runs.Result, finished: bool) -> None:
    st.subheader(_(runs.EXPERIMENTS[r.name].title))
    table = r.table(as_text=True).rename(columns=_)  # the columns' keys in this page's language
    left, right = st.columns([3, 2])
    left.dataframe(table, width="stretch", hide_index=True)
    for check in r.checks:
        # Streamlit's bundled icons: emoji need a font that classroom machines may lack
        if check["holds"]:
            line = _("Shown: the paper's effect that {effect}.")
            icon = ":material/check_circle:"
        else:
            line = _("Not shown: the paper's effect that {effect}.")
            icon = ":material/cancel:"
        # _() again: a result made before the language changed still reads in this page's language
        left.markdown(f"{icon} " + line.format(effect=_(check["effect"])))
    for note in r.notes:
        left.caption(_(note))
    # the setup's keys (and word values such as "probabilities") are marked in kdviz.experiments
    setup = ", ".join(f"{_(k)} {_(v) if isinstance(v, str) and v else v}" for k, v in r.setup.items())
    left.caption(
        _("Settings: {settings}. Seed {seed}, {seconds:.1f} s.").format(
            settings=setup, seed=r.seed, seconds=r.seconds
        )
    )
    fig = plots.experiment_figure(r.name, r.curve, len(data.test_y))
    if fig is not None:
        chart(fig, right)
    if r.models:
        size_panel(r, finished)


# Finished results are drawn by full page runs only: redrawing every table and chart each second
# from the fragment slowed the training (quick preset in Chromium on 2 cores: 6 min, now 5). The
# fragment draws the progress bar and asks for one full run when a result lands or the run ends.
shown = list(job.details.results) if job else []
st.session_state["exp_shown"] = len(shown)


@fragment(run_every=1.0 if busy else None)
def live():
    job = session_run("exp_job")
    if job is None:
        st.info(_("Choose experiments and press **Run experiments**. Results appear one by one."))
        return
    if not job.finished:
        run, ev = job.details, job.latest
        step_left = job.seconds_left()
        left = None if step_left is None else run.seconds_left(step_left, device)
        st.progress(
            ev.fraction if ev else 0.0,
            text=(
                _("experiment {number} of {count}, {title}: {progress}").format(
                    number=run.number, count=len(run.only), title=run.title, progress=progress_line(job)
                )
                if run.number
                else f"{run.title}: {progress_line(job)}"
            )
            + (_("; about {time} left in all").format(time=describe_seconds(left)) if left else ""),
        )
        if len(job.details.results) != st.session_state["exp_shown"]:
            st.rerun()  # a new result: draw it once, outside this fragment
    redraw_once_finished(job)


live()
if job is not None:
    if job.status == "failed":
        st.error(_("The experiments failed: {error}").format(error=job.error))
    elif job.status == "stopped":
        st.warning(_("Stopped: results so far are below."))
    for r in shown:
        show(r, job.finished)
    if job.status == "done" and shown:
        st.success(
            _("Done: {n} experiment(s) in {time} ({preset} preset, every second of the run).").format(
                n=len(shown),
                time=describe_seconds(job.details.seconds),
                preset=_(job.details.preset),
            )
        )
