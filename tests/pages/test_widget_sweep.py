"""What a class will type, swept over every text and number box of every page (a generated list).

Each value must end in the page drawn again with at most a clear message: never a traceback. The
race table's cells and every link parameter have their own sweeps (test_distill.py, test_links.py).
"""

import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGES = {p.name: str(p) for p in [ROOT / "app.py", *sorted((ROOT / "pages").glob("[0-9]_*.py"))]}

TEXTS = [
    "",
    "   ",
    "abc",
    "NaN",
    "-0.2",
    "1e309",
    '=HYPERLINK("http://x","click")',
    "<script>alert(1)</script>",
    "数字 ✏️",
    "\x00\x1b[31m",
    "x" * 5000,
]


def numbers(widget) -> list[float]:
    """A number box's extremes, as a person can type them (the browser keeps within min and max)."""
    low = widget.min if widget.min is not None else -1e9
    high = widget.max if widget.max is not None else 1e9
    values = [low, high, 0, -1, 1e9, -1e9]
    return [v for v in values if low <= v <= high and math.isfinite(v)]


def boxes(at) -> list[tuple[str, int]]:
    return [("text_input", i) for i in range(len(at.text_input))] + [
        ("number_input", i) for i in range(len(at.number_input))
    ]


@pytest.mark.parametrize("page", list(PAGES))
def test_every_box_of_every_page_takes_what_a_class_types(page, tiny_env, monkeypatch):
    monkeypatch.setenv("KDVIZ_TEACHER_KEY", "sweep-teacher-key")
    at = AppTest.from_file(PAGES[page], default_timeout=60).run()
    assert not at.exception, at.exception
    swept = 0
    for kind, i in boxes(at):
        widget = getattr(at, kind)[i]
        if widget.disabled:
            continue
        values = TEXTS if kind == "text_input" else numbers(widget)
        for value in values:
            if kind == "text_input" and widget.max_chars:
                value = value[: widget.max_chars]  # the browser cuts at max_chars
            getattr(at, kind)[i].set_value(value).run()
            assert not at.exception, (page, widget.label, value, at.exception)
            assert len(at.error) <= 1, (page, widget.label, value, [e.value for e in at.error])
            swept += 1
        at = AppTest.from_file(PAGES[page], default_timeout=60).run()  # the next box from a fresh page
    assert swept or not boxes(at)
