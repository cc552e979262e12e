"""The teacher menu the Dark knowledge page and the Lab share, and the cached teachers and logits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from kdviz import runs
from kdviz.i18n import _, language
from pages.ui.layout import cache_dir, data_dir, load_data


@st.cache_resource(max_entries=8)
def load_teacher_cached(path: str, mtime: float, device: str):
    """A cached checkpoint, or the shipped teacher with its test errors measured on this data."""
    return runs.load_teacher(path, load_data(data_dir(), device))


@st.cache_resource(max_entries=8)
def teacher_logits(path: str, mtime: float, device: str, split: str):
    """The frozen teacher's logits for a whole split, computed once per teacher."""
    data = load_data(data_dir(), device)
    x = data.train_x if split == "train" else data.test_x
    return load_teacher_cached(path, mtime, device).logits(x)


@st.cache_resource(max_entries=4)
def _teacher_choices(folder: str | None, listing: tuple, lang: str) -> dict[str, str]:
    """Cached per language too: the descriptions are in the language of the session that asked."""
    default = runs.checkpoint_path(runs.TEACHER_RECIPES["quick"], folder)
    found = {str(p): text for p, spec, text in runs.cached_teachers(folder) if spec is not None}
    out = (
        {str(default): _("Quick teacher: {teacher}").format(teacher=found.pop(str(default)))}
        if str(default) in found
        else {}
    )
    return out | found


@st.cache_resource(max_entries=4)
def _shipped_problem(path: str, mtimes: tuple, lang: str) -> str | None:
    """Cached per language too: the message is in the language of the session that asked."""
    return runs.shipped_problem(path)


def shipped_problem() -> str | None:
    """Why the shipped paper teacher cannot be used, or None when it can."""
    try:
        mtimes = (runs.SHIPPED.stat().st_mtime, runs.card_path(runs.SHIPPED).stat().st_mtime)
    except OSError:
        return _("the shipped teacher {name} or its card is missing from this installation").format(
            name=runs.SHIPPED.name
        )
    return _shipped_problem(str(runs.SHIPPED), mtimes, language())


def shipped_notice() -> None:
    problem = shipped_problem()
    if problem:
        st.warning(
            _(
                "The shipped paper teacher cannot be used: {problem}. A teacher trained here is used instead."
            ).format(problem=problem)
        )


def teacher_choices(folder: str | None) -> dict[str, str]:
    """Usable teachers (path -> description): the shipped paper teacher first, then the cache's.
    Cached by the folder's listing, so checkpoints are opened only when a file appears or changes."""
    shipped = (
        {} if shipped_problem() else {str(runs.SHIPPED): _("Paper teacher, shipped with kdviz (1200-1200)")}
    )
    listing = tuple((p.name, mtime) for p, mtime in runs.checkpoints(folder))
    return shipped | _teacher_choices(folder, listing, language())


@dataclass(frozen=True)
class TeacherChoice:
    path: Path
    mtime: float
    teacher: runs.Teacher

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
            _(
                "No usable teacher: the shipped one is missing and none was trained here. Train one on the "
                "[Distillation Lab](Distillation_Lab) page (about 40 s on a 2-core CPU, cached for later)."
            )
        )
        st.stop()
    path = Path(st.selectbox(_("Teacher"), list(choices), format_func=choices.get, key="teacher"))
    try:
        mtime = path.stat().st_mtime  # may vanish between the listing and now: another session retrained it
    except OSError:
        if trainable and str(path) in trainable:
            return path
        st.warning(_("That teacher was just removed or replaced; choose again."))
        st.stop()
    try:
        return TeacherChoice(path, mtime, load_teacher_cached(str(path), mtime, device))
    except ValueError as e:
        st.error(_("This teacher cannot be used: {error}").format(error=e))
        if trainable and path.suffix == ".pt" and st.button(_("Retrain it")):
            path.replace(path.with_suffix(".rejected"))  # kept for inspection, out of the way
            st.rerun()
        st.stop()


def shipped_teacher(device: str):
    """The shipped paper teacher and its test-set logits (for the lesson's reveals); a clear
    message and a stop when it cannot be used."""
    problem = shipped_problem()
    if problem:
        st.error(_("The shipped paper teacher cannot be used: {problem}.").format(problem=problem))
        st.stop()
    path, mtime = str(runs.SHIPPED), runs.SHIPPED.stat().st_mtime
    return load_teacher_cached(path, mtime, device), teacher_logits(path, mtime, device, "test")
