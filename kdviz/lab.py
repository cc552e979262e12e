"""Where a Lab race ended (`LabResult`), and how it reads: verdict, table rows, history rows;
and how a class's races that differ only in their students train as one (`Pool`).

A race (kdviz.distill) reports epoch by epoch; what is left when it ends, finished or stopped
after at least one epoch, is its configuration, each student's test errors, the teacher's, and
the per-epoch curve. The verdict compares every student with the race's labels-only student (the
first with alpha = 0), the baseline that distillation must beat; caveats say when a stopped or
short race should not be read as a lesson.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from kdviz.control import OnProgress, StopFlag, ignore, never_stop
from kdviz.distill import DistillConfig, Student, caveats, student_names
from kdviz.history import Record
from kdviz.i18n import N_, _
from kdviz.models import shape_name
from kdviz.train import Progress


def omit_name(omit) -> str:
    """(3, 5) -> '3,5'; () -> '-' (the tables' way to say none)."""
    return ",".join(map(str, omit)) or "-"


@dataclass(frozen=True)
class LabResult:
    """Where a Lab run ended: each student's test errors (cfg.students order)."""

    cfg: DistillConfig
    teacher_errors: int
    images: int  # in the transfer set: train_size images less any omitted digit
    last: Progress  # the last finished epoch
    curve: tuple[tuple[int, ...], ...] = ()  # (epoch, errors of student 0, student 1, ...)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # groups its history rows
    not_kept: str = ""  # why its `keep` failed (e.g. a full disk); "" when kept

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

    def records(
        self, device: str, teacher: str, session: str = "", name: str = "", lesson: str = ""
    ) -> list[Record]:
        """This run as rows of the class's history (kdviz.history), one per student."""
        c = self.cfg
        return [
            Record(
                run=self.run,
                student=shape_name(c.hidden),
                T=s.T,
                alpha=s.alpha,
                anneal=s.anneal,
                images=self.images,
                omit=omit_name(c.omit),
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
                lesson=lesson,
                knowledge=s.knowledge,
            )
            for k, s in enumerate(c.students)
        ]

    def verdict(self) -> str:
        names, errors = student_names(self.cfg.students), self.errors
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
                N_("student"): _("{hidden}, {label}").format(hidden=shape_name(cfg.hidden), label=name),
                "T": s.T if s.alpha > 0 else None,  # a labels-only student has no temperature
                N_("anneal to 1"): _("yes") if s.anneal else _("no"),
                N_("alpha"): s.alpha,
                N_("images"): self.images,
                N_("omit"): omit_name(cfg.omit),
                N_("seed"): cfg.seed,
                N_("epochs"): f"{self.last.epoch}/{cfg.epochs}",
                N_("teacher errors"): self.teacher_errors,
                N_("test errors"): self.errors[k],
                N_("gain vs labels only"): gain,
                N_("seconds"): round(self.last.elapsed, 1),
                N_("status"): self.status,
            }
            for k, (s, name, gain) in enumerate(zip(cfg.students, student_names(cfg.students), self.gains()))
        ]


# --- a class's races, trained as one ----------------------------------------------------------------
def pool_key(cfg: DistillConfig) -> tuple:
    """What races must share to train as one: everything but their students. Same seed, same
    transfer set and schedule mean the same initial weights and the same batches for every
    student (kdviz.models.StackedMLP), so a student's numbers do not depend on who it trains with."""
    c = cfg
    return (c.hidden, c.epochs, c.batch_size, c.lr, c.seed, c.train_size, c.omit, c.tested_every)


@dataclass
class Entry:
    """One race waiting to train, and how to tell its owner."""

    cfg: DistillConfig
    on_progress: OnProgress = ignore
    should_stop: StopFlag = never_stop
    keep: Callable[[LabResult], None] = ignore  # stores a result (the class's history)


@dataclass
class Pool:
    """Races with one `pool_key`, as one stack of their distinct students.

    Thirty students pressing Train on the Lab's defaults ask for the same two students: those
    train once. A student two races share (same T, alpha, anneal) is one model of the stack, and
    each race reads its own students' numbers from it (`Progress.only`). A race stopped by its
    owner keeps the epochs it saw; the stack trains on while any race still wants it."""

    entries: Sequence[Entry]

    def __post_init__(self):
        keys = {pool_key(e.cfg) for e in self.entries}
        if len(keys) != 1:
            raise ValueError(_("races train as one only when they differ in nothing but their students"))

    @property
    def students(self) -> tuple[Student, ...]:
        """Every distinct student, in order of first appearance."""
        return tuple(dict.fromkeys(s for e in self.entries for s in e.cfg.students))

    def indices(self) -> list[list[int]]:
        """For each race, where its students sit in `students`."""
        at = {s: k for k, s in enumerate(self.students)}
        return [[at[s] for s in e.cfg.students] for e in self.entries]

    def should_stop(self) -> bool:
        return all(e.should_stop() for e in self.entries)

    def run(self, events, images: int, teacher_errors: int) -> list[LabResult | None]:
        """Hand each race its share of the stack's events; each one's result (None: it stopped
        before its first tested epoch), stored with its `keep`."""
        where = self.indices()
        curves: list[list[tuple]] = [[] for _ in self.entries]
        lasts: list[Progress | None] = [None] * len(self.entries)
        left = [True] * len(self.entries)
        for ev in events:
            for i, e in enumerate(self.entries):
                left[i] = left[i] and not e.should_stop()
                if not left[i]:
                    continue
                mine = ev.only(where[i])
                if ev.kind == "epoch":
                    curves[i].append((mine.epoch, *mine.test_errors))
                    lasts[i] = mine
                e.on_progress(mine)
        results = []
        for e, last, curve in zip(self.entries, lasts, curves):
            if last is None:
                results.append(None)
                continue
            result = LabResult(e.cfg, int(teacher_errors), images, last, tuple(curve))
            try:
                e.keep(result)
            except ValueError as problem:  # not stored (kdviz.history.HistoryError): still a result
                result = replace(result, not_kept=str(problem))
            results.append(result)
        return results
