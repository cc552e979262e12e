"""The Experiments page under AppTest: the tiny preset, URL state, classroom mode, long-run warnings."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages/4_Experiments.py")


@pytest.fixture
def page_env(tiny_env, monkeypatch):
    monkeypatch.setenv("KDVIZ_EXPERIMENTS_PRESET", "tiny")


def chosen(at) -> list[str]:
    return [box.key.removeprefix("exp_") for box in at.checkbox if box.key.startswith("exp_") and box.value]


def choose(at, names) -> None:
    for box in at.checkbox:
        if box.key.startswith("exp_"):
            box.set_value(box.key.removeprefix("exp_") in names)
    at.run()


def test_page_runs_the_tiny_preset_and_shows_results(page_env):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert at.radio[0].value == "tiny"
    choose(at, ["main", "omit3"])
    next(b for b in at.button if b.label == "Run experiments").click().run()
    end = time.monotonic() + 60
    while time.monotonic() < end:
        at.run()
        assert not at.exception, at.exception
        if at.success:
            break
        time.sleep(0.3)
    assert at.success, "timed out"
    settings, *tables = [t.value for t in at.dataframe]  # the preset's settings, then one per result
    assert list(settings.columns) == ["setting", "value"]
    assert len(tables) == 2 and list(tables[0].columns) == ["what", "this run", "paper", "per seed"]
    assert tables[0]["paper"].tolist() == ["67", "146", "74", "", ""]
    assert tables[0]["what"].str.startswith("beyond the paper").tolist() == [False] * 3 + [True] * 2
    assert any("the paper's effect that" in m.value for m in at.markdown)
    assert any("every second of the run" in s.value for s in at.success)
    assert any("Seed 0" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 1  # the bias sweep


def test_page_warns_before_a_long_run_on_a_cpu(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tiny_dir))
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    next(s for s in at.selectbox if s.label == "Device").set_value("cpu").run()
    assert not at.exception and not at.warning
    assert any("takes about" in c.value for c in at.caption)
    at.radio[0].set_value("full").run()
    assert any("takes about" in w.value and "min" in w.value for w in at.warning)


def test_page_without_data_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tmp_path / "empty"))
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert any("KDVIZ_DATA_DIR" in e.value for e in at.error)


def test_page_keeps_its_settings_in_the_link(page_env):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update({"preset": "quick", "only": "main,omit3"})
    at.run()
    assert not at.exception and at.radio[0].value == "quick"
    assert chosen(at) == ["main", "omit3"]
    choose(at, ["few_labels"])
    assert at.query_params["only"] in (["few_labels"], "few_labels")


def test_classroom_page_offers_no_full_preset(page_env, monkeypatch):
    monkeypatch.setenv("KDVIZ_CLASSROOM", "1")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["preset"] = "full"
    at.run()
    assert not at.exception and "full" not in at.radio[0].options
    assert any("link" in w.value for w in at.warning)
