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


def drawing(*strokes) -> dict:
    """The drawing pad's state as its browser side sends it: the page's 252 px pad, white 18 px
    strokes on black, as a PNG data URL."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (252, 252), (0, 0, 0, 255))
    pen = ImageDraw.Draw(img)
    for points in strokes:
        pen.line(points, fill=(255, 255, 255, 255), width=18, joint="curve")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"drawing": {"raw": {"objects": []}, "data": url}}


def drawn_bars(at: AppTest, key: str = "drawn_bars") -> list[list[float]] | None:
    """The y values of each set of bars in the chart of the teacher on the drawing, or None."""
    for chart in at.get("plotly_chart"):
        if key in chart.proto.id:
            spec = json.loads(chart.proto.spec)
            return [list(np.asarray(t["y"], dtype=float)) for t in spec["data"] if t.get("type") == "bar"]
    return None


def says(at: AppTest) -> str | None:
    seen = [c.value for c in at.caption if c.value.startswith("As the teacher sees it")]
    return seen[-1].split("It says **")[1][0] if seen else None


def test_a_drawn_digit_gets_the_teachers_soft_targets(dark_env):
    # the shipped paper teacher reads the drawings
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    assert any(i.value.startswith("Draw a digit") for i in at.info)  # an empty pad: no answer
    assert drawn_bars(at) is None and says(at) is None

    at.session_state["pad_0"] = drawing([(60, 40), (190, 40), (110, 220)])  # a 7
    at.run()
    assert not at.exception, at.exception
    assert not any(i.value.startswith("Draw a digit") for i in at.info)
    assert says(at) == "7"
    seven = drawn_bars(at)
    assert len(seven) == 2  # T = 1 and the page's T = 4
    for bars in seven:
        assert len(bars) == 10 and abs(sum(bars) - 1) < 1e-6 and int(np.argmax(bars)) == 7
    assert max(seven[1]) < max(seven[0])  # softened at T = 4
    next(s for s in at.select_slider if "Temperature" in s.label).set_value(1.0).run()
    assert says(at) == "7" and drawn_bars(at) == [seven[0]]  # the same drawing, now at T = 1 only

    at.session_state["pad_0"] = drawing([(126, 30), (126, 220)])  # a 1
    at.run()
    assert says(at) == "1" and int(np.argmax(drawn_bars(at)[0])) == 1

    next(b for b in at.button if b.label == "Clear the pad").click().run()  # a fresh pad, empty
    assert not at.exception
    assert any(i.value.startswith("Draw a digit") for i in at.info)
    assert drawn_bars(at) is None and says(at) is None

    at.session_state["pad_1"] = drawing([(126, 126), (127, 127)])  # one dab of the pen
    at.run()
    assert not at.exception
    assert any(i.value.startswith("Draw a digit") for i in at.info)
    assert drawn_bars(at) is None and says(at) is None


def test_an_uploaded_digit_still_gets_the_teachers_soft_targets(dark_env):
    import io

    from PIL import Image, ImageDraw

    img = Image.new("L", (90, 120), 255)  # a dark 1 on white paper, like a phone photo of ink
    ImageDraw.Draw(img).line([(45, 10), (45, 110)], fill=0, width=9)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader[0].upload("one.png", buf.getvalue(), "image/png").run()
    assert not at.exception, at.exception
    assert says(at) == "1" and drawn_bars(at) is None  # the pad is still empty
    bars = drawn_bars(at, "upload_bars")
    assert len(bars) == 2 and int(np.argmax(bars[0])) == 1
    for _ in range(3):  # refused uploads, one after another: one message, an empty box each time
        at.file_uploader[0].upload("junk.png", b"not an image", "image/png").run()
        assert not at.exception and [e.value for e in at.error if "Cannot use this upload" in e.value]
        assert len(at.error) == 1 and not at.file_uploader[0].value
