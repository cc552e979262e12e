"""The class answers live: a lesson's join code, its current step, and every student's answer.

One SQLite file beside the run history (WAL, so 40 phones answering and a teacher's screen reading
the tally do not block each other), or the PostgreSQL database that replicas share (kdviz.store).
A lesson is a short join code; students answer the step on screen from their own devices, one
answer per device per step (a later one replaces it), until the teacher reveals the step.
Answers are anonymous unless a student types a name.

Only the teacher drives a lesson (start, move, reveal, close): each of those calls takes the
teacher's key and compares it with the server's (KDVIZ_TEACHER_KEY, or the one `kdviz app`
prints) in constant time, so a student's device or a crafted link cannot drive it.
"""

from __future__ import annotations

import contextlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from kdviz.i18n import _
from kdviz.lesson import STEPS, Step
from kdviz.store import NotOurs, Store

APPLICATION_ID = 0x6B64706C  # "kdpl": a file that is not ours is refused, not overwritten
SCHEMA = 2  # 1: answers ordered by SQLite's rowid (no id of their own)
TABLES = sa.MetaData()
LESSONS = sa.Table(
    "lessons",
    TABLES,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("revealed", sa.Integer, nullable=False),
    sa.Column("open", sa.Integer, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
)
ANSWERS = sa.Table(
    "answers",
    TABLES,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # the order of first answers
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("device", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.UniqueConstraint("code", "step", "device"),  # one answer per device per step
)


def _number_the_answers(conn) -> None:
    """Format 1 -> 2, keeping a lesson's answers in order. Format 1 only ever existed as an
    SQLite file, so its rowid order is read as SQLite writes it."""
    conn.execute(sa.text("ALTER TABLE answers RENAME TO answers_1"))
    ANSWERS.create(conn)
    columns = "code, step, device, name, answer, at"
    conn.execute(sa.text(f"INSERT INTO answers ({columns}) SELECT {columns} FROM answers_1 ORDER BY rowid"))
    conn.execute(sa.text("DROP TABLE answers_1"))


MIGRATIONS = {1: _number_the_answers}
CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud from a projector
CODE_LENGTH = 4
MAX_NAME = 40
MAX_NUMBER = 1e9


class PollError(ValueError):
    """An answer or a lesson command that cannot be used; the message says why."""


class NotTeacher(PollError):
    """A lesson command without the teacher's key."""


@dataclass(frozen=True)
class Lesson:
    code: str
    step: int  # index into kdviz.lesson.STEPS
    revealed: bool  # answers to this step are closed and its result is shown
    open: bool  # False once the teacher has closed the lesson
    created: str  # UTC, ISO 8601


class ClassPoll:
    def __init__(self, where: str | Path, teacher_key: str, timeout: float = 10.0):
        self.store = Store(where, "lessons", APPLICATION_ID, timeout)
        self._key = teacher_key or ""
        self._ensure()

    # --- the teacher's commands -------------------------------------------------------------------
    def start(self, key: str) -> str:
        """A new lesson at its first step; its join code."""
        self.check_teacher(key)
        with self._write() as conn:
            for _attempt in range(20):
                code = "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))
                if conn.execute(sa.select(LESSONS.c.code).where(LESSONS.c.code == code)).first() is None:
                    conn.execute(
                        sa.insert(LESSONS).values(code=code, step=0, revealed=0, open=1, created=_now())
                    )
                    return code
        raise PollError(_("no free join code: close some lessons first"))

    def go(self, key: str, code: str, step: int) -> None:
        """Move the lesson to `step`: its answers open again, unrevealed."""
        self.check_teacher(key)
        if not 0 <= int(step) < len(STEPS):
            raise PollError(_("a lesson has steps 1-{n}").format(n=len(STEPS)))
        self._update(code, step=int(step), revealed=0)

    def reveal(self, key: str, code: str) -> None:
        self.check_teacher(key)
        self._update(code, revealed=1)

    def close(self, key: str, code: str) -> None:
        self.check_teacher(key)
        self._update(code, open=0)

    def is_teacher(self, key: str) -> bool:
        return bool(self._key) and hmac.compare_digest(str(key).encode(), self._key.encode())

    # --- the students' side -----------------------------------------------------------------------
    def lesson(self, code: str) -> Lesson | None:
        with self._read() as conn:
            row = conn.execute(sa.select(LESSONS).where(LESSONS.c.code == _code(code))).first()
        if row is None:
            return None
        return Lesson(row.code, int(row.step), bool(row.revealed), bool(row.open), row.created)

    def open_lesson(self) -> str:
        """The join code of the newest lesson still open ("" when none): runs that end now belong
        to it (kdviz.history's lesson filter)."""
        query = sa.select(LESSONS.c.code).where(LESSONS.c.open == 1).order_by(LESSONS.c.created.desc())
        with self._read() as conn:
            return conn.execute(query.limit(1)).scalar() or ""

    def answer(self, code: str, device: str, step: int, answer: str, name: str = "") -> str:
        """Keep this device's answer to `step` (replacing its earlier one); the answer as kept.
        PollError when the lesson is unknown or closed, the step is not the current one or is
        revealed, or the answer does not fit the question."""
        lesson = self.lesson(code)
        if lesson is None:
            raise PollError(_("no lesson has the code {code}").format(code=_code(code)))
        if not lesson.open:
            raise PollError(_("this lesson is closed"))
        if step != lesson.step:
            raise PollError(_("the class has moved on to another question"))
        if lesson.revealed:
            raise PollError(_("the answer has been revealed: answers to this question are closed"))
        if not device or len(device) > 64:
            raise PollError(_("this device has no id: reload the page"))
        kept = check_answer(STEPS[step], answer)
        mine = (ANSWERS.c.code == lesson.code, ANSWERS.c.step == step, ANSWERS.c.device == device)
        values = {"name": str(name or "").strip()[:MAX_NAME], "answer": kept, "at": _now()}
        for attempt in range(2):  # the same device twice at once: one inserts, the other updates
            try:
                with self._write() as conn:
                    if not conn.execute(sa.update(ANSWERS).where(*mine).values(values)).rowcount:
                        conn.execute(
                            sa.insert(ANSWERS).values(code=lesson.code, step=step, device=device, **values)
                        )
                return kept
            except sa.exc.IntegrityError:
                if attempt:
                    raise
        return kept

    def answers(self, code: str, step: int) -> list[tuple[str, str]]:
        """(name, answer) of every device that answered `step`, in the order they first answered."""
        query = (
            sa.select(ANSWERS.c.name, ANSWERS.c.answer)
            .where(ANSWERS.c.code == _code(code), ANSWERS.c.step == int(step))
            .order_by(ANSWERS.c.id)
        )
        with self._read() as conn:
            return [(r.name, r.answer) for r in conn.execute(query)]

    def my_answer(self, code: str, step: int, device: str) -> str | None:
        query = sa.select(ANSWERS.c.answer).where(
            ANSWERS.c.code == _code(code), ANSWERS.c.step == int(step), ANSWERS.c.device == device
        )
        with self._read() as conn:
            return conn.execute(query).scalar()

    # --- storage ----------------------------------------------------------------------------------
    def check_teacher(self, key: str) -> None:
        """NotTeacher unless `key` is this server's teacher's key: every teacher-only command
        (the lesson's, stopping another session's run, deleting the class's runs) asks first."""
        if not self._key:
            raise NotTeacher(
                _("this server has no teacher's key: start it with `kdviz app`, or set KDVIZ_TEACHER_KEY")
            )
        if not self.is_teacher(key):
            raise NotTeacher(_("only the teacher can do this: the teacher's key is needed"))

    def _update(self, code: str, **values) -> None:
        with self._write() as conn:
            if (
                conn.execute(sa.update(LESSONS).where(LESSONS.c.code == _code(code)).values(values)).rowcount
                == 0
            ):
                raise PollError(_("no lesson has the code {code}").format(code=_code(code)))

    @contextlib.contextmanager
    def _read(self):
        with self._errors(), self.store.reading() as conn:
            yield conn

    @contextlib.contextmanager
    def _write(self):
        with self._errors(), self.store.writing() as conn:
            yield conn

    @contextlib.contextmanager
    def _errors(self):
        """A database that cannot be used just now (full, locked for too long, a server down):
        PollError, which the pages show as a message."""
        try:
            yield
        except sa.exc.IntegrityError:
            raise
        except sa.exc.SQLAlchemyError as e:
            raise PollError(
                _("the lesson file {path} cannot be used just now: {error}").format(
                    path=self.store.describe(), error=str(getattr(e, "orig", None) or e).splitlines()[0]
                )
            ) from None

    def _ensure(self) -> None:
        try:
            if self.store.path is not None:
                self.store.path.parent.mkdir(parents=True, exist_ok=True)
            self.store.setup(TABLES, SCHEMA, MIGRATIONS)
        except NotOurs:
            raise PollError(
                _("{path} is not kdviz's lesson file: move it away or set KDVIZ_CACHE_DIR").format(
                    path=self.store.describe()
                )
            ) from None
        except (OSError, sa.exc.SQLAlchemyError) as e:
            raise PollError(
                _("cannot use the lesson file {path}: {error}").format(
                    path=self.store.describe(), error=str(getattr(e, "orig", None) or e).splitlines()[0]
                )
            ) from None


def check_answer(step: Step, raw) -> str:
    """An answer as kept: a choice's index ("0".."n-1"), or a finite number ("42", "3.5")."""
    text = str(raw).strip().replace(",", "")
    if step.choices:
        if text not in {str(i) for i in range(len(step.choices))}:
            raise PollError(_("pick one of the choices"))
        return text
    try:
        value = float(text)
    except ValueError:
        raise PollError(_("type a number, e.g. 42")) from None
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise PollError(_("type a number, e.g. 42"))
    return f"{value:g}"


def tally(step: Step, answers: list[tuple[str, str]]) -> dict[str, int]:
    """Counts per choice (every choice listed, in order: a bar chart's bars), or per number."""
    if step.choices:
        counts = {str(i): 0 for i in range(len(step.choices))}
    else:
        counts = {}
    for _name, answer in answers:
        counts[answer] = counts.get(answer, 0) + 1
    if not step.choices:
        counts = dict(sorted(counts.items(), key=lambda kv: float(kv[0])))
    return counts


def _code(code: str) -> str:
    return str(code or "").strip().upper()[: CODE_LENGTH + 4]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_key() -> str:
    """A teacher's key, as `kdviz app` prints it."""
    return secrets.token_urlsafe(12)
