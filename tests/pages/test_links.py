"""Issue 20: every page's link parameters, swept with what a class might paste or mangle: each
bad value falls back to the control's default and is named on the page by the label the page
shows (not the link's key), with no traceback; a good value is taken as it is."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["abc", "NaN", "-1", "1e309", "", "%00", "=HYPERLINK(1)", "9" * 40]
# page -> link key -> (the label the page shows for it, a good value and what the control then holds)
PAGES = {
    "pages/3_Distillation_Lab.py": {
        "student": ("Student hidden layers", "64", "64"),
        "students": ("the race's students (T and α)", "4:0,4:0.9", "4:0,4:0.9"),
        "epochs": ("Epochs", "3", 3),
        "n": ("Labelled training images (transfer set)", "300", 300),
        "omit": ("Leave a digit out of the transfer set", "3", "3"),
        "seed": ("Seed", "7", 7),
    },
    "pages/4_Experiments.py": {
        "preset": ("Preset", "tiny", "tiny"),
        "only": ("Experiments", "main,omit3", ["main", "omit3"]),
    },
    "pages/2_Dark_Knowledge.py": {
        "idx": ("Test image index", "5", 5),
        "cls": ("True class", "7", "7"),
    },
    "pages/1_Temperature.py": {"preset": ("Example", "confident", "confident")},
}
CASES = [(page, key, raw) for page, keys in PAGES.items() for key in keys for raw in HOSTILE]


@pytest.fixture
def link_env(tiny_env, monkeypatch):
    monkeypatch.setenv("KDVIZ_EXPERIMENTS_PRESET", "tiny")
    return tiny_env


def opened(page: str, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def notices(at) -> str:
    return " ".join(w.value for w in at.warning)


@pytest.mark.parametrize("page, key, raw", CASES)
def test_a_bad_link_value_is_named_by_its_label_and_falls_back(link_env, page, key, raw):
    label, _good, _held = PAGES[page][key]
    at = opened(page, **{key: raw})
    said = notices(at)
    assert "cannot use" in said, f"{key} = {raw!r} was taken as {at.session_state[key]!r} without a word"
    assert f"{label} = " in said and f"({key} " not in said and f" {key}," not in said


@pytest.mark.parametrize("page, key", [(page, key) for page, keys in PAGES.items() for key in keys])
def test_a_good_link_value_is_taken_without_a_word(link_env, page, key):
    _label, good, held = PAGES[page][key]
    at = opened(page, **{key: good})
    assert "cannot use" not in notices(at)
    assert at.session_state[key] == held
