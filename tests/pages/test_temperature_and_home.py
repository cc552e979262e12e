"""The real page files under Streamlit's AppTest."""

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from kdviz.temperature import softmax_t

ROOT = Path(__file__).resolve().parents[2]
DOC = np.log([0.6, 0.3, 0.08, 0.02])


def page(name: str, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / name), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def chart(at: AppTest, i: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def test_home_via_app_entry():
    at = page("app.py")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Temperature" in text and "torch" in text
    # our sidebar menu, in teaching order, names the home page "Home" (Streamlit's own says "app")
    links = [(e.proto.label, e.proto.page) for e in at.get("page_link")]
    assert links == [
        ("Home", ""),
        ("Lesson", "Lesson"),
        ("Temperature", "Temperature"),
        ("Dark knowledge", "Dark_Knowledge"),
        ("Distillation Lab", "Distillation_Lab"),
        ("Experiments", "Experiments"),
    ]


def test_home_in_chinese_names_the_pages_in_chinese_and_keeps_the_language_in_the_menu():
    at = page("app.py", lang="zh")
    assert not at.exception
    links = [(e.proto.label, e.proto.page, e.proto.query_string) for e in at.get("page_link")]
    assert [label for label, _p, _q in links] == ["首页", "课堂", "温度", "暗知识", "蒸馏实验室", "论文实验"]
    assert all("lang=zh" in q for _l, _p, q in links)


def test_temperature_page_defaults_to_the_docs_example():
    at = page("pages/1_Temperature.py")
    assert not at.exception and not at.error
    bars = chart(at, 0)["data"]
    assert bars[0]["x"] == ["dog", "cat", "horse", "car"]
    np.testing.assert_allclose(bars[0]["y"], [0.6, 0.3, 0.08, 0.02], rtol=1e-9)  # T = 1
    lines = chart(at, 1)["data"]
    assert [d["name"] for d in lines][:7] == [f"T = {t}" for t in (1, 3, 5, 10, 20, 50, 100)]


def test_moving_t_changes_the_plot_as_the_core_says():
    at = page("pages/1_Temperature.py")
    before = chart(at, 0)["data"][1]["y"]
    at.select_slider[0].set_value(20.0).run()
    after = chart(at, 0)["data"][1]
    assert after["name"] == "T = 20" and after["y"] != before
    np.testing.assert_allclose(after["y"], softmax_t(DOC, 20).numpy(), rtol=1e-9)
    assert at.query_params["T"] == ["20"] or at.query_params["T"] == "20"
    entropy_marker = chart(at, 2)["data"][1]
    assert entropy_marker["x"] == [20.0]


def test_charts_built_once_for_the_class_keep_each_views_language_and_text_size():
    """The Temperature charts are shared between sessions at the same T (pages.ui.layout
    shared_figures): a Chinese or projector view must not get, or leave behind, another's figure."""
    plain = chart(page("pages/1_Temperature.py", T="3"), 0)
    present = chart(page("pages/1_Temperature.py", T="3", present="1"), 0)
    chinese = chart(page("pages/1_Temperature.py", T="3", lang="zh"), 0)
    again = chart(page("pages/1_Temperature.py", T="3"), 0)
    assert plain["layout"]["title"]["text"].startswith("Softened distribution at T = 3")
    assert chinese["layout"]["title"]["text"] == "T = 3 时的软化分布与原始分布"
    assert present["layout"]["font"]["size"] == 22 and "font" not in plain["layout"]
    assert again == plain  # the projector view's sizes did not leak into the shared figure
    np.testing.assert_allclose(chinese["data"][1]["y"], softmax_t(DOC, 3).numpy(), rtol=1e-9)


def test_link_restores_state():
    at = page("pages/1_Temperature.py", T="20", preset="mnist")
    assert not at.exception and at.select_slider[0].value == 20.0
    assert chart(at, 0)["data"][0]["x"] == [str(d) for d in range(10)]


def test_malformed_link_falls_back_with_notice():
    at = page("pages/1_Temperature.py", T="-3", preset="nope")
    assert not at.exception and at.select_slider[0].value == 5.0
    assert any("link" in w.value for w in at.warning)


@pytest.mark.parametrize(
    "values, message",
    [("0.5,-0.2,0.3", "negative"), ("0.5,abc,0.3", "not a number"), ("0,0,0", "all zero")],
)
def test_invalid_entries_show_a_message(values, message):
    at = page("pages/1_Temperature.py", classes="a,b,c", values=values, mode="probabilities")
    assert not at.exception
    assert any(message in e.value for e in at.error)
    assert not at.get("plotly_chart")


def test_duplicate_class_names_show_a_message():
    at = page("pages/1_Temperature.py", classes="a,a", values="1,2", mode="logits")
    assert not at.exception and any("unique" in e.value for e in at.error)


@pytest.mark.parametrize("T", ["1e9", "1e-9", "nan", "inf", "0"])
def test_extreme_t_in_a_link_is_refused_with_a_notice(T):
    at = page("pages/1_Temperature.py", T=T)
    assert not at.exception and at.select_slider[0].value == 5.0
    assert any("link" in w.value for w in at.warning)


def test_class_names_with_commas_survive_the_link():
    at = page("pages/1_Temperature.py", classes='["cats, big","dogs"]', values="2,1", mode="logits")
    assert not at.exception and not at.error
    assert chart(at, 0)["data"][0]["x"] == ["cats, big", "dogs"]


@pytest.mark.parametrize("name", ["pages/1_Temperature.py", "pages/3_Distillation_Lab.py", "app.py"])
def test_a_malformed_variable_is_one_clear_message_on_every_page(name, monkeypatch):
    monkeypatch.setenv("KDVIZ_MAX_RUNS", "abc")
    at = page(name)
    assert not at.exception
    assert any("KDVIZ_MAX_RUNS" in e.value for e in at.error)


def test_a_run_stays_alive_while_its_session_is_on_another_page():
    """A run stops only when nobody asks about it for a while (the tab was closed). Any page of
    the session that started it keeps asking, not only the page that started it."""
    import threading
    import time

    from pages.ui.session import job_queue

    gate = threading.Event()
    job = job_queue("cpu").submit("heartbeat-test", "students", lambda job: gate.wait(30))
    try:
        job._last_seen -= 50  # nearly abandoned (after 60 s)
        at = AppTest.from_file(str(ROOT / "pages/1_Temperature.py"), default_timeout=60)
        at.session_state["lab_job"] = ("cpu", job.id)  # this session's run
        at.run()
        assert not at.exception
        assert time.monotonic() - job._last_seen < 5, "the Temperature page kept the run alive"
        assert any("Your students: " in c.value for c in at.sidebar.caption)
    finally:
        job.stop()
        gate.set()


def test_each_device_has_its_own_queue_sized_for_it():
    """A CPU run on a GPU machine waits for the CPU: three CPU trainings at once would thrash."""
    from pages.ui.session import job_queue

    assert job_queue("cpu").max_running == 1 and job_queue("cuda").max_running == 3
    assert job_queue("cpu") is job_queue("cpu") and job_queue("cpu") is not job_queue("cuda")


def test_a_t_between_stops_says_it_was_rounded():
    at = page("pages/1_Temperature.py", T="7.3")
    assert not at.exception and at.select_slider[0].value == 8.0
    assert any("T = 7.3 became 8" in i.value for i in at.info)
    assert not page("pages/1_Temperature.py", T="8").info  # a stop is taken as it is


def test_the_formula_uses_the_numbers_a_calculator_gives():
    at = page("pages/1_Temperature.py", T="5")
    table = at.dataframe[-1].value
    np.testing.assert_allclose(table["exp(z/T)"], np.exp(np.asarray(table["z"]) / 5), rtol=1e-12)


def test_probabilities_that_do_not_sum_to_one_say_so():
    at = page("pages/1_Temperature.py", classes="a,b,c", values="2,2,1", mode="probabilities")
    assert not at.exception and any("sum to 5" in c.value for c in at.caption)
