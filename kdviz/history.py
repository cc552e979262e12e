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
import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from kdviz.distill import loss_name
from kdviz.i18n import N_, _

APPLICATION_ID = 0x6B647672  # "kdvr" in the file header: our database, not someone else's
SCHEMA = 2  # 1: one row per run of two students (before races of up to six)
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
                if tables and version != SCHEMA:
                    raise sqlite3.DatabaseError(
                        _("it is format {version}, from another kdviz version").format(version=version)
                    )
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA}")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "created TEXT NOT NULL, " + ", ".join(f'"{c}"' for c in COLUMNS) + ")"
                )
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
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            for record in records:
                row = asdict(record) | {"curve": json.dumps(record.curve), "anneal": int(record.anneal)}
                cur = conn.execute(
                    f"INSERT INTO runs ({cols}) VALUES ({marks})", (created, *(row[c] for c in COLUMNS))
                )
                ids.append(int(cur.lastrowid))
            conn.execute("COMMIT")
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

    def _records(self, query: str, params: tuple) -> list[Record]:
        with contextlib.closing(self._connect()) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(query, params).fetchall()
        out = []
        for r in rows:
            values = dict(r)
            values["curve"] = [tuple(c) for c in json.loads(values["curve"] or "[]")]
            values["anneal"] = bool(values["anneal"])
            out.append(Record(**values))
        return out


def class_table(records: list[Record]) -> pd.DataFrame:
    """The class's students as a table, fewest test errors first (who got the best one?).

    Its column names are stable English keys (the CSV's); a page shows them with `_()`."""
    rows = [
        {
            N_("run"): r.run,
            N_("name"): r.name or "-",
            N_("student"): r.student,
            N_("loss"): r.loss_name,
            N_("images"): r.images,
            N_("omit"): r.omit,
            N_("epochs"): f"{r.epochs_done}/{r.epochs}",
            N_("test errors"): r.errors,
            N_("labels-only errors"): r.labels_only,
            N_("gain"): r.gain,
            N_("teacher errors"): r.teacher_errors,
            N_("seconds"): r.seconds,
            N_("device"): r.device,
            N_("when (UTC)"): r.created.replace("T", " ").rstrip("Z"),
        }
        for r in records
    ]
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
