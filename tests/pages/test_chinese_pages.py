"""Every page in 简体中文 (?lang=zh) under AppTest: no English sentence left, the same behaviour.

Texts are gathered from every element a user reads: titles, paragraphs, captions, messages,
widget labels, help, options, table headers and cells, metrics, and the charts' titles, axes,
legends and hover text. A run of two or more English words outside the allowed names fails.
"""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kdviz import i18n
from tests.core.test_i18n import english_runs
from tests.pages.test_lab_page import wait_until

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    "app.py",
    "pages/0_Lesson.py",
    "pages/1_Temperature.py",
    "pages/2_Dark_Knowledge.py",
    "pages/3_Distillation_Lab.py",
    "pages/4_Experiments.py",
    "pages/5_Join.py",
]
KEY = "test-teacher-key"


def texts(at) -> list[str]:
    out = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
    ):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in (
        "button",
        "selectbox",
        "multiselect",
        "radio",
        "toggle",
        "checkbox",
        "number_input",
        "text_input",
        "select_slider",
        "slider",
        "expander",
        "tabs",
    ):
        for w in getattr(at, kind, []):
            out += [str(getattr(w, "label", "") or ""), str(getattr(w, "help", "") or "")]
            if kind in ("selectbox", "multiselect", "radio", "select_slider"):
                out += [str(o) for o in w.options]
    for m in at.metric:
        out += [str(m.label), str(m.value), str(m.delta or "")]
    for d in at.dataframe:
        df = d.value
        out += [str(c) for c in df.columns] + [str(v) for v in df.astype(str).to_numpy().ravel()[:200]]
    for chart in at.get("plotly_chart"):
        out += chart_texts(json.loads(chart.proto.spec))
    return [t for t in out if t]


def chart_texts(spec: dict) -> list[str]:
    found = []

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in ("text", "name", "hovertemplate", "title"):
            found.append(node)

    walk({k: v for k, v in spec.items() if k != "config"})
    return found


def page(path, lang="zh", **params):
    at = AppTest.from_file(str(ROOT / path), default_timeout=120)
    at.query_params["lang"] = lang
    for k, v in params.items():
        at.query_params[k] = v
    return at


@pytest.fixture
def zh_env(tiny_env, monkeypatch):
    monkeypatch.setenv("KDVIZ_TEACHER_KEY", KEY)
    # AppTest formats a widget's value in the test's own thread (a selectbox's "none" -> "不留出"):
    # that thread must speak the page's language too
    i18n.set_language("zh")
    yield tiny_env
    i18n.set_language("en")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_in_chinese_shows_no_english_sentence(zh_env, path):
    at = page(path).run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert any("\u4e00" <= ch <= "\u9fff" for t in shown for ch in t), "no Chinese on the page"
    leftover = {t: english_runs(t) for t in shown if english_runs(t)}
    assert leftover == {}


def test_the_started_lesson_in_chinese_shows_no_english_sentence(zh_env):
    at = page("pages/0_Lesson.py", key=KEY).run()
    next(b for b in at.button if b.label == "开始上课").click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("code")
    next(b for b in at.button if b.label == "揭晓答案").click().run()
    assert not at.exception, at.exception
    leftover = {t: english_runs(t) for t in texts(at) if english_runs(t)}
    assert leftover == {}


def say(message: str) -> str:
    return i18n._catalog("zh").gettext(message)


@pytest.mark.slow
def test_a_finished_race_in_chinese_shows_no_english_sentence(zh_env):
    at = page("pages/3_Distillation_Lab.py", student="64", epochs="2", n="300", students="4:0,4:0.9")
    at.run()
    next(b for b in at.button if b.label == say("Train students")).click().run()
    wait_until(at, lambda at: any(s.value == say("3. Results (this session)") for s in at.subheader))
    shown = texts(at)
    assert {t: english_runs(t) for t in shown if english_runs(t)} == {}
    assert any(say("labels only") in t for t in shown)  # the students' names, translated
    table = next(d.value for d in at.dataframe if say("test errors") in d.value.columns)
    assert len(table) == 2  # the same table as in English, headers in Chinese


@pytest.mark.slow
def test_finished_experiments_in_chinese_show_no_english_sentence(zh_env, monkeypatch):
    monkeypatch.setenv("KDVIZ_EXPERIMENTS_PRESET", "tiny")
    at = page("pages/4_Experiments.py", preset="tiny", only="main,omit3").run()
    next(b for b in at.button if b.label == say("Run experiments")).click().run()
    wait_until(at, lambda at: len(at.success) > 0, timeout=180)
    shown = texts(at)
    assert {t: english_runs(t) for t in shown if english_runs(t)} == {}
    assert (zh_env / "experiments-main.json").exists()  # kept for the lesson's last step


def test_the_printable_lesson_lists_every_question_and_note_in_chinese(zh_env):
    from kdviz.lesson import STEPS

    at = page("pages/0_Lesson.py", print="1").run()
    assert not at.exception
    shown = " ".join(texts(at))
    assert all(say(s.question) in shown and say(s.notes) in shown for s in STEPS)
    assert {t: english_runs(t) for t in texts(at) if english_runs(t)} == {}


def test_the_docs_example_in_chinese_is_dog_cat_horse_car_as_in_the_sources(zh_env):
    at = page("pages/1_Temperature.py").run()
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bars["x"] == ["狗", "猫", "马", "车"] and bars["y"] == pytest.approx([0.6, 0.3, 0.08, 0.02])
    assert "classes" not in at.query_params  # the example, not a custom table: the link stays short
