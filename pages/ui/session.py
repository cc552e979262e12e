"""This browser session's runs: start them on the device's queue, find them again, keep them alive."""

from __future__ import annotations

import os
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from kdviz import env
from kdviz.footprint import measure
from kdviz.history import HistoryError, RunHistory
from kdviz.i18n import N_, _, ngettext
from kdviz.jobs import Busy, Job, JobQueue
from kdviz.timing import describe_seconds


@st.cache_resource
def job_queue(device: str) -> JobQueue:
    """One queue per device for the whole server: runs take turns instead of fighting for cores.
    Sized by the device the run uses (a CPU run on a GPU machine still waits for the CPU)."""
    on_cpu = device == "cpu"
    if on_cpu:
        # Training threads run at low priority; in classroom mode they also leave a core to the
        # page reruns (on 2 cores that halves training speed).
        import torch

        torch.set_num_threads(env.current().threads_for(os.cpu_count() or 2))
    return JobQueue(max_running=env.current().max_runs_for(device), nice=10 if on_cpu else 0)


def start_run(
    slot: str, device: str, label: str, work, details=None, together=None, estimate=None
) -> Job | None:
    """Queue `work(job)` on the device's queue as this session's run in `slot` (RUN_SLOTS); None,
    with a message, when this browser already has such a run going (in this tab or another)."""
    try:
        job = job_queue(device).submit(
            f"{label}:{time.time_ns()}", label, work, details, browser_id(), together, estimate
        )
    except Busy as e:
        st.error(str(e))
        return None
    st.session_state[slot] = (device, job.id)
    return job


def browser_id() -> str:
    """Who asks, for the queue's one-run-each rule: the browser (its tabs share Streamlit's XSRF
    cookie, whose token is the same under each tab's random mask), else this session."""
    cookie = st.context.cookies.get("_streamlit_xsrf", "")
    try:  # Tornado's version 2 format, which Streamlit keeps: 2|mask|masked token|timestamp
        version, mask, masked, _stamp = cookie.split("|")
        if version == "2":
            return bytes(a ^ b for a, b in zip(bytes.fromhex(mask), bytes.fromhex(masked))).hex()
    except ValueError:
        pass
    return session_id()


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
    from pages.ui.layout import fragment  # layout imports this module

    jobs = [j for slot in RUN_SLOTS if (j := session_run(slot)) is not None and not j.finished]

    @fragment(run_every=5.0 if jobs else None)
    def heartbeat():
        for slot in RUN_SLOTS:
            job = session_run(slot)
            if job is not None and not job.finished:
                job.touch()
                st.caption(_("Your {run}: {progress}").format(run=_(job.label), progress=progress_line(job)))

    heartbeat()


RUN_SLOTS = ("teacher_job", "lab_job", "exp_job")
RUN_LABELS = (N_("teacher"), N_("students"), N_("experiments"))  # start_run's labels, shown with _()


def progress_line(job: Job) -> str:
    if job.status == "queued":
        ahead = job.queue.ahead(job) if job.queue else 0
        text = _("waiting for the trainer: {ahead} run(s) ahead of yours").format(ahead=ahead)
        wait = job.queue.wait(job) if job.queue else None
        if wait is not None:
            text += _(", about {time} to wait").format(time=describe_seconds(max(wait, 1.0)))
        return text
    mates = job.mates - 1
    suffix = (
        ngettext(
            " (trained as one with {count} other race of the same setup)",
            " (trained as one with {count} other races of the same setup)",
            mates,
        ).format(count=mates)
        if mates
        else ""
    )
    ev = job.latest
    if ev is None:
        return _("starting...")
    epoch, left = min(ev.epoch + 1, ev.epochs), job.seconds_left()
    if left is None:
        text = _("epoch {epoch} of {epochs}, {elapsed:.0f} s elapsed")
    elif left < 1:  # its pace says it is done: testing or finishing off
        text = _("epoch {epoch} of {epochs}, {elapsed:.0f} s elapsed, finishing")
    else:
        text = _("epoch {epoch} of {epochs}, {elapsed:.0f} s elapsed, about {eta:.0f} s left")
    return text.format(epoch=epoch, epochs=ev.epochs, elapsed=job.seconds_elapsed(), eta=left) + suffix


@st.cache_resource
def _history(path: str) -> RunHistory:
    return RunHistory(path)


def run_history() -> RunHistory | None:
    """The class's run history in the cache folder (kdviz.history); None, with a warning, when it
    cannot be used (a damaged file is moved aside and a new history starts at the next visit)."""
    try:
        history = _history(env.current().history_where)
        history.page(size=1)  # readable now? (a full disk can stop reads too)
        return history
    except HistoryError as e:
        st.warning(_("The class's run history is not kept: {error}.").format(error=e))
        return None


def session_id() -> str:
    """This browser session's id (a reload starts a new session)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def footprints(shapes: tuple, device: str) -> list:
    """kdviz.footprint.measure for (name, hidden) pairs, once per set of shapes and device. The
    spinner is the page's language (st.spinner waits half a second: a cached answer shows none)."""
    with st.spinner(_("Timing the models on this machine...")):
        return _footprints(shapes, device)


@st.cache_resource(max_entries=16, show_spinner=False)
def _footprints(shapes: tuple, device: str) -> list:
    return measure(dict(shapes), device)
