"""The Lab's live poll against a big class history: does its cost grow with the history?

While students train, the Lab redraws its live fragment every 0.7 s. It used to read the whole
class history on each redraw (every run, to offer earlier runs for the chart's overlay) and format
a menu entry for each. Now the fragment reads nothing from the history; the overlay's choices are
read once per full page run, and only the newest OVERLAY_CHOICES students (one indexed query).

This script fills a history (kdviz.history, SQLite in WAL mode, as a server writes it) with
100, 1,000 and 10,000 students and times, in one run on this machine, median of 15:
  - before: what each 0.7 s poll did (read every run, filter, format every menu entry);
  - now, per poll: nothing from the history (0 ms: the fragment has no history call);
  - now, per full page run: the newest 60 students, filtered and formatted.

Run: python benchmarks/lab_poll.py
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdviz.history import Record, RunHistory  # noqa: E402

OVERLAY_CHOICES = 60  # pages/3_Distillation_Lab.py


def record(i: int) -> Record:
    return Record(
        run=f"run{i // 2:06d}", student="300-300", T=4.0, alpha=0.9 * (i % 2), anneal=False, images=1000,
        omit="-", seed=i, epochs=20, epochs_done=20, teacher="paper", teacher_errors=61, errors=900 + i % 90,
        labels_only=1000, seconds=31.5, device="cpu", session=f"s{i % 40}", name=f"student {i % 40}",
        curve=[(e, 1500 - 20 * e) for e in range(1, 21)],
    )  # fmt: skip


def menu(records, this_run="none"):
    """What the page does with the records: filter, then format one menu entry each."""
    earlier = [r for r in records if r.curve and r.run != this_run]
    return [f"{r.name}, run {r.run[:6]}: {r.student}, {r.loss_name}" for r in earlier]


def median_ms(fn, rounds=15) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        history = RunHistory(Path(folder) / "runs.sqlite")
        written = 0
        print(f"{'students':>9} {'before, per poll':>17} {'now, per poll':>14} {'now, per page run':>18}")
        for size in (100, 1_000, 10_000):
            history.add([record(i) for i in range(written, size)])  # a race's rows in one transaction
            written = size
            before = median_ms(lambda: menu(history.runs()))
            now_run = median_ms(lambda: menu(history.recent(OVERLAY_CHOICES)))
            print(f"{size:>9,} {before:>14.1f} ms {0:>11.1f} ms {now_run:>15.1f} ms")
        print(f"at 10,000 students a page run reads {before / now_run:.0f}x less than each old poll did")


if __name__ == "__main__":
    main()
