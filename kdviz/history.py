"""The class's runs, kept: every finished or stopped Lab run in an SQLite file in the cache folder.

A run lives in one browser session; a teacher wants to show the class what everyone found, after
a reload or a server restart. One row per student of a run (a race has up to six): its settings,
per-epoch test errors, seconds, device, the browser session that ran it and an optional name the
student typed. A run's rows are written in one transaction: all of them, or none.

Many sessions write at once (one server, a class of browsers; sometimes two server processes on
one cache). SQLite in WAL mode with a busy timeout serialises the writers; each write is one
transaction on its own connection, so a thread never shares a connection. A file that is not our
database (damaged, another program's, or another kdviz version's format) raises HistoryError
and is moved aside, never emptied: the next open starts a fresh file beside it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from kdviz.distill import loss_name
from kdviz.i18n import N_, _
from kdviz.store import NotOurs, Store

APPLICATION_ID = 0x6B647672  # "kdvr" in an SQLite file's header: our database, not someone else's
# 1: a row per run of two students (before races of six); 2: no indices; 3: no lesson; 4: no knowledge
SCHEMA = 5
TABLES = sa.MetaData()
RUNS = sa.Table(
    "runs",
    TABLES,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created", sa.Text, nullable=False),  # UTC, ISO 8601: sorts and compares as text
    *(
        sa.Column(name, kind)
        for name, kind in {
            "run": sa.Text,
            "name": sa.Text,
            "session": sa.Text,
            "student": sa.Text,
            "T": sa.Float,
            "alpha": sa.Float,
            "anneal": sa.Integer,
            "images": sa.Integer,
            "omit": sa.Text,
            "seed": sa.Integer,
            "epochs": sa.Integer,
            "epochs_done": sa.Integer,
            "teacher": sa.Text,
            "teacher_errors": sa.Integer,
            "errors": sa.Integer,
            "labels_only": sa.Integer,
            "seconds": sa.Float,
            "device": sa.Text,
            "status": sa.Text,
            "curve": sa.Text,
        }.items()
    ),
    sa.Column("lesson", sa.Text, nullable=False, server_default=""),  # its lesson's join code, if any
    # what the student learnt from besides the labels (kdviz.train.KNOWLEDGE)
    sa.Column("knowledge", sa.Text, nullable=False, server_default="logits"),
    # a semester's history: the class table sorts, filters and pages in SQL
    sa.Index("runs_by_errors", "errors", "run"),
    sa.Index("runs_by_created", "created"),
    sa.Index("runs_by_session", "session"),
    sa.Index("runs_by_lesson", "lesson", "created"),
    sqlite_autoincrement=True,  # ids are never reused after a delete: newest is highest
)


def _add_indices(conn) -> None:
    for index in RUNS.indexes:
        if index.name != "runs_by_lesson":  # its column comes in the next step
            index.create(conn, checkfirst=True)


def _add_lessons(conn) -> None:
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN lesson TEXT NOT NULL DEFAULT ''"))
    next(i for i in RUNS.indexes if i.name == "runs_by_lesson").create(conn, checkfirst=True)


# How to bring an older format up to SCHEMA, step by step, keeping its rows (version -> step).
# Version 1 stored a run of two students in one row: it cannot be read as students and is set aside.
def _add_knowledge(conn) -> None:
    # every student before format 5 learnt from the teacher's logits (or from nothing: labels only)
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN knowledge TEXT NOT NULL DEFAULT 'logits'"))


MIGRATIONS = {2: _add_indices, 3: _add_lessons, 4: _add_knowledge}
PAGE = 50  # students per page of the class table
COLUMNS = (
    "run",
    "name",
    "session",
    "student",
    "T",
    "alpha",
    "anneal",
    "images",
    "omit",
    "seed",
    "epochs",
    "epochs_done",
    "teacher",
    "teacher_errors",
    "errors",
    "labels_only",
    "seconds",
    "device",
    "status",
    "curve",
    "lesson",
    "knowledge",
)


class HistoryError(ValueError):
    """The history file cannot be used; the message says what happened to it."""


@dataclass(frozen=True)
class Record:
    """One student of a finished (or stopped) Lab run; the students of one run share `run`."""

    run: str  # the run's id: its students' rows share it
    student: str  # e.g. "800-800"
    T: float  # the starting temperature
    alpha: float  # 0 = labels only
    anneal: bool  # T fell linearly to 1 over the run
    images: int
    omit: str  # e.g. "3" or "-"
    seed: int
    epochs: int
    epochs_done: int
    teacher: str
    teacher_errors: int
    errors: int  # this student's test errors
    labels_only: int | None  # the run's labels-only student's, if it had one
    seconds: float
    device: str
    status: str = "done"
    session: str = ""  # the browser session that ran it
    name: str = ""  # typed by the student, optional
    curve: list[tuple[int, int]] = field(default_factory=list)  # (epoch, test errors)
    lesson: str = ""  # the join code of the lesson open on the server when it ended, if any
    knowledge: str = "logits"  # what it learnt from besides the labels (kdviz.train.KNOWLEDGE)
    id: int = 0  # set by the database
    created: str = ""  # UTC, ISO 8601, set by the database

    @property
    def gain(self) -> int | None:
        return None if self.labels_only is None else self.labels_only - self.errors

    @property
    def loss_name(self) -> str:
        return loss_name(self.T, self.alpha, self.anneal, self.knowledge)


class RunHistory:
    """The runs database: an SQLite file at `where` (created on first use), or a PostgreSQL URL
    that replicas of the app share (kdviz.store)."""

    def __init__(self, where: str | Path, timeout: float = 30.0):
        self.store = Store(where, "history", APPLICATION_ID, timeout)
        self.path = self.store.path  # None for PostgreSQL
        self._ensure()

    def _ensure(self) -> None:
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise HistoryError(
                    _("cannot create the folder for the run history {folder}: {error}").format(
                        folder=self.path.parent, error=e
                    )
                ) from None
        try:
            self.store.setup(TABLES, SCHEMA, MIGRATIONS)
        except (NotOurs, sa.exc.DatabaseError) as e:
            if self.path is None or (isinstance(e, sa.exc.OperationalError) and not _damaged(e)):
                # locked, unwritable, no room, no server: the file is not the problem
                raise HistoryError(
                    _("cannot use the run history {path}: {error}").format(
                        path=self.store.describe(), error=_short(e)
                    )
                ) from None
            aside = self.path.with_name(f"{self.path.name}.rejected-{time.strftime('%Y%m%d-%H%M%S')}")
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            raise HistoryError(
                _(
                    "{file} is not a kdviz run history ({error}); it was moved aside to {aside} "
                    "and a new history starts"
                ).format(file=self.path.name, error=_short(e), aside=aside.name)
            ) from None

    def add(self, records: list[Record]) -> list[int]:
        """Store a run's rows in one transaction (all or none); their ids."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        rows = [
            {"created": created}
            | {c: v for c, v in asdict(r).items() if c in COLUMNS}
            | {"curve": json.dumps(r.curve), "anneal": int(r.anneal)}
            for r in records
        ]
        try:
            with self.store.writing() as conn:
                return [
                    int(conn.execute(sa.insert(RUNS).values(row)).inserted_primary_key[0]) for row in rows
                ]
        except sa.exc.SQLAlchemyError as e:  # a full disk, most likely: the transaction rolls back whole
            raise HistoryError(_("the run was not stored ({error})").format(error=_short(e))) from None

    def recent(self, limit: int) -> list[Record]:
        """The newest `limit` students that have a curve, oldest first: one indexed read of a
        few rows, whatever the size of the history (the Lab's overlay)."""
        query = sa.select(RUNS).where(RUNS.c.curve != "[]").order_by(RUNS.c.id.desc()).limit(int(limit))
        return self._records(query)[::-1]

    def runs(self, session: str | None = None) -> list[Record]:
        """Every run, oldest first; only one browser session's with `session`."""
        query = sa.select(RUNS).order_by(RUNS.c.id)
        return self._records(query if session is None else query.where(RUNS.c.session == session))

    def page(
        self, number: int = 0, name: str = "", since: str = "", size: int = PAGE, lesson: str = ""
    ) -> tuple[list[Record], int]:
        """One page of the class table, fewest test errors first: (its students, how many match).
        `name`: part of the name a student typed (any case); `since`: a date, 'YYYY-MM-DD' (UTC);
        `lesson`: a lesson's join code.
        Sorted, filtered and cut in SQL on indices, so a page costs the same in a semester's history."""
        where = self._filter(name, since, lesson)
        with self._reading() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(RUNS).where(*where)).scalar()
        query = sa.select(RUNS).where(*where).order_by(*BEST_FIRST)
        return self._records(query.limit(int(size)).offset(int(number) * int(size))), int(total)

    def csv(self, name: str = "", since: str = "", lesson: str = "") -> bytes:
        """Every matching student as the class table's CSV (csv_bytes: safe in a spreadsheet),
        read row by row from the database: no Record or DataFrame of the whole history is built."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        query = sa.select(RUNS).where(*self._filter(name, since, lesson)).order_by(*BEST_FIRST)
        with self._reading() as conn:
            for row in conn.execution_options(yield_per=500).execute(query).mappings():
                writer.writerow(_inert(v) for v in _table_row(row).values())
        return out.getvalue().encode("utf-8-sig")

    def delete(self, name: str = "", since: str = "", lesson: str = "") -> int:
        """Delete the students the class table shows with this filter (a run's students share
        its name and time, so whole runs go); how many. Pages call it for the teacher only."""
        try:
            with self.store.writing() as conn:
                return conn.execute(sa.delete(RUNS).where(*self._filter(name, since, lesson))).rowcount
        except sa.exc.SQLAlchemyError as e:
            raise HistoryError(_("nothing was deleted ({error})").format(error=_short(e))) from None

    def lessons(self) -> list[tuple[str, str]]:
        """(join code, when its first run ended) of every lesson with runs, newest first."""
        first = sa.func.min(RUNS.c.created)
        query = sa.select(RUNS.c.lesson, first).where(RUNS.c.lesson != "").group_by(RUNS.c.lesson)
        with self._reading() as conn:
            return [(r[0], r[1]) for r in conn.execute(query.order_by(first.desc()))]

    @staticmethod
    def _filter(name: str, since: str, lesson: str = "") -> list:
        where = [RUNS.c.lesson == lesson] if lesson else []
        if name.strip():  # any case; % and _ typed by a person are letters, not wildcards
            escaped = name.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(RUNS.c.name.ilike(f"%{escaped}%", escape="\\"))
        if since:
            where.append(RUNS.c.created >= str(since))
        return where

    @contextlib.contextmanager
    def _reading(self):
        """A connection for reads; HistoryError when the history cannot be read just now (a full
        disk: in WAL mode a reader must create the shared-memory file beside it; a server down)."""
        try:
            with self.store.reading() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as e:
            raise HistoryError(
                _("the class's history cannot be read just now ({error})").format(error=_short(e))
            ) from None

    def _records(self, query) -> list[Record]:
        with self._reading() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for r in rows:
            values = dict(r)
            values["curve"] = [tuple(c) for c in json.loads(values["curve"] or "[]")]
            values["anneal"] = bool(values["anneal"])
            out.append(Record(**values))
        return out


BEST_FIRST = (RUNS.c.errors, RUNS.c.run, RUNS.c.id)  # the class table's order


def _short(e: Exception) -> str:
    """A database error's first line, without SQLAlchemy's statement and link."""
    return str(getattr(e, "orig", None) or e).splitlines()[0]


def _damaged(e: Exception) -> bool:
    """An SQLite error that says the file itself is no database (not: locked, full, unwritable)."""
    return "not a database" in str(e) or "malformed" in str(e)


def _table_row(r) -> dict:
    """A student (a Record or a database row) as a row of the class table."""
    get = (lambda k: getattr(r, k)) if isinstance(r, Record) else r.__getitem__
    labels_only, errors = get("labels_only"), get("errors")
    return {
        N_("run"): get("run"),
        N_("name"): get("name") or "-",
        N_("student"): get("student"),
        N_("loss"): loss_name(get("T"), get("alpha"), bool(get("anneal")), get("knowledge")),
        N_("images"): get("images"),
        N_("omit"): get("omit"),
        N_("epochs"): f"{get('epochs_done')}/{get('epochs')}",
        N_("test errors"): errors,
        N_("labels-only errors"): labels_only,
        N_("gain"): None if labels_only is None else labels_only - errors,
        N_("teacher errors"): get("teacher_errors"),
        N_("seconds"): get("seconds"),
        N_("device"): get("device"),
        N_("when (UTC)"): get("created").replace("T", " ").rstrip("Z"),
        N_("lesson"): get("lesson") or "-",
    }


CSV_COLUMNS = (
    "run", "name", "student", "loss", "images", "omit", "epochs", "test errors", "labels-only errors", "gain",
    "teacher errors", "seconds", "device", "when (UTC)", "lesson",
)  # fmt: skip


def class_table(records: list[Record]) -> pd.DataFrame:
    """The class's students as a table, fewest test errors first (who got the best one?).

    Its column names are stable English keys (the CSV's); a page shows them with `_()`."""
    rows = [_table_row(r) for r in records]
    return pd.DataFrame(rows).sort_values(["test errors", "run"], kind="stable") if rows else pd.DataFrame()


# A spreadsheet runs a cell that starts with one of these as a formula: a student named
# =HYPERLINK("http://x", "click") would become a live link in the teacher's Excel (OWASP: CSV
# injection). Such a cell is written with a leading apostrophe, which shows it as typed.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value):
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS) or value == "-":
        return value
    try:
        float(value)  # a negative number is a number, not a formula
        return value
    except ValueError:
        return "'" + value


def csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as a CSV a spreadsheet opens safely: no cell runs as a formula, and UTF-8 with a
    byte-order mark, without which Excel on Windows garbles α and Chinese names."""
    return table.map(_inert).to_csv(index=False).encode("utf-8-sig")
