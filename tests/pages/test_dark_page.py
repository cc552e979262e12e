"""The Dark knowledge page under AppTest with a tiny dataset and teacher."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from kdviz.data import load_mnist
from kdviz.teacher import TeacherSpec, ensure_teacher

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages/2_Dark_Knowledge.py")


@pytest.fixture
def dark_env(tiny_env):
    return tiny_env


def heatmap_z(at: AppTest) -> np.ndarray:
    """The similarity heatmap's z; plotly may ship arrays as base64 typed arrays."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        for trace in spec["data"]:
            if trace.get("type") == "heatmap":
                z = trace["z"]
                if isinstance(z, dict):
                    raw = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
                    return raw.reshape([int(d) for d in str(z["shape"]).split(",")])
                return np.array(z, dtype=float)
    raise AssertionError("no heatmap on the page")


def test_page_with_a_teacher_shows_similarity_and_follows_t(dark_env, tiny_dir):
    ensure_teacher(TeacherSpec(), load_mnist(tiny_dir), dark_env)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.error
    before = heatmap_z(at)
    assert before.shape == (10, 10)
    assert np.isnan(np.diag(before)).all()  # the diagonal is hidden by default
    off = before[~np.eye(10, dtype=bool)]
    assert (off >= 0).all() and (off < 1).all()
    slider = next(s for s in at.select_slider if "Temperature" in s.label)
    slider.set_value(2.0).run()
    assert not at.exception
    after = heatmap_z(at)
    assert after.shape == (10, 10) and not np.allclose(after, before, equal_nan=True)
    assert any(
        "Soft targets at T = 2" in json.loads(c.proto.spec)["layout"]["title"]["text"]
        for c in at.get("plotly_chart")
    )
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 10  # the ranked pairs
    # entropy is named for what it is: a uniform target would score highest and teach nothing
    labels = [m.label for m in at.metric]
    assert any(label.startswith("spread of the soft target") for label in labels)
    assert not any("information" in label for label in labels)

    at.number_input[0].set_value(5).run()  # pick a digit by index
    assert not at.exception and any("#5" in s.value for s in at.subheader)


def test_page_link_restores_digit_and_t(dark_env, tiny_dir):
    ensure_teacher(TeacherSpec(), load_mnist(tiny_dir), dark_env)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update({"T": "10", "idx": "7"})
    at.run()
    assert not at.exception
    assert any("#7" in s.value for s in at.subheader)
    assert next(s for s in at.select_slider if "Temperature" in s.label).value == 10.0


def test_page_without_a_teacher_explains(dark_env, no_shipped_teacher):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("Distillation Lab" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_page_without_data_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert any("KDVIZ_DATA_DIR" in e.value for e in at.error)


def test_random_digit_keeps_to_the_chosen_class_and_t_1_shows_each_number_once(dark_env, tiny_dir):
    data = load_mnist(tiny_dir)
    ensure_teacher(TeacherSpec(), data, dark_env)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params.update({"cls": "7", "T": "1"})
    at.run()
    for _ in range(5):
        next(b for b in at.button if b.label == "Random digit").click().run()
        assert int(data.test_y[at.session_state["idx"]]) == 7
    labels = [m.label for m in at.metric]
    assert len(labels) == len(set(labels)) == 3  # no second "spread ... T = 1"
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert not any("T = 1 vs T = 1" in t for t in titles)
