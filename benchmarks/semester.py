"""A semester of class history: does the Lab still answer quickly with 10,000 runs in it?

Fills a class history (kdviz.history) with 10,000 races of 6 students (60,000 rows, each with its
20-epoch curve), then times, on this machine, in one run (median of 15; the CSV: of 3):
  - one page of the class table (50 students, fewest errors first), unfiltered and filtered by a
    name and by a date, as the Lab's section 4 reads it;
  - the CSV download of every student (built on click, read row by row from the database);
  - the Lab page's whole server run under Streamlit's AppTest (shipped teacher, real MNIST, a
    run in the history list, section 4 drawn), against the same page with an empty history.

Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/semester.py
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.lab_poll import median_ms, record  # noqa: E402
from kdviz.history import RunHistory  # noqa: E402

RUNS, STUDENTS = 10_000, 6


def page_run_ms(cache: Path) -> float:
    from streamlit.testing.v1 import AppTest

    os.environ["KDVIZ_CACHE_DIR"] = str(cache)
    at = AppTest.from_file(str(ROOT / "pages/3_Distillation_Lab.py"), default_timeout=120)
    at.run()  # the first run loads MNIST and the teacher (cached for the process)
    assert not at.exception, at.exception

    def rerun():
        at.run()
        assert not at.exception, at.exception

    return median_ms(rerun)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        empty, full = Path(folder) / "empty", Path(folder) / "full"
        RunHistory(empty / "runs.sqlite")
        history = RunHistory(full / "runs.sqlite")
        start = time.perf_counter()
        history.add([record(i) for i in range(RUNS * STUDENTS)])
        print(f"{RUNS:,} runs of {STUDENTS} students written in {time.perf_counter() - start:.1f} s, "
              f"{(full / 'runs.sqlite').stat().st_size / 1e6:.0f} MB")  # fmt: skip
        timings = {
            "class table, one page": lambda: history.page(0),
            "  ... page 600 of 1,200": lambda: history.page(599),
            "  ... names containing 'student 7'": lambda: history.page(0, "student 7"),
            "  ... since a date": lambda: history.page(0, since="2000-01-01"),
        }
        for what, fn in timings.items():
            print(f"{what:36s} {median_ms(fn):7.1f} ms")
        size = len(history.csv())
        print(f"{'CSV of every student':36s} {median_ms(history.csv, 3):7.1f} ms, {size / 1e6:.1f} MB")
        empty_ms, full_ms = page_run_ms(empty), page_run_ms(full)
        print(f"Lab page server run: empty history {empty_ms:.0f} ms, {RUNS:,} runs {full_ms:.0f} ms")


if __name__ == "__main__":
    main()
