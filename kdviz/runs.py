"""The one door to training for pages and the CLI: every kind of run starts here.

Pages and the CLI import this module, plotting and formatting helpers, and nothing that trains:
what they need of the layers below (a race's students, the experiments' names, the teachers in
the cache) is re-exported here, so this file lists everything they may touch.

Each run takes the data, what to run, `on_progress(Progress)` and `should_stop()` (kdviz.control),
checks its input and the server's limits (kdviz.env: classroom mode) once, before any work, and
returns a typed result. The stop protocol is kdviz.control's: a run asked to stop before it has
anything raises Stopped; one with something returns it (a Lab result's status "stopped", an
experiments run's `finished` False).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from kdviz import archive, env
from kdviz.bench import Bench
from kdviz.control import OnProgress, StopFlag, Stopped, ignore, never_stop
from kdviz.data import MNIST
from kdviz.device import describe
from kdviz.distill import (
    KNOWLEDGE_NAMES,
    MAX_STUDENTS,
    PAIR,
    DistillConfig,
    RaceSizeError,
    Student,
    decode_students,
    encode_students,
    knowledge_name,
    race,
    race_curves,
    race_table,
    student_names,
    students_from_table,
)
from kdviz.env import Limits
from kdviz.experiments import DEFAULT, EXPERIMENTS, check_names, run_all
from kdviz.i18n import _
from kdviz.jobs import Together
from kdviz.lab import Entry, LabResult, Pool, pool_key
from kdviz.models import StackedMLP, parse_hidden, shape_name
from kdviz.recipes import RECIPES
from kdviz.result import Result
from kdviz.shipped import WEIGHTS as SHIPPED
from kdviz.shipped import card_path, export_shipped, load_shipped
from kdviz.teacher import (
    TEACHER_RECIPES,
    CheckpointError,
    Teacher,
    TeacherSpec,
    cached_teachers,
    checkpoint_path,
    checkpoints,
    ensure_teacher,
)
from kdviz.teacher import load_teacher as load_checkpoint
from kdviz.timing import CPU_SECONDS, race_seconds
from kdviz.train import Progress, auto_batch, transfer_indices, warm_up

__all__ = [  # what pages and the CLI may use, besides the runs below
    "DEFAULT", "EXPERIMENTS", "KNOWLEDGE_NAMES", "MAX_STUDENTS", "PAIR", "SHIPPED", "TEACHER_RECIPES",
    "CheckpointError", "DistillConfig", "Entry", "LabResult", "RaceSizeError", "Progress", "Result",
    "Stopped", "Student", "Teacher", "TeacherSpec",
    "cached_teachers", "card_path", "checkpoint_path", "checkpoints", "decode_students", "encode_students",
    "check_names", "ignore", "knowledge_name", "parse_hidden", "pool_key", "race_curves", "race_table",
    "shape_name", "student_names", "students_from_table", "warm_up",
]  # fmt: skip


def _limits(limits: Limits | None) -> Limits:
    return limits if limits is not None else env.current().limits


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
) -> Teacher:
    """The cached teacher of a preset (kdviz.teacher.TEACHER_RECIPES, with `changes` such as seed
    or epochs), trained and cached first if needed; Stopped if stopped (a later call resumes)."""
    if preset not in TEACHER_RECIPES:
        raise ValueError(
            _("teacher preset must be one of {choices}, got {value}").format(
                choices=", ".join(TEACHER_RECIPES), value=repr(preset)
            )
        )
    _limits(limits).check_preset("teacher", preset)
    spec: TeacherSpec = replace(TEACHER_RECIPES[preset], **changes)
    return ensure_teacher(
        spec, data, cache_dir, on_progress=on_progress, should_stop=should_stop, retrain=retrain
    )


def default_teacher(
    data: MNIST, cache_dir=None, on_progress: OnProgress = ignore, should_stop: StopFlag = never_stop
) -> Teacher:
    """The shipped paper teacher (kdviz.shipped); if it cannot be used, the quick teacher trained
    here and cached, its `note` saying why. Stopped if that training was stopped."""
    try:
        return load_shipped(data)
    except CheckpointError as e:
        quick = ensure_teacher(TEACHER_RECIPES["quick"], data, cache_dir, on_progress, should_stop)
        quick.note = _(
            "The shipped teacher cannot be used ({error}); using a teacher trained here instead."
        ).format(error=e)
        return quick


def load_teacher(path, data: MNIST) -> Teacher:
    """A teacher from a file: the shipped one (its test errors measured on `data`) or a checkpoint
    of the cache. CheckpointError for a file that is not ours or is damaged."""
    if str(path).endswith(".safetensors"):
        return load_shipped(data, Path(path))
    return load_checkpoint(path, data.device)


def shipped_problem(weights=SHIPPED) -> str | None:
    """Why the shipped paper teacher cannot be used (hash, shapes, card), or None when it can."""
    try:
        load_shipped(None, weights)  # the test errors are measured when it is used
    except CheckpointError as e:
        return str(e)
    return None


def export_teacher(teacher: Teacher, data: MNIST, weights=SHIPPED, **about) -> dict:
    """Write a teacher as the shipped one (fp16 safetensors and its card, kdviz.shipped); the card."""
    return export_shipped(teacher, data, weights, **about)


def student_parameters(hidden) -> int:
    return StackedMLP(hidden).parameters_per_model()


# --- the Lab: a race of students ----------------------------------------------------------------
def lab(
    data: MNIST,
    teacher_logits: torch.Tensor,  # (N_train, 10): the teacher's, computed once per teacher
    teacher_errors: int,
    cfg: DistillConfig,
    on_progress: OnProgress = ignore,
    should_stop: StopFlag = never_stop,
    limits: Limits | None = None,
    keep: Callable[[LabResult], None] = ignore,
    teacher_hidden=None,  # the teacher's last hidden layer (Teacher.hidden): hint and relation students
) -> LabResult:
    """Race the students of `cfg` (kdviz.distill); `keep(result)` stores a run that finished at
    least one epoch (the class's history), even if nobody watches. Stopped before the first epoch."""
    entry = Entry(cfg, on_progress, should_stop, keep)
    (result,) = lab_pool(data, teacher_logits, teacher_errors, [entry], limits, teacher_hidden)
    if result is None:
        raise Stopped
    return result


def lab_pool(
    data: MNIST,
    teacher_logits: torch.Tensor,
    teacher_errors: int,
    entries: list[Entry],
    limits: Limits | None = None,
    teacher_hidden=None,
) -> list[LabResult | None]:
    """Several races that differ only in their students (kdviz.lab.pool_key), trained as one
    stack of their distinct students: each race's numbers are what it gets alone. Each one's
    result, None for a race stopped before its first tested epoch."""
    pool = Pool(entries)
    cfg = entries[0].cfg
    images = len(transfer_indices(data.train_y, cfg.train_size, cfg.omit))
    _limits(limits).check_students(cfg.hidden, images, cfg.epochs)
    _, events = race(data, teacher_logits, cfg, pool.should_stop, pool.students, teacher_hidden)
    return pool.run(events, images, teacher_errors)


def lab_seconds(data: MNIST, cfgs: list[DistillConfig]) -> float | None:
    """Roughly how long these races (one pool_key) take trained as one, on a CPU like ours."""
    cfg = cfgs[0]
    students = len({s for c in cfgs for s in c.students})
    tc = cfg.train_config()
    n = len(transfer_indices(data.train_y, cfg.train_size, cfg.omit))
    steps = -(-n // min(int(tc.batch_size or auto_batch(n)), n)) * cfg.epochs
    tests = -(-cfg.epochs // cfg.tested_every)
    return race_seconds(
        student_parameters(cfg.hidden), students, n * cfg.epochs, steps, tests, str(data.device)
    )


def lab_together(
    data: MNIST, teacher_logits: torch.Tensor, teacher_errors: int, cfg: DistillConfig, teacher_hidden=None
) -> Together:
    """How the job queue starts a class's waiting Lab races as one (kdviz.jobs.Together): jobs
    whose `details` is an Entry with the same teacher, data and pool_key."""

    def entries(jobs) -> list[Entry]:
        return [replace(j.details, on_progress=j.report, should_stop=j.should_stop) for j in jobs]

    return Together(
        ("lab", id(data), id(teacher_logits), pool_key(cfg)),
        lambda jobs: lab_pool(data, teacher_logits, teacher_errors, entries(jobs), None, teacher_hidden),
        lambda jobs: lab_seconds(data, [j.details.cfg for j in jobs]),
    )


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
        if self.preset not in RECIPES:
            raise ValueError(
                _("experiments preset must be one of {choices}, got {value}").format(
                    choices=", ".join(RECIPES), value=repr(self.preset)
                )
            )
        self.only = check_names(self.only)  # the paper's order

    @property
    def number(self) -> int:
        """Which of the chosen experiments runs now, from 1 (0: the teacher or nothing yet)."""
        return self.only.index(self.current) + 1 if self.current in self.only else 0

    def seconds_left(self, eta: float, device: str) -> float | None:
        """Roughly how long the whole run has left: `eta` for the step running now, and the
        experiments after it as kdviz.timing estimates them (None where it does not)."""
        after = self.only[self.number :]
        table = CPU_SECONDS.get(self.preset)
        if str(device) != "cpu" or table is None or not math.isfinite(eta):
            return None
        return eta + sum(table.get(n, 0) for n in after)

    @property
    def title(self) -> str:
        """What runs now, in words (in the current language)."""
        if self.current == "teacher":
            return _("teacher")
        if self.current in EXPERIMENTS:
            return _(EXPERIMENTS[self.current].title)
        return _("starting")


def experiments(
    run: ExperimentsRun,
    data: MNIST,
    cache_dir=None,
    on_progress: OnProgress = ignore,
    should_stop: StopFlag = never_stop,
    on_step: Callable[[ExperimentsRun], None] = ignore,
    limits: Limits | None = None,
    seed: int = 0,
) -> ExperimentsRun:
    """Run the chosen experiments in order into `run`; `on_step(run)` when one starts or ends.
    Stopped or not, it returns the run: `run.finished` says whether every one ran."""
    _limits(limits).check_preset("experiments", run.preset)
    recipe = replace(RECIPES[run.preset], seed=seed)
    began, bench = time.perf_counter(), None

    def start(name: str) -> None:
        run.current = name
        on_step(run)

    try:
        start("teacher")
        if recipe.teacher is None:
            chosen = default_teacher(data, cache_dir, on_progress, should_stop)
        else:
            chosen = ensure_teacher(recipe.teacher, data, cache_dir, on_progress, should_stop)
        # a run cut off (stopped, killed) resumes its fits when started again (kdviz.bench)
        saves = None if cache_dir is None else Path(cache_dir) / "fits"
        bench = Bench.of(data, chosen, recipe, should_stop, on_progress, saves)
        for result in run_all(bench, run.only, start):
            run.results.append(result)
            if cache_dir is not None:  # for a lesson to show at once (kdviz.archive)
                with contextlib.suppress(OSError):  # a full or read-only disk must not end the run
                    archive.save(result, run.preset, cache_dir, describe(data.train_x.device))
            run.seconds = time.perf_counter() - began
            on_step(run)
    except Stopped:
        pass
    run.seconds = time.perf_counter() - began
    run.finished = len(run.results) == len(run.only)
    if run.finished and bench is not None:
        bench.forget()
    run.current = ""
    return run
