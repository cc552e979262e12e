"""The Lab's experiment: a race of students of one shape, same initial weights, same batches.

Each student has its own temperature T and soft-target weight alpha (kdviz.losses); alpha = 0
is the student that learns from the labels alone. All of them train as one stacked
computation (kdviz.models.StackedMLP), so the only difference between two students is their
loss: any gap in test errors is what T and alpha did, not luck of the draw.

A student may anneal its temperature: T falls linearly from its starting value to 1 over the
run's optimizer steps (start hot, when the teacher's similarity structure is the lesson, and
end on the sharp targets the test is scored on). The default race is the paper's pair:
labels only, and distilled at T = 20 with alpha = 0.9.

A student's `knowledge` is the survey's kind (kdviz.losses): the teacher's logits (the paper's
and the default), a hint from its hidden layer, its relations between images, or a peer (mutual
learning). A mutual student trains beside a peer of its own, the same loss but other initial
weights (the race's seed + 1 + its number), which sits at the end of the stack and is not one
of the race's students: the race reports only its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from kdviz.control import StopFlag, never_stop
from kdviz.data import MNIST
from kdviz.i18n import N_, _
from kdviz.losses import check_alpha
from kdviz.models import StackedMLP, check_hidden, shape_name
from kdviz.targets import Cached
from kdviz.train import KNOWLEDGE, Progress, TrainConfig, check_training_t, train

MAX_STUDENTS = 6
ANNEAL_TO = 1.0  # where an annealed temperature ends


@dataclass(frozen=True)
class Student:
    T: float = 20.0
    alpha: float = 0.9  # 0 = labels only
    anneal: bool = False  # T falls linearly to ANNEAL_TO over the run
    knowledge: str = "logits"  # what it learns from besides the labels (kdviz.train.KNOWLEDGE)

    def __post_init__(self):
        object.__setattr__(self, "T", check_training_t(self.T))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        object.__setattr__(self, "anneal", bool(self.anneal))
        if self.knowledge not in KNOWLEDGE:
            raise ValueError(
                _("a student learns from one of {choices}, not {value}").format(
                    choices=", ".join(KNOWLEDGE), value=repr(self.knowledge)
                )
            )
        if self.alpha == 0:  # it listens to no one: one labels-only student, whatever the column says
            object.__setattr__(self, "knowledge", "logits")

    @property
    def T_end(self) -> float:
        return ANNEAL_TO if self.anneal else self.T

    @property
    def loss_name(self) -> str:
        return loss_name(self.T, self.alpha, self.anneal, self.knowledge)


def loss_name(T: float, alpha: float, anneal: bool, knowledge: str = "logits") -> str:
    """How a student learns, in words: 'labels only', 'T = 20, α = 0.9', 'T = 20→1, α = 0.9',
    'hint, α = 0.5', 'relation, α = 0.5' or 'mutual, T = 1, α = 0.5' (the Lab's students, and
    the class history's rows)."""
    if alpha == 0:
        return _("labels only")
    T = f"{T:g}→{ANNEAL_TO:g}" if anneal else f"{T:g}"
    if knowledge == "hint":
        return _("hint, α = {alpha}").format(alpha=f"{alpha:g}")
    if knowledge == "relation":
        return _("relation, α = {alpha}").format(alpha=f"{alpha:g}")
    if knowledge == "mutual":
        return _("mutual, T = {T}, α = {alpha}").format(T=T, alpha=f"{alpha:g}")
    return _("T = {T}, α = {alpha}").format(T=T, alpha=f"{alpha:g}")


KNOWLEDGE_NAMES = {  # the race table's choices, in words
    "logits": N_("the teacher's logits"),
    "hint": N_("a hint (hidden layer)"),
    "relation": N_("relations between images"),
    "mutual": N_("a peer (mutual learning)"),
}


def knowledge_name(kind: str) -> str:
    return _(KNOWLEDGE_NAMES[kind])


PAIR = (Student(20.0, 0.0), Student(20.0, 0.9))  # the paper's comparison
# Fewer epochs than this and a race on 1,000 images is too short for distillation to pay off
# (the lesson's race: 1,031 against 1,057 errors after 10 epochs, 802 against 1,023 after 20; 799
# against 1,023 since the fused optimizer, whose float rounding differs).
MIN_EPOCHS = 5
# Test-set passes in a race: on 1,000 images a pass over the 10,000 test images costs as much as
# two or three epochs of training, so a 20-epoch race is tested every 2nd epoch (and after its last).
TESTS = 10
# Seconds into a race at which, if no test has come yet, it is tested once (a partial-epoch point):
# an 800-800 pair's epoch on 60,000 images takes seconds, and a class watching must see a point
# within one second of Train (training continues exactly as it would have).
FIRST_LOOK = 0.1


def caveats(epochs_done: int, epochs: int) -> list[str]:
    """What a race's verdict must say beside it so that a class does not over-read it."""
    out = []
    if epochs_done < epochs:
        out.append(_("Stopped at {done} of {total} epochs.").format(done=epochs_done, total=epochs))
    if epochs_done < MIN_EPOCHS:
        out.append(_("Too few epochs for distillation to pay off: do not draw the lesson from this run."))
    return out


def student_names(students) -> list[str]:
    """One distinct name per student of a race, numbered only where two would read the same."""
    names = [s.loss_name for s in students]
    return [
        _("{label} (#{number})").format(label=n, number=i + 1) if names.count(n) > 1 else n
        for i, n in enumerate(names)
    ]


def encode_students(students) -> str:
    """For a link: 'T:alpha[:a][:knowledge]' per student, comma-separated, the teacher's logits
    unsaid (links made before other kinds existed still read): '20:0,20:0.9,8:0.9:a,1:0.5:hint'."""
    return ",".join(
        f"{s.T:g}:{s.alpha:g}"
        + (":a" if s.anneal else "")
        + (f":{s.knowledge}" if s.knowledge != "logits" else "")
        for s in students
    )


def decode_students(raw: str) -> tuple[Student, ...]:
    """The inverse of encode_students; ValueError on anything else (bad number, 0 or 7+ students)."""
    students = []
    for part in str(raw).split(","):
        bits = part.strip().split(":")
        extra = bits[2:]
        anneal = extra[:1] == ["a"]
        kinds = extra[1:] if anneal else extra
        if len(bits) < 2 or len(kinds) > 1 or (kinds and kinds[0] not in KNOWLEDGE[1:]):
            raise ValueError(
                _("not a student (T:alpha, then :a and a kind of knowledge if any): {part}").format(
                    part=repr(part)
                )
            )
        students.append(Student(float(bits[0]), float(bits[1]), anneal, kinds[0] if kinds else "logits"))
    return check_students(students)


class RaceSizeError(ValueError):
    """A race with no student or more than MAX_STUDENTS."""


def check_students(students) -> tuple[Student, ...]:
    students = tuple(students)
    if not 1 <= len(students) <= MAX_STUDENTS:
        raise RaceSizeError(
            _("a race has 1-{most} students, got {count}").format(most=MAX_STUDENTS, count=len(students))
        )
    if not all(isinstance(s, Student) for s in students):
        raise ValueError(_("students must be kdviz.distill.Student"))
    return students


@dataclass(frozen=True)
class DistillConfig:
    hidden: tuple[int, ...] = (800, 800)  # the paper's student
    students: tuple[Student, ...] = PAIR
    epochs: int = 3
    batch_size: int | None = None  # None = auto: 512 on 60,000 images, ~60 on 1,000
    lr: float = 1e-3
    seed: int = 0
    train_size: int | None = None  # None = all 60,000
    omit: tuple[int, ...] = ()  # digits missing from the transfer set
    # Test every n-th epoch and the last; None = at most TESTS times a run (kdviz.train.TrainConfig)
    eval_every: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "hidden", check_hidden(self.hidden))
        object.__setattr__(self, "students", check_students(self.students))
        object.__setattr__(self, "omit", tuple(sorted({int(d) for d in self.omit})))
        self.train_config()

    @property
    def baseline(self) -> int | None:
        """Index of the first labels-only student (alpha = 0), the one the others must beat."""
        return next((i for i, s in enumerate(self.students) if s.alpha == 0), None)

    def describe(self) -> str:
        """E.g. '800-800 students (labels only; T = 20, α = 0.9), 20 epochs, 1,000 images, seed 0'."""
        if self.train_size is None:
            images = _("all images")
        else:
            images = _("{count:,} images").format(count=self.train_size)
        omit = "".join(_(", no {digit}s").format(digit=d) for d in self.omit)
        return _("{hidden} students ({students}), {epochs} epochs, {images}{omit}, seed {seed}").format(
            hidden=shape_name(self.hidden),
            students=_("; ").join(student_names(self.students)),
            epochs=self.epochs,
            images=images,
            omit=omit,
            seed=self.seed,
        )

    @property
    def tested_every(self) -> int:
        return int(self.eval_every or -(-int(self.epochs) // TESTS))

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            self.epochs,
            self.batch_size,
            self.lr,
            self.seed,
            train_size=self.train_size,
            omit=self.omit,
            eval_every=self.tested_every,
            first_look=FIRST_LOOK,
        )


def race(
    data: MNIST,
    teacher_logits: torch.Tensor,  # (N_train, 10), computed once per teacher
    cfg: DistillConfig,
    should_stop: StopFlag = never_stop,
    students: Sequence[Student] | None = None,  # instead of cfg.students: any number (kdviz.lab.Pool)
    teacher_hidden=None,  # the teacher's (B, 784) -> (B, units) last hidden layer: hint, relation
) -> tuple[StackedMLP, Iterator[Progress]]:
    """(models, events); index k of every list is cfg.students[k] (or students[k]). Mutual
    students' peers train at the end of the stack; the events are the students' alone."""
    students = cfg.students if students is None else tuple(students)
    K = len(students)
    mutual = [k for k, s in enumerate(students) if s.knowledge == "mutual"]
    stack = [*students, *(students[k] for k in mutual)]  # each peer learns as its student does
    peers = [-1] * K + mutual
    for j, k in enumerate(mutual):
        peers[k] = K + j
    inits = [cfg.seed] * K + [cfg.seed + 1 + j for j in range(len(mutual))]
    models = StackedMLP(cfg.hidden, k=len(stack), seed=cfg.seed, inits=inits).to(data.device)
    anneal = any(s.anneal for s in stack)
    events = train(
        models,
        data,
        cfg.train_config(),
        T=[s.T for s in stack],
        alpha=[s.alpha for s in stack],
        teacher=Cached(teacher_logits, teacher_hidden),
        should_stop=should_stop,
        T_end=[s.T_end for s in stack] if anneal else None,
        knowledge=[s.knowledge for s in stack],
        peers=peers if mutual else None,
    )
    if mutual:
        events = (ev.only(range(K)) for ev in events)
    return models, events


def race_table(students) -> list[dict]:
    """The Lab's race as its editor shows it: T and alpha as text, so what a person types (abc,
    NaN, -0.2, 1e309) reaches `students_from_table` as typed, never clamped or zeroed on the way."""
    return [
        {"T": f"{s.T:g}", "alpha": f"{s.alpha:g}", "anneal": s.anneal, "knowledge": s.knowledge}
        for s in students
    ]


def students_from_table(rows) -> tuple[Student, ...]:
    """The Lab's student table (rows of {"T", "alpha", "anneal", "knowledge"}, numbers or text) as
    students; ValueError naming the row on a bad or empty cell: a value outside its range is
    refused, never clamped into it. RaceSizeError for no student or too many."""
    students = []
    for i, row in enumerate(rows, 1):
        T, alpha = (v.strip() if isinstance(v, str) else v for v in (row.get("T"), row.get("alpha")))
        try:
            students.append(Student(T, alpha, bool(row.get("anneal")), row.get("knowledge") or "logits"))
        except (TypeError, ValueError) as e:
            raise ValueError(_("student {number}: {error}").format(number=i, error=e)) from None
    return check_students(students)


def race_curves(students, epochs: list[Progress]) -> tuple[dict, dict, list[int]]:
    """Per-epoch test errors and loss terms of a race, keyed by the students' labels, for charts,
    and which student each loss term is (its index: a student keeps one colour in both charts).

    Losses: every student's hard term (CE with the labels) and, for those that listen to a
    teacher or a peer, that term as well: soft (T^2-scaled KL), hint (MSE), relation (RKD) or
    peer (KL)."""
    names = student_names(students)
    errors = {n: [e.test_errors[k] for e in epochs] for k, n in enumerate(names)}
    losses, owners = {}, []
    terms = {
        "logits": _("{label}: soft (KL)"),
        "hint": _("{label}: hint (MSE)"),
        "relation": _("{label}: relation (RKD)"),
        "mutual": _("{label}: peer (KL)"),
    }
    for k, (s, n) in enumerate(zip(students, names)):
        if s.alpha > 0:
            losses[terms[s.knowledge].format(label=n)] = [e.soft_loss[k] for e in epochs]
            owners.append(k)
        losses[_("{label}: hard (CE)").format(label=n)] = [e.hard_loss[k] for e in epochs]
        owners.append(k)
    return errors, losses, owners
