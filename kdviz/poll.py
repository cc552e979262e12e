"""The class answers live: a lesson's join code, its current step, and every student's answer.

One SQLite file beside the run history (WAL, so 40 phones answering and a teacher's screen reading
the tally do not block each other). A lesson is a short join code; students answer the step on
screen from their own devices, one answer per device per step (a later one replaces it), until
the teacher reveals the step. Answers are anonymous unless a student types a name.

Only the teacher drives a lesson (start, move, reveal, close): each of those calls takes the
teacher's key and compares it with the server's (KDVIZ_TEACHER_KEY, or the one `kdviz app`
prints) in constant time, so a student's device or a crafted link cannot drive it.
"""

from __future__ import annotations

import contextlib
import hmac
import math
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from kdviz.i18n import _
from kdviz.lesson import STEPS, Step

APPLICATION_ID = 0x6B64706C  # "kdpl": a file that is not ours is refused, not overwritten
SCHEMA = 1
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
    def __init__(self, path: str | Path, teacher_key: str, timeout: float = 10.0):
        self.path, self.timeout = Path(path), float(timeout)
        self._key = teacher_key or ""
        self._ensure()

    # --- the teacher's commands -------------------------------------------------------------------
    def start(self, key: str) -> str:
        """A new lesson at its first step; its join code."""
        self.check_teacher(key)
        with self._write() as conn:
            for _attempt in range(20):
                code = "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))
                if conn.execute("SELECT 1 FROM lessons WHERE code = ?", (code,)).fetchone() is None:
                    conn.execute(
                        "INSERT INTO lessons (code, step, revealed, open, created) VALUES (?, 0, 0, 1, ?)",
                        (code, _now()),
                    )
                    return code
        raise PollError(_("no free join code: close some lessons first"))

    def go(self, key: str, code: str, step: int) -> None:
        """Move the lesson to `step`: its answers open again, unrevealed."""
        self.check_teacher(key)
        if not 0 <= int(step) < len(STEPS):
            raise PollError(_("a lesson has steps 1-{n}").format(n=len(STEPS)))
        self._update(code, "step = ?, revealed = 0", (int(step),))

    def reveal(self, key: str, code: str) -> None:
        self.check_teacher(key)
        self._update(code, "revealed = 1", ())

    def close(self, key: str, code: str) -> None:
        self.check_teacher(key)
        self._update(code, "open = 0", ())

    def is_teacher(self, key: str) -> bool:
        return bool(self._key) and hmac.compare_digest(str(key).encode(), self._key.encode())

    # --- the students' side -----------------------------------------------------------------------
    def lesson(self, code: str) -> Lesson | None:
        with contextlib.closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT code, step, revealed, open, created FROM lessons WHERE code = ?", (_code(code),)
            ).fetchone()
        if row is None:
            return None
        return Lesson(row[0], int(row[1]), bool(row[2]), bool(row[3]), row[4])

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
        with self._write() as conn:
            conn.execute(
                "INSERT INTO answers (code, step, device, name, answer, at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (code, step, device) DO UPDATE SET answer = excluded.answer, "
                "name = excluded.name, at = excluded.at",
                (lesson.code, step, device, str(name or "").strip()[:MAX_NAME], kept, _now()),
            )
        return kept

    def answers(self, code: str, step: int) -> list[tuple[str, str]]:
        """(name, answer) of every device that answered `step`, in the order they first answered."""
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT name, answer FROM answers WHERE code = ? AND step = ? ORDER BY rowid",
                (_code(code), int(step)),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def my_answer(self, code: str, step: int, device: str) -> str | None:
        with contextlib.closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT answer FROM answers WHERE code = ? AND step = ? AND device = ?",
                (_code(code), int(step), device),
            ).fetchone()
        return row[0] if row else None

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

    def _update(self, code: str, assignments: str, values: tuple) -> None:
        with self._write() as conn:
            cur = conn.execute(f"UPDATE lessons SET {assignments} WHERE code = ?", (*values, _code(code)))
            if cur.rowcount == 0:
                raise PollError(_("no lesson has the code {code}").format(code=_code(code)))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return conn

    @contextlib.contextmanager
    def _write(self):
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _ensure(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(self._connect()) as conn:
                app = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables and app != APPLICATION_ID:
                    raise PollError(
                        _("{path} is not kdviz's lesson file: move it away or set KDVIZ_CACHE_DIR").format(
                            path=self.path
                        )
                    )
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA}")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS lessons (code TEXT PRIMARY KEY, step INTEGER NOT NULL, "
                    "revealed INTEGER NOT NULL, open INTEGER NOT NULL, created TEXT NOT NULL)"
                )
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS answers (code TEXT NOT NULL, step INTEGER NOT NULL, "
                    "device TEXT NOT NULL, name TEXT NOT NULL, answer TEXT NOT NULL, at TEXT NOT NULL, "
                    "PRIMARY KEY (code, step, device))"
                )
                conn.execute("COMMIT")
        except (OSError, sqlite3.Error) as e:
            raise PollError(
                _("cannot use the lesson file {path}: {error}").format(path=self.path, error=e)
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
