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
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from kdviz.distill import loss_name
from kdviz.i18n import N_, _

APPLICATION_ID = 0x6B647672  # "kdvr" in the file header: our database, not someone else's
SCHEMA = 3  # 1: one row per run of two students (before races of up to six); 2: no indices
# How to bring an older file up to SCHEMA, step by step, keeping its rows (version -> statements).
# Version 1 stored a run of two students in one row: it cannot be read as students and is set aside.
MIGRATIONS = {
    2: (  # a semester's history: the class table sorts, filters and pages in SQL
        "CREATE INDEX IF NOT EXISTS runs_by_errors ON runs (errors, run)",
        "CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created)",
        "CREATE INDEX IF NOT EXISTS runs_by_session ON runs (session)",
    ),
}
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
    id: int = 0  # set by the database
    created: str = ""  # UTC, ISO 8601, set by the database

    @property
    def gain(self) -> int | None:
        return None if self.labels_only is None else self.labels_only - self.errors

    @property
    def loss_name(self) -> str:
        return loss_name(self.T, self.alpha, self.anneal)


class RunHistory:
    """The runs database at `path` (created on first use)."""

    def __init__(self, path: str | Path, timeout: float = 30.0):
        self.path, self.timeout = Path(path), float(timeout)
        self._ensure()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return conn

    def _ensure(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise HistoryError(
                _("cannot create the folder for the run history {folder}: {error}").format(
                    folder=self.path.parent, error=e
                )
            ) from None
        try:
            with contextlib.closing(self._connect()) as conn:
                app = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if app != APPLICATION_ID and tables:  # empty: new, or another process is creating it
                    raise sqlite3.DatabaseError(_("application id {id}, not kdviz's").format(id=f"{app:#x}"))
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if tables and version != SCHEMA and version not in MIGRATIONS:
                    raise sqlite3.DatabaseError(
                        _("it is format {version}, from another kdviz version").format(version=version)
                    )
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "created TEXT NOT NULL, " + ", ".join(f'"{c}"' for c in COLUMNS) + ")"
                )
                step = version if tables else min(MIGRATIONS)  # a new file takes every step
                while step in MIGRATIONS:  # in the same transaction: all steps, or none
                    for statement in MIGRATIONS[step]:
                        conn.execute(statement)
                    step += 1
                conn.execute(f"PRAGMA user_version = {SCHEMA}")
                conn.execute("COMMIT")
        except sqlite3.OperationalError as e:  # locked, unwritable, no room: the file is not the problem
            raise HistoryError(
                _("cannot use the run history {path}: {error}").format(path=self.path, error=e)
            ) from None
        except sqlite3.DatabaseError as e:
            aside = self.path.with_name(f"{self.path.name}.rejected-{time.strftime('%Y%m%d-%H%M%S')}")
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            raise HistoryError(
                _(
                    "{file} is not a kdviz run history ({error}); it was moved aside to {aside} "
                    "and a new history starts"
                ).format(file=self.path.name, error=e, aside=aside.name)
            ) from None

    def add(self, records: list[Record]) -> list[int]:
        """Store a run's rows in one transaction (all or none); their ids."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cols = ", ".join(f'"{c}"' for c in ("created", *COLUMNS))
        marks = ", ".join("?" * (len(COLUMNS) + 1))
        ids = []
        try:
            with contextlib.closing(self._connect()) as conn:
                conn.execute("BEGIN IMMEDIATE")
                for record in records:
                    row = asdict(record) | {"curve": json.dumps(record.curve), "anneal": int(record.anneal)}
                    cur = conn.execute(
                        f"INSERT INTO runs ({cols}) VALUES ({marks})", (created, *(row[c] for c in COLUMNS))
                    )
                    ids.append(int(cur.lastrowid))
                conn.execute("COMMIT")
        except sqlite3.Error as e:  # a full disk, most likely: the transaction rolls back whole
            raise HistoryError(_("the run was not stored ({error})").format(error=e)) from None
        return ids

    def recent(self, limit: int) -> list[Record]:
        """The newest `limit` students that have a curve, oldest first: one indexed read of a
        few rows, whatever the size of the history (the Lab's overlay)."""
        query = "SELECT * FROM runs WHERE curve != '[]' ORDER BY id DESC LIMIT ?"
        return self._records(query, (int(limit),))[::-1]

    def runs(self, session: str | None = None) -> list[Record]:
        """Every run, oldest first; only one browser session's with `session`."""
        query = "SELECT * FROM runs" + (" WHERE session = ?" if session is not None else "") + " ORDER BY id"
        return self._records(query, () if session is None else (session,))

    def page(
        self, number: int = 0, name: str = "", since: str = "", size: int = PAGE
    ) -> tuple[list[Record], int]:
        """One page of the class table, fewest test errors first: (its students, how many match).
        `name`: part of the name a student typed (any case); `since`: a date, 'YYYY-MM-DD' (UTC).
        Sorted, filtered and cut in SQL on indices, so a page costs the same in a semester's history."""
        where, params = self._filter(name, since)
        with self._reading() as conn:
            total = conn.execute(f"SELECT count(*) FROM runs{where}", params).fetchone()[0]
        query = f"SELECT * FROM runs{where} ORDER BY errors, run, id LIMIT ? OFFSET ?"
        return self._records(query, (*params, int(size), int(number) * int(size))), int(total)

    def csv(self, name: str = "", since: str = "") -> bytes:
        """Every matching student as the class table's CSV (csv_bytes: safe in a spreadsheet),
        read row by row from the database: no Record or DataFrame of the whole history is built."""
        where, params = self._filter(name, since)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        with self._reading() as conn:
            conn.row_factory = sqlite3.Row
            for row in conn.execute(f"SELECT * FROM runs{where} ORDER BY errors, run, id", params):
                writer.writerow(_inert(v) for v in _table_row(row).values())
        return out.getvalue().encode("utf-8-sig")

    def delete(self, name: str = "", since: str = "") -> int:
        """Delete the students the class table shows with this filter (a run's students share
        its name and time, so whole runs go); how many. Pages call it for the teacher only."""
        where, params = self._filter(name, since)
        try:
            with contextlib.closing(self._connect()) as conn:
                return conn.execute(f"DELETE FROM runs{where}", params).rowcount
        except sqlite3.Error as e:
            raise HistoryError(_("nothing was deleted ({error})").format(error=e)) from None

    @staticmethod
    def _filter(name: str, since: str) -> tuple[str, tuple]:
        clauses, params = [], []
        if name.strip():
            clauses.append("name LIKE ? ESCAPE '\\'")
            escaped = name.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        if since:
            clauses.append("created >= ?")
            params.append(str(since))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)

    @contextlib.contextmanager
    def _reading(self):
        """A connection for reads; HistoryError when the file cannot be read just now (a full
        disk: in WAL mode a reader must create the shared-memory file beside it)."""
        try:
            with contextlib.closing(self._connect()) as conn:
                yield conn
        except sqlite3.Error as e:
            raise HistoryError(
                _("the class's history cannot be read just now ({error})").format(error=e)
            ) from None

    def _records(self, query: str, params: tuple) -> list[Record]:
        with self._reading() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(query, params).fetchall()
        out = []
        for r in rows:
            values = dict(r)
            values["curve"] = [tuple(c) for c in json.loads(values["curve"] or "[]")]
            values["anneal"] = bool(values["anneal"])
            out.append(Record(**values))
        return out


def _table_row(r) -> dict:
    """A student (a Record or a database row) as a row of the class table."""
    get = r.__getitem__ if isinstance(r, sqlite3.Row) else lambda k: getattr(r, k)
    labels_only, errors = get("labels_only"), get("errors")
    return {
        N_("run"): get("run"),
        N_("name"): get("name") or "-",
        N_("student"): get("student"),
        N_("loss"): loss_name(get("T"), get("alpha"), bool(get("anneal"))),
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
    }


CSV_COLUMNS = (
    "run", "name", "student", "loss", "images", "omit", "epochs", "test errors", "labels-only errors", "gain",
    "teacher errors", "seconds", "device", "when (UTC)",
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
