"""Streamlit helpers the pages share: page setup, the log-T control, URL state.

Streamlit's page discovery skips `__init__.py`, so this module is shared code, not a page.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from kdviz import settings
from kdviz.jobs import Job, JobQueue
from kdviz.settings import AppSettings, SettingsError
from kdviz.teacher import Teacher
from kdviz.temperature import log_grid

T_OPTIONS = log_grid(0.1, 100.0)


# The sidebar menu, in teaching order. Streamlit's own page list (hidden in .streamlit/config.toml)
# would call the home page "app" after app.py; st.navigation could rename it, but Streamlit only
# honours it once a session has opened the home page, not for a first visit to a shared link.
MENU = (
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Temperature.py", "Temperature", ":material/thermostat:"),
    ("pages/2_Dark_Knowledge.py", "Dark knowledge", ":material/visibility:"),
    ("pages/3_Distillation_Lab.py", "Distillation Lab", ":material/science:"),
    ("pages/4_Experiments.py", "Experiments", ":material/analytics:"),
)


def setup_page(title: str) -> None:
    st.set_page_config(page_title=f"{title} · kdviz", page_icon="🌡️", layout="wide")
    app_settings()  # a malformed KDVIZ_* variable stops every page with one clear message
    try:
        for path, label, icon in MENU:
            st.sidebar.page_link(path, label=label, icon=icon)
        st.sidebar.divider()
    except st.errors.StreamlitAPIException:
        pass  # AppTest runs a page file as its own main script: there is no app to link to
    with st.sidebar:
        my_runs()


def app_settings() -> AppSettings:
    """The server's KDVIZ_* settings (kdviz.settings); a malformed one stops the page, saying which."""
    try:
        return settings.current()
    except SettingsError as e:
        st.error(f"kdviz cannot use its settings: {e}. Fix the variable and restart the app.")
        st.stop()


def nearest_t(value: float) -> float:
    """Snap any T to the control's grid (log distance)."""
    return min(T_OPTIONS, key=lambda t: abs(math.log(t) - math.log(value)))


def t_control(key: str, label: str = "Temperature T (logarithmic)", disabled: bool = False) -> float:
    """A T control usable over 0.1-100: log-spaced stops, current value shown."""
    return st.select_slider(
        label,
        options=T_OPTIONS,
        key=key,
        disabled=disabled,
        format_func=lambda t: f"{t:g}",
        help="Stops are spaced logarithmically so T = 1-5, where most of the change happens, "
        "gets as much room as T = 10-100.",
    )


def url_state(page: str, fields: dict) -> None:
    """Seed widget state from the URL once per page visit.

    `fields` maps a widget key to (default, parse); parse raises ValueError on a bad
    value, which falls back to the default with a notice on the page.
    """
    flag = f"_url_loaded_{page}"
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    bad = []
    for key, (default, parse) in fields.items():
        raw = st.query_params.get(key)
        value = default
        if raw is not None:
            try:
                value = parse(raw)
            except (TypeError, ValueError):
                bad.append(key)
        st.session_state[key] = value
    if bad:
        st.session_state[f"_url_bad_{page}"] = bad


def url_notice(page: str) -> None:
    bad = st.session_state.pop(f"_url_bad_{page}", None)
    if bad:
        st.warning(
            f"The link had values this page cannot use ({', '.join(bad)}); showing defaults for those."
        )


def write_url(values: dict) -> None:
    """Mirror the current settings into the URL so the link reproduces this view."""
    text = {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in values.items()}
    if {k: st.query_params.get(k) for k in text} != text:
        st.query_params.update(text)


def parse_choice(options, cast=str):
    """A URL parser accepting only `options` (after `cast`); anything else -> the default."""

    def parse(raw):
        value = cast(raw)
        if value not in options:
            raise ValueError(raw)
        return value

    return parse


def parse_t(raw: str) -> float:
    """A T from a link: a finite number in the control's range (else ValueError -> default)."""
    from kdviz.temperature import check_temperature

    t = check_temperature(float(raw))
    if not T_OPTIONS[0] <= t <= T_OPTIONS[-1]:
        raise ValueError(f"T = {t:g} is outside {T_OPTIONS[0]:g}-{T_OPTIONS[-1]:g}")
    return nearest_t(t)


def data_dir() -> str:
    return str(app_settings().mnist_dir)


# Core objects shared by every session of this server process.
@st.cache_resource(show_spinner="Loading MNIST onto the device...")
def load_data(data_dir: str | None, device: str):
    from kdviz.data import load_mnist

    return load_mnist(data_dir, device)


def device_control() -> str:
    """The sidebar's device menu: the best device first (CUDA, then MPS, then the CPU)."""
    from kdviz.device import available

    return st.sidebar.selectbox(
        "Device", available(), help="CUDA GPU or Apple MPS when present, else the CPU"
    )


def data_or_stop(device: str = "cpu"):
    """The dataset, or a clear message saying what to do and st.stop()."""
    from kdviz.data import DataError

    try:
        return load_data(data_dir(), device)
    except DataError as e:
        st.error(str(e))
        st.info(
            "To use the MNIST pages: on a machine with internet run `kdviz download`; offline, start the "
            "app with `KDVIZ_DATA_DIR=/path/to/folder/with/the/four/mnist/files kdviz app`."
        )
        st.stop()


@st.cache_resource
def job_queue(device: str) -> JobQueue:
    """One queue per device for the whole server: runs take turns instead of fighting for cores.
    Sized by the device the run uses (a CPU run on a GPU machine still waits for the CPU)."""
    on_cpu = device == "cpu"
    if on_cpu:
        # Training threads run at low priority; in classroom mode they also leave a core to the
        # page reruns (on 2 cores that halves training speed).
        import torch

        torch.set_num_threads(app_settings().threads_for(os.cpu_count() or 2))
    return JobQueue(max_running=app_settings().max_runs_for(device), nice=10 if on_cpu else 0)


def start_run(slot: str, device: str, label: str, work, details=None) -> Job:
    """Queue `work(job)` on the device's queue as this session's run in `slot` (RUN_SLOTS)."""
    job = job_queue(device).submit(f"{label}:{time.time_ns()}", label, work, details)
    st.session_state[slot] = (device, job.id)
    return job


def redraw_once_finished(job: Job) -> None:
    """From a live fragment: when the run has ended (done, stopped or failed), rerun the whole page
    once, so its buttons and inputs unlock and the polling stops."""
    if job.finished and st.session_state.get(f"_redrawn_{job.id}") is None:
        st.session_state[f"_redrawn_{job.id}"] = True
        st.rerun()


def session_run(slot: str) -> Job | None:
    """This session's latest run in `slot`, if the server still remembers it."""
    held = st.session_state.get(slot)
    return job_queue(held[0]).get(held[1]) if held else None


def my_runs() -> None:
    """Keep this browser session's runs alive from any page, and say how they are doing.

    A run stops when nobody has asked about it for a minute (JobQueue.abandon_after): the tab
    was closed. While the session lives, this fragment asks every few seconds, whichever page
    is open."""
    jobs = [j for slot in RUN_SLOTS if (j := session_run(slot)) is not None and not j.finished]

    @st.fragment(run_every=5.0 if jobs else None)
    def heartbeat():
        for slot in RUN_SLOTS:
            job = session_run(slot)
            if job is not None and not job.finished:
                job.touch()
                st.caption(f"Your {job.label}: {progress_line(job)}")

    heartbeat()


RUN_SLOTS = ("teacher_job", "lab_job", "exp_job")


@st.cache_resource(max_entries=8)
def load_teacher_cached(path: str, mtime: float, device: str):
    """A cached checkpoint, or the shipped teacher with its test errors measured on this data."""
    from kdviz.shipped import load_shipped
    from kdviz.teacher import load_teacher

    if path.endswith(".safetensors"):
        return load_shipped(load_data(data_dir(), device), path)
    return load_teacher(path, device)


@st.cache_resource(max_entries=8)
def teacher_logits(path: str, mtime: float, device: str, split: str):
    """The frozen teacher's logits for a whole split, computed once per teacher."""
    data = load_data(data_dir(), device)
    x = data.train_x if split == "train" else data.test_x
    return load_teacher_cached(path, mtime, device).logits(x)


def cache_dir() -> str:
    return str(app_settings().cache_dir)


def progress_line(job: Job) -> str:
    if job.status == "queued":
        ahead = job.queue.ahead(job) if job.queue else 0
        return f"waiting for the trainer: {ahead} run(s) ahead of yours"
    ev = job.latest
    if ev is None:
        return "starting..."
    eta = f", about {ev.eta:.0f} s left" if ev.step and math.isfinite(ev.eta) else ""
    return f"epoch {min(ev.epoch + 1, ev.epochs)} of {ev.epochs}, {ev.elapsed:.0f} s elapsed{eta}"


@st.cache_resource(max_entries=4)
def _teacher_choices(folder: str | None, listing: tuple) -> dict[str, str]:
    from kdviz.teacher import TeacherSpec, cached_teachers, checkpoint_path

    default = checkpoint_path(TeacherSpec(), folder)
    found = {str(p): text for p, spec, text in cached_teachers(folder) if spec is not None}
    out = {str(default): f"Quick teacher: {found.pop(str(default))}"} if str(default) in found else {}
    return out | found


@st.cache_resource(max_entries=2)
def _shipped_problem(path: str, mtimes: tuple) -> str | None:
    from kdviz.shipped import load_shipped
    from kdviz.teacher import CheckpointError

    try:
        load_shipped(None, path)  # hash and shapes; the test errors are measured when it is used
    except CheckpointError as e:
        return str(e)
    return None


def shipped_problem() -> str | None:
    """Why the shipped paper teacher cannot be used, or None when it can."""
    from kdviz.shipped import WEIGHTS, card_path

    try:
        mtimes = (WEIGHTS.stat().st_mtime, card_path(WEIGHTS).stat().st_mtime)
    except OSError:
        return f"the shipped teacher {WEIGHTS.name} or its card is missing from this installation"
    return _shipped_problem(str(WEIGHTS), mtimes)


def shipped_notice() -> None:
    problem = shipped_problem()
    if problem:
        st.warning(
            f"The shipped paper teacher cannot be used: {problem}. A teacher trained here is used instead."
        )


def teacher_choices(folder: str | None) -> dict[str, str]:
    """Usable teachers (path -> description): the shipped paper teacher first, then the cache's.
    Cached by the folder's listing, so checkpoints are opened only when a file appears or changes."""
    from kdviz.shipped import WEIGHTS
    from kdviz.teacher import checkpoints

    shipped = {} if shipped_problem() else {str(WEIGHTS): "Paper teacher, shipped with kdviz (1200-1200)"}
    return shipped | _teacher_choices(folder, tuple((p.name, mtime) for p, mtime in checkpoints(folder)))


@dataclass(frozen=True)
class TeacherChoice:
    path: Path
    mtime: float
    teacher: Teacher

    def logits(self, device: str, split: str):
        """The teacher's logits for a whole split, computed once per checkpoint (cached)."""
        return teacher_logits(str(self.path), self.mtime, device, split)


def choose_teacher(device: str, trainable: dict[str, str] | None = None) -> TeacherChoice | Path:
    """The Dark knowledge page's and the Lab's teacher menu: the shipped paper teacher first,
    then the cached ones, plus `trainable` (path -> label) teachers that may not exist yet.

    Returns the loaded choice, or the chosen path when it is a teacher still to be trained.
    A teacher that cannot be used stops the page with a message (and, for a cached checkpoint
    the page could retrain, a button that moves the bad file aside)."""
    shipped_notice()
    choices = teacher_choices(cache_dir())
    for path, label in (trainable or {}).items():
        choices.setdefault(path, label)
    if not choices:
        st.info(
            "No usable teacher: the shipped one is missing and none was trained here. Train one on the "
            "[Distillation Lab](Distillation_Lab) page (about 40 s on a 2-core CPU, cached for later)."
        )
        st.stop()
    path = Path(st.selectbox("Teacher", list(choices), format_func=choices.get, key="teacher"))
    try:
        mtime = path.stat().st_mtime  # may vanish between the listing and now: another session retrained it
    except OSError:
        if trainable and str(path) in trainable:
            return path
        st.warning("That teacher was just removed or replaced; choose again.")
        st.stop()
    try:
        return TeacherChoice(path, mtime, load_teacher_cached(str(path), mtime, device))
    except ValueError as e:
        st.error(f"This teacher cannot be used: {e}")
        if trainable and path.suffix == ".pt" and st.button("Retrain it"):
            path.replace(path.with_suffix(".rejected"))  # kept for inspection, out of the way
            st.rerun()
        st.stop()
