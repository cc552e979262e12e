"""A server killed with kill -9, and a full disk: nothing stored is lost or damaged, nothing half
written is ever read, and a run cut off is never shown as finished."""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kdviz import runs
from kdviz.history import HistoryError, RunHistory
from kdviz.teacher import TeacherSpec, ensure_teacher

ROOT = Path(__file__).resolve().parents[2]

# What a server does while a class trains, as fast as it can: races kept in the history, and
# teachers written to the cache. It prints each race's id once `keep` has returned.
WORKER = """
import sys
from pathlib import Path

import torch

from kdviz import runs
from kdviz.data import load_mnist
from kdviz.history import RunHistory
from kdviz.teacher import TeacherSpec, ensure_teacher

data, cache = load_mnist(sys.argv[1]), Path(sys.argv[2])
history = RunHistory(cache / "runs.sqlite")
logits = torch.randn(len(data.train_y), 10)
for i in range(10_000):
    cfg = runs.DistillConfig(hidden=(16,), epochs=2, seed=i)
    keep = lambda r: history.add(r.records("cpu", "teacher", "session", f"run {i}"))
    print("kept", runs.lab(data, logits, 0, cfg, keep=keep).run, flush=True)
    ensure_teacher(TeacherSpec(hidden=(32,), epochs=1, seed=i % 4), data, cache)
"""


@pytest.mark.slow
@pytest.mark.parametrize("after", [0.3, 0.9, 1.7, 2.6])  # seconds after the first race was kept
def test_kill_9_loses_only_the_run_it_cut_off(tiny_dir, tiny_data, tmp_path, after):
    cache = tmp_path / "cache"
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tiny_dir), str(cache)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        kept = [worker.stdout.readline().split()[1]]
        time.sleep(after)
        os.kill(worker.pid, signal.SIGKILL)
        kept += [line.split()[1] for line in worker.stdout.read().splitlines()]
    finally:
        worker.kill()
        worker.wait()
    history = RunHistory(cache / "runs.sqlite")  # the restart
    with sqlite3.connect(cache / "runs.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {}
    for r in history.runs():
        stored.setdefault(r.run, []).append(r)
    # Every race reported kept is there, whole (both students), and finished; nothing else is
    # (a race cut off mid-training has no rows: rows are written once it ends, in one transaction).
    assert set(kept) <= set(stored) and len(stored) - len(kept) <= 1
    assert all(len(rows) == 2 and {r.status for r in rows} == {"done"} for rows in stored.values())
    # Every teacher the cache lists loads whole: a temp file cut off mid-write is never listed.
    listed = runs.cached_teachers(cache)
    assert all(spec is not None for _p, spec, _t in listed), [t for _p, s, t in listed if s is None]
    assert all(runs.load_teacher(p, tiny_data).spec.hidden == (32,) for p, _s, _t in listed)


def test_a_full_disk_refuses_new_rows_clearly_and_keeps_the_old(tiny_data, full_disk):
    history = RunHistory(full_disk / "runs.sqlite")
    logits = torch.randn(len(tiny_data.train_y), 10)
    cfg = runs.DistillConfig(hidden=(16,), epochs=1)
    first = runs.lab(tiny_data, logits, 0, cfg, keep=lambda r: history.add(r.records("cpu", "t")))
    assert not first.not_kept
    full_disk.fill()
    with pytest.raises(HistoryError, match="not stored"):
        for _i in range(200):  # the WAL may hold a few rows more before the disk says no
            history.add(first.records("cpu", "t", name="x" * 2000))
    # a race on the full disk still ends with its result, saying it was not kept
    second = runs.lab(tiny_data, logits, 0, cfg, keep=lambda r: history.add(r.records("cpu", "t")))
    assert second.errors and "not stored" in second.not_kept
    with contextlib.suppress(HistoryError):  # reading may fail too while the disk is full: clearly
        history.page(size=1)
    full_disk.free()  # the disk has room again: what was stored is all there
    assert [r.run for r in history.runs()][:2] == [first.run] * 2
    with sqlite3.connect(full_disk / "runs.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_full_disk_still_gives_a_teacher_and_damages_no_stored_one(tiny_data, full_disk):
    small = TeacherSpec(hidden=(8,), epochs=1)
    stored = ensure_teacher(small, tiny_data, full_disk)
    before = {p: p.read_bytes() for p in full_disk.rglob("*") if p.is_file()}
    full_disk.fill()
    big = ensure_teacher(TeacherSpec(hidden=(256,), epochs=1), tiny_data, full_disk)
    assert big.note and big.test_errors >= 0  # trained, not cached: the note says why
    assert not [p for p in full_disk.rglob("*.tmp")]  # no temp file left
    for path, blob in before.items():
        assert path.read_bytes() == blob
    again = ensure_teacher(small, tiny_data, full_disk)
    assert again.test_errors == stored.test_errors and not again.note
