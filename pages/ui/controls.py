"""The teacher's controls on the Lab page: stop anyone's run, delete the class's runs.

Drawn only for a session that holds the teacher's key (given once as `?key=` or typed on the
Lesson page: pages.ui.lesson.teacher_key), and every action asks the key again in the core
(kdviz.poll.ClassPoll.check_teacher) before it acts, so a crafted rerun cannot skip the check.
"""

from __future__ import annotations

import streamlit as st

from kdviz.history import HistoryError, RunHistory
from kdviz.i18n import _, ngettext
from kdviz.poll import NotTeacher
from pages.ui.lesson import class_poll, teacher_key
from pages.ui.session import job_queue, progress_line


def teacher_controls(device: str, history: RunHistory | None, shown_by: tuple, shown: int) -> None:
    """`shown_by`: the class table's filter (name, since, lesson), whose `shown` students a delete
    removes."""
    key = teacher_key()
    if not key:  # a student's session: not even the lesson file is opened
        return
    classroom = class_poll()
    if not classroom.is_teacher(key):
        return
    st.subheader(_("The teacher's controls"))
    said = st.session_state.pop("teacher_said", None)  # what the last action did (its callback)
    if said:
        (st.error if said[0] == "error" else st.success)(said[1])
    queue = job_queue(device)
    jobs = queue.unfinished()
    if jobs:
        by_id = {j.id: j for j in jobs}
        job = by_id[
            st.selectbox(
                _("Runs on the trainer"),
                list(by_id),
                format_func=lambda i: f"{i[:6]} · {_(by_id[i].label)} · {progress_line(by_id[i])}",
                key="teacher_stop_pick",
            )
        ]

        def stop():
            if _as_teacher(classroom, key):
                queue.cancel(job)
                st.session_state["teacher_said"] = ("success", _("Run {run} stopped.").format(run=job.id[:6]))

        st.button(_("Stop this run"), key="teacher_stop", on_click=stop)
    else:
        st.caption(_("Nothing is training or waiting."))
    if history is None or not shown:
        return
    sure = st.checkbox(
        ngettext(
            "Delete the {count:,} student the class table shows (its filter applies)",
            "Delete the {count:,} students the class table shows (its filter applies)",
            shown,
        ).format(count=shown),
        key="teacher_delete_sure",
    )

    def delete():  # a callback: runs before the page, so the class table is drawn without them
        if not _as_teacher(classroom, key):
            return
        try:
            gone = history.delete(*shown_by)
        except HistoryError as e:
            st.session_state["teacher_said"] = ("error", str(e))
            return
        st.session_state["teacher_delete_sure"] = False
        said = ngettext("{count:,} student deleted.", "{count:,} students deleted.", gone)
        st.session_state["teacher_said"] = ("success", said.format(count=gone))

    st.button(_("Delete"), disabled=not sure, key="teacher_delete", on_click=delete)


def _as_teacher(classroom, key: str) -> bool:
    try:
        classroom.check_teacher(key)
    except NotTeacher as e:
        st.session_state["teacher_said"] = ("error", str(e))
        return False
    return True
