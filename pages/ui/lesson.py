"""The lesson's wiring: the class poll (one per server), the teacher's key, and each step's evidence."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

import streamlit as st

from kdviz import archive, lesson, poll
from kdviz.i18n import _
from kdviz.lesson import Reveal, Step
from pages.ui.layout import SHARED_PARAMS, cache_dir, data_or_stop, env
from pages.ui.session import run_history


@st.cache_resource
def _poll(path: str, key: str) -> poll.ClassPoll:
    return poll.ClassPoll(path, key)


def class_poll() -> poll.ClassPoll:
    """The class's lesson file beside the run history; a clear message and a stop if unusable."""
    try:
        return _poll(env().lessons_where, env().teacher_key)
    except poll.PollError as e:
        st.error(str(e))
        st.stop()


def open_lesson() -> Callable[[], str]:
    """For a run's `keep`, called when it ends (in the trainer's thread): the join code of the
    lesson open then, or "" (none, or a lesson file that cannot be used: the run is kept all the
    same)."""
    try:
        classroom = _poll(env().lessons_where, env().teacher_key)
    except poll.PollError:
        return lambda: ""

    def code() -> str:
        try:
            return classroom.open_lesson()
        except poll.PollError:
            return ""

    return code


def teacher_key() -> str:
    """The key this browser session was given: from `?key=` once (then taken out of the URL, so a
    projected address bar never shows it), or typed in the lesson page's box."""
    if "key" in st.query_params:
        st.session_state["_teacher_key"] = st.query_params["key"]
        del st.query_params["key"]
    return st.session_state.get("_teacher_key", "")


def device_id() -> str:
    """This device's id for the poll, kept in its URL so a reload keeps its answers."""
    if "me" not in st.query_params:
        st.query_params["me"] = uuid.uuid4().hex[:12]
    return str(st.query_params["me"])[:64]


def step_link(step: Step) -> tuple[str, dict]:
    """The page and URL that open a step in exactly the state it needs (language and projector kept)."""
    keep = {k: st.query_params[k] for k in SHARED_PARAMS if k in st.query_params}
    return step.page, dict(step.params) | keep


def join_url(code: str) -> str:
    """The join page's address as this browser reaches the server (students use the same host)."""
    base = str(st.context.url or "http://localhost:8501").split("?")[0].rsplit("/", 1)[0]
    lang = f"&lang={st.query_params['lang']}" if "lang" in st.query_params else ""
    return f"{base}/Join?code={code}{lang}"


def qr_png(text: str) -> bytes:
    import qrcode

    buf = io.BytesIO()
    qrcode.make(text, border=2, box_size=8).save(buf, format="PNG")
    return buf.getvalue()


def choice_labels(step: Step) -> list[str]:
    return [_(c) for c in step.choices]


def evidence(step: Step, device: str = "cpu") -> Reveal | str:
    """The step's reveal, measured now; or, when what it measures has not been run yet, what to do."""
    if step.id == "car":
        return lesson.reveal_car(float(step.params["T"]))
    if step.id == "wrong":
        return lesson.reveal_wrong(float(step.params["T"]))
    if step.needs == "teacher":
        from pages.ui.teachers import shipped_teacher

        data = data_or_stop(device)
        teacher, logits = shipped_teacher(device)
        if step.id == "four":
            return lesson.reveal_four(logits.cpu(), data.test_y.cpu(), float(step.params["T"]))
        return lesson.reveal_teacher(teacher.test_errors, teacher.test_total, teacher.spec.label)
    if step.needs == "race":
        history = run_history()
        rs = lesson.latest_race(history.runs() if history else [], step)
        if not rs:
            return _(
                "Nobody on this server has run this race yet: open the Lab for this step and press Train."
            )
        return {"race": lesson.reveal_race, "small": lesson.reveal_small}[step.id](rs)
    if step.needs == "experiments":
        name = step.params["only"]
        found = archive.latest(cache_dir(), name)
        if found is None:
            return _(
                "No run of this experiment is stored on this server: run it before class "
                "(open the page for this step and press Run experiments)."
            )
        if name == "omit3":
            return lesson.reveal_omit(
                found["values"], found["threes"], found["when"], found["machine"], found["preset"]
            )
        return lesson.reveal_paper(found["values"], found["when"], found["machine"], found["preset"])
    raise ValueError(step.id)
