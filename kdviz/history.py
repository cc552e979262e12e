"""The class's runs, kept: every finished or stopped Lab run in an SQLite file in the cache folder.

A run lives in one browser session; a teacher wants to show the class what everyone found, after
a reload or a server restart. One row per run: its settings, per-epoch test errors, seconds,
device, the browser session that ran it and an optional name the student typed.

Many sessions write at once (one server, a class of browsers; sometimes two server processes on
one cache). SQLite in WAL mode with a busy timeout serialises the writers; each write is one
transaction on its own connection, so a thread never shares a connection. A file that is not our
database (damaged, or another program's) raises HistoryError and is moved aside, never emptied:
the next open starts a fresh file beside it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

APPLICATION_ID = 0x6B647672  # "kdvr" in the file header: our database, not someone else's
SCHEMA = 1
COLUMNS = (
    "name",
    "session",
    "student",
    "T",
    "alpha",
    "images",
    "omit",
    "seed",
    "epochs",
    "epochs_done",
    "teacher",
    "teacher_errors",
    "labels_only",
    "distilled",
    "seconds",
    "device",
    "status",
    "curve",
)


class HistoryError(ValueError):
    """The history file cannot be used; the message says what happened to it."""


@dataclass(frozen=True)
class Record:
    """One finished (or stopped) Lab run."""

    student: str  # e.g. "800-800"
    T: float
    alpha: float
    images: int
    omit: str  # e.g. "3" or "-"
    seed: int
    epochs: int
    epochs_done: int
    teacher: str
    teacher_errors: int
    labels_only: int
    distilled: int
    seconds: float
    device: str
    status: str = "done"
    session: str = ""  # the browser session that ran it
    name: str = ""  # typed by the student, optional
    curve: list[tuple[int, int, int]] = field(default_factory=list)  # (epoch, labels only, distilled)
    id: int = 0  # set by the database
    created: str = ""  # UTC, ISO 8601, set by the database

    @property
    def gain(self) -> int:
        return self.labels_only - self.distilled


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
                f"cannot create the folder for the run history {self.path.parent}: {e}"
            ) from None
        try:
            with contextlib.closing(self._connect()) as conn:
                app = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if app != APPLICATION_ID and tables:  # empty: new, or another process is creating it
                    raise sqlite3.DatabaseError(f"application id {app:#x}, not kdviz's")
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
            raise HistoryError(f"cannot use the run history {self.path}: {e}") from None
        except sqlite3.DatabaseError as e:
            aside = self.path.with_name(f"{self.path.name}.rejected-{time.strftime('%Y%m%d-%H%M%S')}")
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            raise HistoryError(
                f"{self.path.name} is not a kdviz run history ({e}); it was moved aside to {aside.name} "
                "and a new history starts"
            ) from None

    def add(self, record: Record) -> int:
        """Store a run in one transaction; its id."""
        row = asdict(record)
        row["curve"] = json.dumps(row["curve"])
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cols = ", ".join(f'"{c}"' for c in ("created", *COLUMNS))
        marks = ", ".join("?" for _ in range(len(COLUMNS) + 1))
        with contextlib.closing(self._connect()) as conn:
            cur = conn.execute(
                f"INSERT INTO runs ({cols}) VALUES ({marks})", (created, *(row[c] for c in COLUMNS))
            )
            return int(cur.lastrowid)

    def runs(self, session: str | None = None) -> list[Record]:
        """Every run, oldest first; only one browser session's with `session`."""
        query = "SELECT * FROM runs" + (" WHERE session = ?" if session is not None else "") + " ORDER BY id"
        with contextlib.closing(self._connect()) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(query, () if session is None else (session,)).fetchall()
        out = []
        for r in rows:
            values = dict(r)
            values["curve"] = [tuple(c) for c in json.loads(values["curve"] or "[]")]
            out.append(Record(**values))
        return out


def class_table(records: list[Record]) -> pd.DataFrame:
    """The class's runs as a table, best distilled student first (who got the best one?)."""
    rows = [
        {
            "run": r.id,
            "name": r.name or "-",
            "student": r.student,
            "T": r.T,
            "alpha": r.alpha,
            "images": r.images,
            "omit": r.omit,
            "epochs": f"{r.epochs_done}/{r.epochs}",
            "labels-only errors": r.labels_only,
            "distilled errors": r.distilled,
            "gain": r.gain,
            "teacher errors": r.teacher_errors,
            "seconds": r.seconds,
            "device": r.device,
            "when (UTC)": r.created.replace("T", " ").rstrip("Z"),
        }
        for r in records
    ]
    return (
        pd.DataFrame(rows).sort_values(["distilled errors", "run"], kind="stable") if rows else pd.DataFrame()
    )
