"""Where the class's shared tables live: an SQLite file in the cache folder, or PostgreSQL.

One server keeps the class history (kdviz.history) and the lesson polls (kdviz.poll) in SQLite
files beside its teachers: nothing to install, and WAL mode lets a class's sessions read while
one writes. When one server is not enough, several replicas behind a load balancer share one
PostgreSQL database instead (KDVIZ_HISTORY_URL=postgresql://...; README: "A class on several
machines"). Both go through SQLAlchemy Core: one schema (the tables are SQLAlchemy `Table`s) and
one code path; what differs between the two is here, and only here:

- SQLite is a file that could be anything: it must carry our application id (or be empty), its
  format version is `PRAGMA user_version`, and a write transaction starts with BEGIN IMMEDIATE
  (it takes the write lock at once and waits up to the busy timeout for it, instead of failing
  when a read transaction tries to become a write);
- PostgreSQL is a database the teacher made for kdviz: the format versions live in a small
  `kdviz_schema` table, one row per part (history, lessons).

Every use opens its own connection and closes it (SQLite: no pool; PostgreSQL: a small pool),
so a thread never shares a connection.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from kdviz.i18n import _

SCHEMAS = sa.MetaData()
VERSIONS = sa.Table(  # PostgreSQL's record of each part's format (SQLite: PRAGMA user_version)
    "kdviz_schema",
    SCHEMAS,
    sa.Column("part", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


class NotOurs(ValueError):
    """The file or database holds something else than kdviz's tables (or another format)."""


def _sqlite_error(e: Exception) -> Exception:
    """The driver's error as the rest of kdviz sees one: a file that is no database is NotOurs;
    anything else (locked, unwritable, full) SQLAlchemy's OperationalError."""
    if isinstance(e, sqlite3.OperationalError) or not isinstance(e, sqlite3.DatabaseError):
        return sa.exc.OperationalError(None, None, e)
    return NotOurs(str(e))


class Store:
    """One part's tables (`part`: 'history' or 'lessons') in an SQLite file or a PostgreSQL URL."""

    def __init__(self, where: str | Path, part: str, application_id: int, timeout: float = 30.0):
        self.part, self.application_id, self.timeout = part, int(application_id), float(timeout)
        where = str(where)
        self.sqlite = not where.startswith("postgresql")
        if self.sqlite:
            self.path = Path(where)
            self.engine = sa.create_engine(
                f"sqlite:///{self.path}", poolclass=NullPool, connect_args={"timeout": self.timeout}
            )
            sa.event.listen(self.engine, "connect", self._sqlite_connect)
            sa.event.listen(self.engine, "begin", self._sqlite_begin)
        else:
            self.path = None
            url = where.replace("postgresql://", "postgresql+psycopg://", 1)
            self.engine = sa.create_engine(url, pool_size=4, max_overflow=8, pool_pre_ping=True)

    def _sqlite_connect(self, dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # transactions are ours (the "begin" hook), not the driver's
        dbapi_conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")

    @staticmethod
    def _sqlite_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    @contextlib.contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """One transaction: committed at the end of the block, rolled back if it raises."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    def setup(self, tables: sa.MetaData, version: int, migrations: dict) -> None:
        """Create the tables, or bring an older format up to `version` (migrations: version ->
        fn(conn) to the next one), in one transaction. NotOurs for a file or database that holds
        something else, or a format this kdviz cannot read."""
        if self.sqlite:
            self._sqlite_prepare()
        with self.writing() as conn:
            found = self._version(conn, tables)
            if found is not None and found != version and found not in migrations:
                raise NotOurs(_("it is format {version}, from another kdviz version").format(version=found))
            tables.create_all(conn, checkfirst=True)
            step = found if found is not None else version
            while step in migrations and step != version:
                migrations[step](conn)
                step += 1
            self._set_version(conn, version)

    def _sqlite_prepare(self) -> None:
        """Refuse a file that is not ours before touching it; then WAL mode (it lasts with the
        file, and cannot be set inside a transaction)."""
        try:
            raw = self.engine.raw_connection()
        except sa.exc.DBAPIError as e:
            raise _sqlite_error(e.orig) from None
        try:
            cur = raw.cursor()
            app = cur.execute("PRAGMA application_id").fetchone()[0]
            tables = cur.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables and app != self.application_id:  # empty: new, or another process is creating it
                raise NotOurs(_("application id {id}, not kdviz's").format(id=f"{app:#x}"))
            cur.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as e:
            raise _sqlite_error(e) from None
        finally:
            raw.close()

    def _version(self, conn, tables: sa.MetaData) -> int | None:
        """The format found (None: nothing of ours yet)."""
        inspector = sa.inspect(conn)
        ours = set(tables.tables)
        if self.sqlite:
            version = conn.exec_driver_sql("PRAGMA user_version").scalar()
            return version if ours & set(inspector.get_table_names()) else None
        if VERSIONS.name in inspector.get_table_names():
            row = conn.execute(sa.select(VERSIONS.c.version).where(VERSIONS.c.part == self.part)).first()
            if row is not None:
                return int(row[0])
        if ours & set(inspector.get_table_names()):
            raise NotOurs(_("its tables {tables} were not made by kdviz").format(tables=sorted(ours)))
        return None

    def _set_version(self, conn, version: int) -> None:
        if self.sqlite:
            conn.exec_driver_sql(f"PRAGMA application_id = {self.application_id}")
            conn.exec_driver_sql(f"PRAGMA user_version = {int(version)}")
            return
        VERSIONS.create(conn, checkfirst=True)
        conn.execute(sa.delete(VERSIONS).where(VERSIONS.c.part == self.part))
        conn.execute(sa.insert(VERSIONS).values(part=self.part, version=int(version)))

    def describe(self) -> str:
        """Where it is, for messages (never a password)."""
        return str(self.path) if self.sqlite else self.engine.url.render_as_string(hide_password=True)
