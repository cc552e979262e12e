"""Every kind of run that a page or the CLI starts: a teacher, the Lab's students, the paper's
experiments. Pages and CLI call these and nothing below them.

Each function takes the data, what to run, `on_progress(Progress)` (one callback for every
progress report) and `should_stop()` (one flag, polled between batches), checks the server's
limits (kdviz.settings: classroom mode) before any work, and returns a typed result. A run
stopped before it had anything to report returns None; an experiments run returns what it
finished.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from kdviz import archive, shipped
from kdviz import settings as app_settings
from kdviz.data import MNIST
from kdviz.device import describe
from kdviz.distill import DistillConfig, caveats, labels, race
from kdviz.experiments import DEFAULT, EXPERIMENTS, PRESETS, Result, ignore, never_stop, run_all
from kdviz.history import Record
from kdviz.i18n import N_, _
from kdviz.settings import Limits
from kdviz.teacher import PRESETS as TEACHER_PRESETS
from kdviz.teacher import Teacher, TeacherSpec, ensure_teacher
from kdviz.train import Progress, run_to_end, transfer_indices

OnProgress = Callable[[Progress], None]
StopFlag = Callable[[], bool]


def _limits(limits: Limits | None) -> Limits:
    return limits if limits is not None else app_settings.current().limits


# --- teachers -------------------------------------------------------------------------------------
def teacher(
    data: MNIST,
    preset: str = "quick",
    cache_dir=None,
    on_progress: OnProgress = ignore,
    should_stop: StopFlag = never_stop,
    retrain: bool = False,
    limits: Limits | None = None,
    **changes,
) -> Teacher | None:
    """The cached teacher of a preset (kdviz.teacher.PRESETS, with `changes` such as seed or
    epochs), trained and cached first if needed; None if stopped (a later call resumes)."""
    if preset not in TEACHER_PRESETS:
        raise ValueError(
            _("teacher preset must be one of {choices}, got {value}").format(
                choices=", ".join(TEACHER_PRESETS), value=repr(preset)
            )
        )
    _limits(limits).check_preset("teacher", preset)
    spec: TeacherSpec = replace(TEACHER_PRESETS[preset], **changes)
    return ensure_teacher(
        spec, data, cache_dir, on_progress=on_progress, should_stop=should_stop, retrain=retrain
    )


def default_teacher(
    data: MNIST, cache_dir=None, on_progress: OnProgress = ignore, should_stop: StopFlag = never_stop
) -> Teacher | None:
    """The shipped paper teacher; if it cannot be used, the quick teacher trained here, its
    `note` saying why (kdviz.shipped.default_teacher). None if that training was stopped."""
    return shipped.default_teacher(data, cache_dir, on_progress, should_stop)


# --- the Lab: a race of students ----------------------------------------------------------------
@dataclass(frozen=True)
class LabResult:
    """Where a Lab run ended: each student's test errors (cfg.students order)."""

    cfg: DistillConfig
    teacher_errors: int
    images: int  # in the transfer set: train_size images less any omitted digit
    last: Progress  # the last finished epoch
    curve: tuple[tuple[int, ...], ...] = ()  # (epoch, errors of student 0, student 1, ...)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # groups its history rows

    @property
    def errors(self) -> list[int]:
        return list(self.last.test_errors)

    @property
    def labels_only(self) -> int | None:
        """The errors of the race's labels-only student (alpha = 0), if it has one."""
        b = self.cfg.baseline
        return None if b is None else self.errors[b]

    def gains(self) -> list[int | None]:
        """Test errors each student saved against labels only (negative: it lost); None without one."""
        base = self.labels_only
        return [None if base is None else base - e for e in self.errors]

    @property
    def status(self) -> str:
        """A stable English word (kept in the history); shown with `_()`."""
        return N_("done") if self.last.epoch >= self.cfg.epochs else N_("stopped")

    def caveats(self) -> list[str]:
        """Stopped early, or too short to show an effect: said beside the verdict."""
        return caveats(self.last.epoch, self.cfg.epochs)

    def records(self, device: str, teacher: str, session: str = "", name: str = "") -> list[Record]:
        """This run as rows of the class's history (kdviz.history), one per student."""
        c = self.cfg
        return [
            Record(
                run=self.run,
                student="-".join(map(str, c.hidden)),
                T=s.T,
                alpha=s.alpha,
                anneal=s.anneal,
                images=self.images,
                omit=",".join(map(str, c.omit)) or "-",
                seed=c.seed,
                epochs=c.epochs,
                epochs_done=self.last.epoch,
                teacher=teacher,
                teacher_errors=self.teacher_errors,
                errors=self.errors[k],
                labels_only=self.labels_only,
                seconds=round(self.last.elapsed, 1),
                device=device,
                status=self.status,
                session=session,
                name=name,
                curve=[(row[0], row[1 + k]) for row in self.curve],
            )
            for k, s in enumerate(c.students)
        ]

    def verdict(self) -> str:
        names, errors = labels(self.cfg.students), self.errors
        best = min(range(len(errors)), key=errors.__getitem__)
        if len(errors) == 2 and self.cfg.baseline == 0 and self.cfg.students[1].alpha > 0:
            g = self.gains()[1]
            if g > 0:
                text = _(
                    "The distilled student made **{distilled}** test errors, the labels-only student "
                    "**{labels_only}**: distillation beat labels alone by {gain}."
                )
            elif g == 0:
                text = _(
                    "The distilled student made **{distilled}** test errors, the labels-only student "
                    "**{labels_only}**: distillation tied."
                )
            else:
                text = _(
                    "The distilled student made **{distilled}** test errors, the labels-only student "
                    "**{labels_only}**: distillation lost by {loss}."
                )
            return text.format(distilled=errors[1], labels_only=errors[0], gain=g, loss=-g)
        if self.labels_only is not None and self.cfg.students[best].alpha > 0:
            text = _(
                "Fewest test errors: **{name}** with **{errors}**, {fewer} fewer than labels only "
                "({labels_only})."
            )
        else:
            text = _("Fewest test errors: **{name}** with **{errors}**.")
        return text.format(
            name=names[best],
            errors=errors[best],
            fewer=None if self.labels_only is None else self.labels_only - errors[best],
            labels_only=self.labels_only,
        )

    def rows(self) -> list[dict]:
        """One line per student for the Lab's table of this session's runs (and its CSV): stable
        English keys, which a page shows with `_()`; the status stays an English word too."""
        cfg = self.cfg
        return [
            {
                N_("student"): _("{hidden}, {label}").format(
                    hidden="-".join(map(str, cfg.hidden)), label=name
                ),
                "T": s.T if s.alpha > 0 else None,  # a labels-only student has no temperature
                N_("anneal to 1"): _("yes") if s.anneal else _("no"),
                N_("alpha"): s.alpha,
                N_("images"): self.images,
                N_("omit"): ",".join(map(str, cfg.omit)) or "-",
                N_("seed"): cfg.seed,
                N_("epochs"): f"{self.last.epoch}/{cfg.epochs}",
                N_("teacher errors"): self.teacher_errors,
                N_("test errors"): self.errors[k],
                N_("gain vs labels only"): gain,
                N_("seconds"): round(self.last.elapsed, 1),
                N_("status"): self.status,
            }
            for k, (s, name, gain) in enumerate(zip(cfg.students, labels(cfg.students), self.gains()))
        ]


def lab(
    data: MNIST,
    teacher_logits: torch.Tensor,  # (N_train, 10): the teacher's, computed once per teacher
    teacher_errors: int,
    cfg: DistillConfig,
    on_progress: OnProgress = ignore,
    should_stop: StopFlag = never_stop,
    limits: Limits | None = None,
    keep: Callable[[LabResult], None] | None = None,
) -> LabResult | None:
    """Race the students of `cfg` (kdviz.distill); `keep(result)` stores a run that finished at
    least one epoch (the class's history), even if nobody watches."""
    images = len(transfer_indices(data.train_y, cfg.train_size, cfg.omit))
    _limits(limits).check_students(cfg.hidden, images, cfg.epochs)
    _, events = race(data, teacher_logits, cfg, should_stop=should_stop)
    curve = []

    def report(ev: Progress) -> None:
        if ev.kind == "epoch":
            curve.append((ev.epoch, *ev.test_errors))
        on_progress(ev)

    last = run_to_end(events, report)
    if last is None:
        return None
    result = LabResult(cfg, int(teacher_errors), images, last, tuple(curve))
    if keep is not None:
        keep(result)
    return result


# --- the paper's experiments ---------------------------------------------------------------------
@dataclass
class ExperimentsRun:
    """An experiments run as it goes: results arrive one by one (a page shows them live)."""

    preset: str
    only: tuple[str, ...] = DEFAULT
    results: list[Result] = field(default_factory=list)
    current: str = ""  # the step running now: "teacher" or an experiment's name
    seconds: float = 0.0  # all of it: teacher, logits and every experiment
    finished: bool = False  # every chosen experiment ran (not stopped)

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(
                _("experiments preset must be one of {choices}, got {value}").format(
                    choices=", ".join(PRESETS), value=repr(self.preset)
                )
            )
        unknown = set(self.only) - set(EXPERIMENTS)
        if unknown or not self.only:
            raise ValueError(
                _("unknown experiments: {unknown}; known: {known}").format(
                    unknown=", ".join(sorted(unknown)) or _("none chosen"), known=", ".join(EXPERIMENTS)
                )
            )
        self.only = tuple(n for n in EXPERIMENTS if n in self.only)  # the paper's order

    @property
    def title(self) -> str:
        """What runs now, in words (in the current language)."""
        if self.current == "teacher":
            return _("teacher")
        title = EXPERIMENTS.get(self.current, (self.current,))[0]
        return _(title) if title else title


def experiments(
    run: ExperimentsRun,
    data: MNIST,
    cache_dir=None,
    on_progress: OnProgress = ignore,
    should_stop: StopFlag = never_stop,
    on_step: Callable[[ExperimentsRun], None] = lambda run: None,
    limits: Limits | None = None,
    seed: int = 0,
) -> ExperimentsRun:
    """Run the chosen experiments in order into `run`; `on_step(run)` when one starts or ends."""
    _limits(limits).check_preset("experiments", run.preset)
    settings = replace(PRESETS[run.preset], seed=seed)
    began = time.perf_counter()

    def start(name: str) -> None:
        run.current = name
        on_step(run)

    for result in run_all(data, settings, cache_dir, on_progress, should_stop, run.only, start):
        run.results.append(result)
        if cache_dir is not None:  # for a lesson to show at once (kdviz.archive)
            with contextlib.suppress(OSError):  # a full or read-only disk must not end the run
                archive.save(result, run.preset, cache_dir, describe(data.train_x.device))
        run.seconds = time.perf_counter() - began
        on_step(run)
    run.seconds = time.perf_counter() - began
    run.finished = len(run.results) == len(run.only)
    run.current = ""
    return run
