"""kdviz.history: the class's runs in SQLite, many writers at once, foreign files set aside."""

import csv
import io
import sqlite3
import threading

import pytest

from kdviz.history import COLUMNS, HistoryError, Record, RunHistory, class_table, csv_bytes


def record(i: int, session: str = "s", run: str = "r", alpha: float = 0.9) -> Record:
    return Record(
        run=run, student="30-30", T=4.0, alpha=alpha, anneal=i % 2 == 1, images=1000, omit="-", seed=i,
        epochs=3, epochs_done=3, teacher="paper", teacher_errors=80, errors=250 + i, labels_only=300,
        seconds=1.5, device="cpu", session=session, name=f"student {i}", curve=[(1, 350), (3, 250 + i)],
    )  # fmt: skip


def test_round_trip_and_sessions(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite")
    (a,), (b,) = h.add([record(1, "alice")]), h.add([record(2, "bob")])
    assert a < b
    mine = h.runs("alice")
    assert [r.name for r in mine] == ["student 1"] and mine[0].curve == [(1, 350), (3, 251)]
    assert mine[0].gain == 49 and mine[0].anneal is True and mine[0].loss_name == "T = 4→1, α = 0.9"
    assert mine[0].created.endswith("Z") and mine[0].id == a
    assert [r.seed for r in RunHistory(tmp_path / "runs.sqlite").runs()] == [1, 2]  # survives a restart


def test_what_a_student_learnt_from_is_kept_and_shown(tmp_path):
    from dataclasses import replace

    h = RunHistory(tmp_path / "runs.sqlite")
    h.add([replace(record(2), knowledge=k) for k in ("hint", "relation", "mutual")])
    rows = h.runs()
    assert [r.knowledge for r in rows] == ["hint", "relation", "mutual"]
    assert class_table(rows)["loss"].tolist() == [
        "hint, α = 0.9",
        "relation, α = 0.9",
        "mutual, T = 4, α = 0.9",
    ]


def test_a_race_is_stored_as_one_row_per_student_in_one_transaction(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite")
    race = [record(0, run="abc", alpha=0.0), record(1, run="abc"), record(2, run="abc")]
    h.add(race)
    rows = h.runs()
    assert [r.run for r in rows] == ["abc"] * 3 and [r.loss_name for r in rows][0] == "labels only"
    table = class_table(rows)
    assert list(table["test errors"]) == [250, 251, 252] and list(table["gain"]) == [50, 49, 48]
    broken = [record(3, run="xyz"), None]  # the second row cannot be written
    with pytest.raises(TypeError):
        h.add(broken)
    assert len(h.runs()) == 3  # the first row of the broken run was rolled back


def test_a_history_from_another_kdviz_version_is_set_aside(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunHistory(path).add([record(1)])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(HistoryError, match="another kdviz version.*moved aside"):
        RunHistory(path)
    assert RunHistory(path).runs() == [] and len(list(tmp_path.glob("runs.sqlite.rejected-*"))) == 1


def test_many_threads_write_at_once_and_every_row_is_kept(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite", timeout=60)
    errors = []

    def writer(t):
        try:
            for i in range(25):
                h.add([record(t * 100 + i, session=f"s{t}")])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seeds = sorted(r.seed for r in h.runs())
    assert seeds == sorted(t * 100 + i for t in range(16) for i in range(25))
    assert len({r.id for r in h.runs()}) == 400
    assert len(h.runs("s7")) == 25


@pytest.mark.parametrize("content", [b"not a database at all" * 100, "foreign"])
def test_a_damaged_or_foreign_file_is_set_aside_not_emptied(tmp_path, content):
    path = tmp_path / "runs.sqlite"
    if content == "foreign":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (x TEXT)")
            conn.execute("INSERT INTO notes VALUES ('precious')")
        conn.close()
        before = path.read_bytes()
    else:
        path.write_bytes(content)
        before = content
    with pytest.raises(HistoryError, match="moved aside"):
        RunHistory(path)
    aside = list(tmp_path.glob("runs.sqlite.rejected-*"))
    assert len(aside) == 1 and aside[0].read_bytes()[:100] == before[:100]
    fresh = RunHistory(path)  # the next open starts anew beside it
    fresh.add([record(1)])
    assert len(fresh.runs()) == 1


def test_recent_reads_the_newest_students_with_a_curve_oldest_first(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite")
    for i in range(5):
        h.add([record(i, run=f"r{i}")])
    h.add([Record(**{**record(9, run="bare").__dict__, "curve": []})])  # stopped before a curve
    assert [r.run for r in h.recent(3)] == ["r2", "r3", "r4"]
    assert [r.run for r in h.recent(100)] == [f"r{i}" for i in range(5)]


def test_the_csv_opens_safely_in_a_spreadsheet():
    names = ['=HYPERLINK("http://x","click")', "+1+1", "@SUM(A1)", "-2+3", "-", "-1.5", "Zoë 张", "a=b"]
    table = class_table(
        [Record(**{**record(i, run=f"r{i}").__dict__, "name": n}) for i, n in enumerate(names)]
    )
    blob = csv_bytes(table)
    assert blob.startswith(b"\xef\xbb\xbf")  # the BOM: Excel on Windows reads UTF-8
    rows = list(csv.DictReader(io.StringIO(blob.decode("utf-8-sig"))))
    by_name = {r["name"] for r in rows}
    assert {'\'=HYPERLINK("http://x","click")', "'+1+1", "'@SUM(A1)", "'-2+3"} <= by_name
    assert {"-", "-1.5", "Zoë 张", "a=b"} <= by_name  # a number, a dash and plain text stay as they are
    assert all(not n.startswith(("=", "+", "@")) for n in by_name)
    assert [r["test errors"] for r in rows] == [str(e) for e in table["test errors"]]  # numbers untouched


@pytest.mark.parametrize("version", [2, 3, 4])
def test_an_older_history_is_migrated_with_its_rows(tmp_path, version):
    """Issue 20: an older history keeps its rows, and gains the indices a semester needs (format
    2), the lesson each run belongs to (format 3) and what each student learnt from (format 4:
    the teacher's logits, the only kind there was)."""
    from kdviz.history import APPLICATION_ID

    path = tmp_path / "runs.sqlite"
    # as kdviz wrote it before: no knowledge column, and before format 4 no lesson column
    old = [c for c in COLUMNS if c not in ("lesson", "knowledge")] + (["lesson"] if version == 4 else [])
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, "
            + ", ".join(f'"{c}"' for c in old)
            + ")"
        )
        if version >= 3:
            conn.execute("CREATE INDEX runs_by_errors ON runs (errors, run)")
            conn.execute("CREATE INDEX runs_by_created ON runs (created)")
            conn.execute("CREATE INDEX runs_by_session ON runs (session)")
        if version == 4:
            conn.execute("CREATE INDEX runs_by_lesson ON runs (lesson, created)")
        for seed in (1, 2):
            row = {c: getattr(record(seed), c) for c in old} | {"curve": "[[1, 350]]", "anneal": 0}
            conn.execute(
                f"INSERT INTO runs (created, {', '.join(repr(c) for c in old)}) VALUES (?{', ?' * len(old)})",
                ("2026-11-30T10:00:00Z", *row.values()),
            )
    conn.close()
    h = RunHistory(path)
    assert [r.seed for r in h.runs()] == [1, 2] and not list(tmp_path.glob("*.rejected-*"))
    assert {r.lesson for r in h.runs()} == {""} and h.page(lesson="ABCD")[1] == 0
    assert {r.knowledge for r in h.runs()} == {"logits"}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        indices = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        plan = " ".join(
            str(r) for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM runs ORDER BY errors, run, id")
        )
    conn.close()
    assert {"runs_by_errors", "runs_by_created", "runs_by_session", "runs_by_lesson"} <= indices
    assert "runs_by_errors" in plan and "TEMP B-TREE" not in plan  # the page is read in order, not sorted


def test_a_lessons_runs_are_filtered_listed_and_deleted_together(tmp_path):
    from dataclasses import replace

    h = RunHistory(tmp_path / "runs.sqlite")
    h.add([replace(record(1, run="a"), lesson="ABCD"), replace(record(2, run="a"), lesson="ABCD")])
    h.add([record(3, run="b")])  # outside any lesson
    assert [code for code, _when in h.lessons()] == ["ABCD"]
    assert h.page(lesson="ABCD")[1] == 2 and h.page()[1] == 3
    assert h.csv(lesson="ABCD").count(b"\n") == 3 and b",ABCD" in h.csv(lesson="ABCD")
    assert h.delete(lesson="ABCD") == 2 and [r.run for r in h.runs()] == ["b"]


def test_the_class_table_pages_and_filters_in_sql(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite")
    for i in range(120):
        h.add([Record(**{**record(i, run=f"r{i:03d}").__dict__, "errors": 500 - i, "name": f"Ann {i % 3}"})])
    first, total = h.page(0, size=50)
    assert total == 120 and [r.errors for r in first] == list(range(381, 431))  # fewest errors first
    last, _ = h.page(2, size=50)
    assert len(last) == 20 and last[-1].errors == 500
    every = [r.errors for n in range(3) for r in h.page(n, size=50)[0]]
    assert every == sorted(every) and len(set(every)) == 120  # the pages cover the table, once each
    ann1, count = h.page(0, name="ann 1", size=200)  # any case, part of the name
    assert count == 40 and {r.name for r in ann1} == {"Ann 1"}
    assert h.page(0, name="100%_", size=5)[1] == 0  # LIKE's wildcards are matched as typed
    assert h.page(0, since="2999-01-01")[1] == 0 and h.page(0, since="2000-01-01")[1] == 120
    table = class_table(h.runs())
    assert h.csv() == csv_bytes(table)  # the download, read row by row, is the table's CSV
    assert h.csv(name="Ann 2").decode("utf-8-sig").count("\n") == 1 + 40


def test_the_same_history_in_postgresql_for_replicas(pg_url):
    """One code path: what the SQLite tests above hold, a shared PostgreSQL database holds too."""
    from dataclasses import replace

    first, second = RunHistory(pg_url), RunHistory(pg_url)  # two replicas of the app
    first.add([replace(record(i, run="a"), name="Ada_1%") for i in (30, 20)])
    second.add([replace(record(25, run="b"), name="bo")])
    for h in (first, second):
        rows, total = h.page(name="ada_1%")  # any case; % and _ are letters
        assert total == 2 and [r.errors for r in rows] == [270, 280]
        assert [r.errors for r in h.page()[0]] == [270, 275, 280] and len(h.recent(10)) == 3
        assert h.page(name="ada_1x")[1] == 0 and h.runs()[0].curve == [(1, 350), (3, 280)]
    assert first.csv().count(b"\n") == 4  # the header and three students
    assert second.delete(name="bo") == 1 and first.page()[1] == 2
    RunHistory(pg_url)  # a restart: the tables and their rows are kept
    assert first.page()[1] == 2


def test_tables_in_postgresql_that_kdviz_did_not_make_are_refused(pg_url):
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE runs (x INTEGER)"))
    engine.dispose()
    with pytest.raises(HistoryError, match="not made by kdviz"):
        RunHistory(pg_url)
