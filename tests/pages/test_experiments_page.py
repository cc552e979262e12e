"""The Experiments page under AppTest: the tiny preset, URL state, classroom mode, long-run warnings."""

import json
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
    box = next(b for b in at.checkbox if b.key == "exp_ensemble")  # listed; beyond the paper's six,
    assert not box.value and "ensemble" in box.label  # so it runs only when chosen
    choose(at, ["main", "omit3", "ensemble"])
    next(b for b in at.button if b.label == "Run experiments").click().run()
    end = time.monotonic() + 180  # seconds on an idle CPU; the niced run waits while a busy CPU is taken
    while time.monotonic() < end:
        at.run()
        assert not at.exception, at.exception
        if at.success:
            break
        time.sleep(0.3)
    assert at.success, "timed out"
    # the preset's settings, then per result its table; the main table's size panel after it
    settings, main, sizes, omit3, ensemble = [t.value for t in at.dataframe]
    assert list(settings.columns) == ["setting", "value"]
    assert "ensemble: members (differ only by seed)" in settings["setting"].tolist()
    assert list(main.columns) == ["what", "this run", "paper", "per seed"]
    assert main["paper"].tolist() == ["67", "146", "74", "", ""]
    assert main["what"].str.startswith("beyond the paper").tolist() == [False] * 3 + [True] * 2
    # teacher and each student side by side, with this run's errors (the means over seeds)
    assert sizes["model"].tolist() == [
        "teacher",
        "student, labels only",
        "student, distilled",
        "student, on 2-px jitter, labels only",
        "student, on 2-px jitter, consistent teaching",
    ]
    assert [f"{v:g}" for v in sizes["test errors"]] == main["this run"].tolist()
    assert sizes["hidden layers"].tolist() == ["32"] + ["16"] * 4  # TINY's teacher and student
    assert (sizes["parameters"].iloc[0] > sizes["parameters"].iloc[1:]).all()
    assert (sizes["ms per image, batch 1"] > 0).all() and (sizes["fp16 on disk (MB)"] > 0).all()
    assert "what" in omit3.columns
    assert ensemble["what"].str.contains("distilled from the ensemble").sum() == 1
    assert any("the paper's effect that" in m.value for m in at.markdown)
    assert any("every second of the run" in s.value for s in at.success)
    assert any("Seed 0" in c.value for c in at.caption)
    charts = at.get("plotly_chart")  # main table per epoch, size trade-off, bias sweep, ensemble bars
    assert len(charts) == 4
    titles = [c.proto.spec for c in charts]
    assert "Test errors after each epoch" in titles[0] and "Test errors against size" in titles[1]
    assert "Members, their ensemble" in titles[3]
    lines = {d["name"]: d["y"] for d in json.loads(titles[0])["data"]}
    assert set(lines) == {*sizes["model"]}  # every student, and the teacher's line
    assert lines["student, labels only"][-1] == float(main["this run"][1])  # the last epoch is the table's


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
