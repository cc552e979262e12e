"""kdviz.history: the class's runs in SQLite, many writers at once, foreign files set aside."""

import sqlite3
import threading

import pytest

from kdviz.history import HistoryError, Record, RunHistory


def record(i: int, session: str = "s") -> Record:
    return Record(
        student="30-30", T=4.0, alpha=0.9, images=1000, omit="-", seed=i, epochs=3, epochs_done=3,
        teacher="paper", teacher_errors=80, labels_only=300 + i, distilled=250 + i, seconds=1.5,
        device="cpu", session=session, name=f"student {i}", curve=[(1, 400, 350), (3, 300 + i, 250 + i)],
    )  # fmt: skip


def test_round_trip_and_sessions(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite")
    a, b = h.add(record(1, "alice")), h.add(record(2, "bob"))
    assert a < b
    mine = h.runs("alice")
    assert [r.name for r in mine] == ["student 1"] and mine[0].curve == [(1, 400, 350), (3, 301, 251)]
    assert mine[0].gain == 50 and mine[0].created.endswith("Z") and mine[0].id == a
    assert [r.seed for r in RunHistory(tmp_path / "runs.sqlite").runs()] == [1, 2]  # survives a restart


def test_many_threads_write_at_once_and_every_row_is_kept(tmp_path):
    h = RunHistory(tmp_path / "runs.sqlite", timeout=60)
    errors = []

    def writer(t):
        try:
            for i in range(25):
                h.add(record(t * 100 + i, session=f"s{t}"))
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
    fresh.add(record(1))
    assert len(fresh.runs()) == 1
