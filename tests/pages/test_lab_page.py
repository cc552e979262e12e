"""The Distillation Lab under AppTest with a tiny dataset: train a teacher, then the students."""

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
LAB = str(ROOT / "pages/3_Distillation_Lab.py")


@pytest.fixture
def lab_env(tiny_env, no_shipped_teacher):
    return tiny_env


def button(at, label):
    return next(b for b in at.button if b.label == label)


def table(at, column):
    """The first table on the page with `column` (the race's editor is a dataframe too), or None."""
    return next((d.value for d in at.dataframe if column in d.value.columns), None)


def results(at):
    return table(at, "gain vs labels only")


def wait_until(at, done, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(0.3)
    shown = [e.value for e in (*at.error, *at.warning, *at.info)]
    raise AssertionError(f"timed out; the page shows {shown}")


def test_lab_trains_teacher_then_students(lab_env):
    at = AppTest.from_file(LAB, default_timeout=60)
    at.query_params.update({"student": "64", "epochs": "3", "n": "300", "students": "4:0,4:0.9"})
    at.run()
    assert not at.exception
    assert any("shipped paper teacher cannot be used" in w.value for w in at.warning)
    button(at, "Train teacher").click().run()
    wait_until(at, lambda at: any(b.label == "Train students" for b in at.button))
    assert any("test errors" in c.value for c in at.caption)
    assert (lab_env / "teachers").is_dir()

    button(at, "Train students").click().run()
    wait_until(at, lambda at: results(at) is not None)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [d["name"] for d in charts[0]["data"]]
    assert names == ["labels only", "T = 4, α = 0.9"] and len(charts[0]["data"][0]["y"]) == 3
    row = results(at).iloc[-1]
    assert row["student"] == "64, T = 4, α = 0.9" and row["T"] == 4.0 and row["epochs"] == "3/3"
    assert row["status"] == "done" and any("distillation" in s.value for s in at.success)


def race_from_link(link: str, before_training=lambda at: None) -> AppTest:
    """A 2-epoch race of 64-unit students on 300 images, opened from a link and trained."""
    at = AppTest.from_file(LAB, default_timeout=60)
    at.query_params.update({"student": "64", "epochs": "2", "n": "300", "students": link})
    at.run()
    assert not at.exception and at.query_params["students"] == link  # the link round-trips
    before_training(at)
    button(at, "Train students").click().run()
    return wait_until(at, lambda at: results(at) is not None)


def test_a_race_of_four_students_from_a_link(tiny_env):
    at = race_from_link("20:0,2:0.5,8:0.9,20:0.9:a")
    names = [d["name"] for d in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert names == ["labels only", "T = 2, α = 0.5", "T = 8, α = 0.9", "T = 20→1, α = 0.9"]
    table = results(at)
    assert len(table) == 4 and table["anneal to 1"].tolist() == ["no", "no", "no", "yes"]
    assert (table["gain vs labels only"] == table["test errors"].iloc[0] - table["test errors"]).all()


def test_a_race_of_every_kind_of_knowledge_from_a_link(tiny_env):
    def shows_each_kind(at):
        kinds = table(at, "knowledge")["knowledge"].tolist()
        assert kinds == ["logits", "logits", "hint", "relation", "mutual"]

    at = race_from_link("4:0,4:0.5,4:0.5:hint,4:0.5:relation,2:0.5:mutual", shows_each_kind)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [d["name"] for d in charts[0]["data"]]
    assert names == [
        "labels only",
        "T = 4, α = 0.5",
        "hint, α = 0.5",
        "relation, α = 0.5",
        "mutual, T = 2, α = 0.5",
    ]
    losses = {d["name"] for c in charts for d in c["data"]}
    assert {
        "hint, α = 0.5: hint (MSE)",
        "relation, α = 0.5: relation (RKD)",
        "mutual, T = 2, α = 0.5: peer (KL)",
    } <= losses
    assert len(results(at)) == 5  # the mutual student's peer is not one of the race's students


def test_a_bad_race_link_falls_back_to_the_pair(tiny_env):
    at = AppTest.from_file(LAB, default_timeout=60)
    at.query_params.update({"students": "20:7"})
    at.run()
    assert not at.exception and at.query_params["students"] == "20:0,20:0.9"
    assert any("link" in w.value for w in at.warning)


def test_lab_without_data_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tmp_path / "empty"))
    at = AppTest.from_file(LAB, default_timeout=30).run()
    assert not at.exception
    assert any("KDVIZ_DATA_DIR" in e.value for e in at.error)


def test_lab_with_foreign_checkpoint_offers_retrain(lab_env, tiny_dir):
    from kdviz.teacher import TeacherSpec, checkpoint_path

    path = checkpoint_path(TeacherSpec(), lab_env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"definitely not a checkpoint")
    at = AppTest.from_file(LAB, default_timeout=30).run()
    assert not at.exception
    assert any("cannot be used" in e.value for e in at.error)
    button(at, "Retrain it").click().run()
    assert (
        not path.exists()
        and path.with_suffix(".rejected").exists()
        and any(b.label == "Train teacher" for b in at.button)
    )


def test_classroom_mode_caps_heavy_options(lab_env, tiny_data, monkeypatch):
    from kdviz.teacher import TeacherSpec, ensure_teacher

    ensure_teacher(TeacherSpec(), tiny_data, lab_env)
    monkeypatch.setenv("KDVIZ_CLASSROOM", "1")
    at = AppTest.from_file(LAB, default_timeout=30)
    at.query_params.update({"student": "800,800", "epochs": "1000"})
    at.run()
    assert not at.exception
    assert any("link" in w.value for w in at.warning)  # the link asked for more than the class allows
    student = next(s for s in at.selectbox if s.label == "Student hidden layers")
    assert student.options and not any("800" in o for o in student.options)
    for typed in (25, 0, -3):  # typed past the cap, or below 1: refused by name, never clamped
        at.number_input(key="epochs").set_value(typed).run()
        assert not at.exception and any(f"Epochs must be 1 to 20, not {typed}" in e.value for e in at.error)
        assert not [b for b in at.button if b.label == "Train students"]


def test_unwritable_cache_still_trains_and_warns(tiny_dir, tmp_path, monkeypatch, no_shipped_teacher):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tiny_dir))
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(blocker / "cache"))
    at = AppTest.from_file(LAB, default_timeout=60)
    at.query_params.update({"student": "64", "epochs": "2", "n": "300"})
    at.run()
    button(at, "Train teacher").click().run()
    wait_until(at, lambda at: any(b.label == "Train students" for b in at.button))
    assert any("cannot write" in w.value for w in at.warning)
    button(at, "Train students").click().run()
    wait_until(at, lambda at: results(at) is not None)
    assert results(at).iloc[-1]["status"] == "done"


def test_lab_opens_with_the_shipped_teacher_and_its_measured_errors(
    tiny_dir, tmp_path, monkeypatch, tiny_data
):
    from kdviz.shipped import load_shipped

    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tiny_dir))
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(LAB, default_timeout=60).run()
    assert not at.exception and not at.warning
    assert next(s for s in at.selectbox if s.label == "Teacher").value.endswith("paper_teacher.safetensors")
    assert not any(b.label == "Train teacher" for b in at.button), "no training step"
    measured = load_shipped(tiny_data).test_errors  # measured on the tiny set, not the card's number
    assert any(f"{measured} test errors" in c.value for c in at.caption)


def test_earlier_runs_of_the_session_overlay_the_latest(tiny_env):
    at = AppTest.from_file(LAB, default_timeout=60)
    at.query_params.update({"student": "64", "epochs": "2", "n": "300"})
    at.run()
    for seed in (0, 1):
        next(s for s in at.number_input if s.label == "Seed").set_value(seed).run()
        button(at, "Train students").click().run()
        wait_until(
            at,
            lambda at, k=seed: results(at) is not None and len(results(at)) == 2 * (k + 1),
        )
    assert results(at)["seed"].tolist() == [0, 0, 1, 1]  # the history survives both runs
    buys = table(at, "model")  # what the small model buys
    assert buys["model"].tolist() == ["teacher", "student 64"] and (buys["ms per image, batch 1"] > 0).all()
    assert buys["parameters"].iloc[0] > buys["parameters"].iloc[1]
    tradeoff = json.loads(at.get("plotly_chart")[-1].proto.spec)["data"]
    assert [t["name"] for t in tradeoff] == [
        "teacher",
        "run 1: labels only",
        "run 1: T = 20, α = 0.9",
        "run 2: labels only",
        "run 2: T = 20, α = 0.9",
    ]
    overlay = next(m for m in at.multiselect if m.label.startswith("Compare with earlier runs"))
    assert len(overlay.options) == 2  # run 1's two students; not the run on the chart
    assert overlay.options[0].startswith("anonymous, run ") and overlay.options[0].endswith("64, labels only")
    overlay.set_value([overlay.options[1]]).run()
    names = [d["name"] for d in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert names[:2] == ["labels only", "T = 20, α = 0.9"] and names[-1].endswith(": T = 20, α = 0.9")
    assert len(names) == 3  # two students and one overlay


def test_the_class_table_keeps_every_run_across_sessions_best_first(tiny_env):
    for name, students in (("ada", "20:0,20:0.9"), ("bo", "4:0.5")):  # two browser sessions
        at = AppTest.from_file(LAB, default_timeout=60)
        at.query_params.update(
            {"student": "64", "epochs": "2", "n": "300", "students": students, "name": name}
        )
        at.run()
        button(at, "Train students").click().run()
        wait_until(at, lambda at: results(at) is not None)
    fresh = AppTest.from_file(LAB, default_timeout=60).run()  # a reload: a new session
    table = fresh.dataframe[-1].value
    assert sorted(table["name"]) == ["ada", "ada", "bo"] and table["test errors"].is_monotonic_increasing
    from kdviz.history import RunHistory

    rows = RunHistory(tiny_env / "runs.sqlite").runs()
    assert [r.name for r in rows] == ["ada", "ada", "bo"] and all(len(r.curve) == 2 for r in rows)
    assert rows[0].run == rows[1].run != rows[2].run and rows[2].labels_only is None
    assert all(r.session for r in rows)  # (AppTest gives every session the same id)


KEY = "the-teachers-key-123"


def everything_shown(at) -> str:
    """Every text the page shows, and its URL: where a key must never appear."""
    return repr(at._tree) + repr(dict(at.query_params))


def test_only_the_teachers_key_stops_anyones_run_and_deletes_the_class_runs(tiny_env, monkeypatch):
    monkeypatch.setenv("KDVIZ_TEACHER_KEY", KEY)
    link = {"student": "64", "epochs": "2", "n": "300", "name": "ada"}
    ada = AppTest.from_file(LAB, default_timeout=60)
    ada.query_params.update(link)
    ada.run()
    button(ada, "Train students").click().run()
    wait_until(ada, lambda at: results(at) is not None)  # one run in the class's history
    button(ada, "Train students")  # still there: the run ended
    next(s for s in ada.selectbox if s.label == "Student hidden layers").set_value("800,800")
    next(s for s in ada.number_input if s.label == "Epochs").set_value(100).run()
    button(ada, "Train students").click().run()  # a long one (minutes), still training below
    for crafted in ({}, {"key": "not-the-key"}, {"key": KEY[:-1]}):  # a student; crafted links
        student = AppTest.from_file(LAB, default_timeout=60)
        student.query_params.update(crafted)
        student.run()
        assert not student.exception
        assert "The teacher's controls" not in [h.value for h in student.subheader]
        assert not [b for b in student.button if b.label in ("Stop this run", "Delete")]
        assert KEY not in everything_shown(student)
    teacher = AppTest.from_file(LAB, default_timeout=60)
    teacher.query_params.update({"key": KEY})
    teacher.run()
    assert "The teacher's controls" in [h.value for h in teacher.subheader]
    assert KEY not in everything_shown(teacher)  # taken out of the URL once read
    teacher.button(key="teacher_stop").click().run()  # ada's long run, the only one on the trainer
    assert any("stopped" in s.value for s in teacher.success)
    wait_until(ada, lambda at: not [b for b in at.button if b.label == "Stop" and not b.disabled])
    teacher.run()
    teacher.checkbox(key="teacher_delete_sure").check().run()
    teacher.button(key="teacher_delete").click().run()
    assert any("deleted" in s.value for s in teacher.success)
    from kdviz.history import RunHistory

    assert RunHistory(tiny_env / "runs.sqlite").page(size=1)[1] == 0


def test_a_full_disk_is_said_and_the_lab_still_trains(tiny_dir, full_disk, monkeypatch):
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(tiny_dir))
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(full_disk))
    full_disk.fill()
    at = AppTest.from_file(LAB, default_timeout=60)
    at.query_params.update({"student": "64", "epochs": "2", "n": "300"})
    at.run()
    assert not at.exception
    button(at, "Train students").click().run()
    wait_until(at, lambda at: results(at) is not None)  # the race's result, shown all the same
    said = " ".join(w.value for w in at.warning)
    assert "history" in said and ("disk" in said or "not kept" in said or "not stored" in said), said


def test_a_run_during_a_lesson_is_filed_under_it(tiny_env, monkeypatch):
    from kdviz import poll
    from kdviz.history import RunHistory

    monkeypatch.setenv("KDVIZ_TEACHER_KEY", KEY)
    code = poll.ClassPoll(tiny_env / "lessons.sqlite", KEY).start(KEY)
    at = AppTest.from_file(LAB, default_timeout=60)
    at.query_params.update({"student": "64", "epochs": "2", "n": "300", "name": "in class"})
    at.run()
    button(at, "Train students").click().run()
    wait_until(at, lambda at: results(at) is not None)
    assert {r.lesson for r in RunHistory(tiny_env / "runs.sqlite").runs()} == {code}
    at.run()
    lesson = next(s for s in at.selectbox if s.label == "Lesson")
    assert lesson.options[1].startswith(code)
    lesson.set_value(code).run()
    assert any("2 students match" in c.value for c in at.caption)
