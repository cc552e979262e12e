"""This browser session's runs: start them on the device's queue, find them again, keep them alive."""

from __future__ import annotations

import math
import os
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from kdviz import settings
from kdviz.footprint import measure
from kdviz.history import HistoryError, RunHistory
from kdviz.jobs import Job, JobQueue


@st.cache_resource
def job_queue(device: str) -> JobQueue:
    """One queue per device for the whole server: runs take turns instead of fighting for cores.
    Sized by the device the run uses (a CPU run on a GPU machine still waits for the CPU)."""
    on_cpu = device == "cpu"
    if on_cpu:
        # Training threads run at low priority; in classroom mode they also leave a core to the
        # page reruns (on 2 cores that halves training speed).
        import torch

        torch.set_num_threads(settings.current().threads_for(os.cpu_count() or 2))
    return JobQueue(max_running=settings.current().max_runs_for(device), nice=10 if on_cpu else 0)


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


def progress_line(job: Job) -> str:
    if job.status == "queued":
        ahead = job.queue.ahead(job) if job.queue else 0
        return f"waiting for the trainer: {ahead} run(s) ahead of yours"
    ev = job.latest
    if ev is None:
        return "starting..."
    eta = f", about {ev.eta:.0f} s left" if ev.step and math.isfinite(ev.eta) else ""
    return f"epoch {min(ev.epoch + 1, ev.epochs)} of {ev.epochs}, {ev.elapsed:.0f} s elapsed{eta}"


@st.cache_resource
def _history(path: str) -> RunHistory:
    return RunHistory(path)


def run_history() -> RunHistory | None:
    """The class's run history in the cache folder (kdviz.history); None, with a warning, when it
    cannot be used (a damaged file is moved aside and a new history starts at the next visit)."""
    try:
        return _history(str(settings.current().cache_dir / "runs.sqlite"))
    except HistoryError as e:
        st.warning(f"The class's run history is not kept: {e}.")
        return None


def session_id() -> str:
    """This browser session's id (a reload starts a new session)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


@st.cache_resource(max_entries=16, show_spinner="Timing the models on this machine...")
def footprints(shapes: tuple, device: str) -> list:
    """kdviz.footprint.measure for (name, hidden) pairs, once per set of shapes and device."""
    return measure(dict(shapes), device)
