"""The lesson's steps, reveals and the class poll (kdviz.lesson, kdviz.poll)."""

import threading

import pytest
import torch

from kdviz import lesson, poll
from kdviz.history import Record
from kdviz.lesson import STEPS
from kdviz.temperature import probs_to_logits, softmax_t

KEY = "teacher-key"


def test_the_lesson_has_eight_to_twelve_steps_in_teaching_order():
    order = ["1_Temperature", "2_Dark_Knowledge", "3_Distillation_Lab", "4_Experiments"]
    pages = [next(i for i, p in enumerate(order) if p in s.page) for s in STEPS]
    assert 8 <= len(STEPS) <= 12 and pages == sorted(pages) and set(pages) == {0, 1, 2, 3}
    assert len(set(lesson.STEP_IDS)) == len(STEPS)
    assert all(s.question and s.notes for s in STEPS)


def test_the_car_reveal_is_measured_at_the_steps_temperature():
    r = lesson.reveal_car(100.0)
    p = float(softmax_t(probs_to_logits(lesson.DOCS_PROBS), 100.0)[3])
    assert f"{p:.3f}" in r.answer and r.correct == 2  # almost 1/4
    assert lesson.reveal_car(1.0).correct == 1  # at T = 1 it stays 0.02
    assert lesson.reveal_car(0.2).correct == 0  # a cold softmax drops it


def test_the_wrong_class_share_grows_with_t():
    assert lesson.reveal_wrong(1.0).correct == pytest.approx(40.0)
    assert lesson.reveal_wrong(5.0).correct > 60


def test_the_four_reveal_finds_the_class_the_logits_favour():
    labels = torch.tensor([4, 4, 9, 1])
    logits = torch.full((4, 10), -5.0)
    logits[:, 4] = 5.0
    logits[0, 7] = logits[1, 7] = 2.0  # these fours look like sevens
    assert lesson.reveal_four(logits, labels, 4.0).correct == 7


def _record(run, T, alpha, errors, epochs_done=10, student="800-800", images=1000, omit="-"):
    return Record(
        run,
        student,
        T,
        alpha,
        False,
        images,
        omit,
        0,
        10,
        epochs_done,
        "t",
        61,
        errors,
        None,
        12.0,
        "cpu",
        "done" if epochs_done == 10 else "stopped",
        created="2026-12-02T08:00:00Z",
    )


def test_a_race_reveal_reads_the_newest_matching_run_and_says_when_it_is_too_short():
    step = STEPS[lesson.STEP_IDS.index("race")]
    old = [_record("a", 20, 0, 150), _record("a", 20, 0.9, 100)]
    new = [_record("b", 20, 0, 140, epochs_done=3), _record("b", 20, 0.9, 143, epochs_done=3)]
    other = [_record("c", 20, 0, 10, images=300), _record("c", 20, 0.9, 5, images=300)]
    rs = lesson.latest_race(old + new + other, step)
    assert [r.run for r in rs] == ["b", "b"]
    r = lesson.reveal_race(rs)
    assert r.correct == 1  # 3 errors apart of 140: about the same
    assert any("3 of 10" in line for line in r.context)  # stopped at epoch 3 of 10
    assert any("Too few epochs" in line for line in r.context)
    assert lesson.reveal_race(old).correct == 0 and lesson.latest_race(other, step) == []


def test_the_small_student_reveal_names_the_best_t():
    step = STEPS[lesson.STEP_IDS.index("small")]
    rs = [
        _record("s", T, 0.9, e, student="30-30", images=3000)
        for T, e in ((1, 400), (2.5, 300), (5, 320), (20, 390))
    ]
    assert lesson.latest_race(rs, step) == rs
    assert lesson.reveal_small(rs).correct == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def lessons_db(request, tmp_path):
    """A lesson file of one server, or the PostgreSQL database that replicas share."""
    return tmp_path / "lessons.sqlite" if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_the_poll_counts_one_answer_per_device_until_the_reveal(lessons_db):
    p = poll.ClassPoll(lessons_db, KEY)
    code = p.start(KEY)
    assert len(code) == 4 and p.lesson(code).step == 0
    p.answer(code, "d1", 0, "2")
    p.answer(code, "d2", 0, "2", name="Ann")
    p.answer(code, "d1", 0, "3")  # changed its mind
    assert poll.tally(STEPS[0], p.answers(code, 0)) == {"0": 0, "1": 0, "2": 1, "3": 1}
    with pytest.raises(poll.PollError):
        p.answer(code, "d3", 0, "9")  # not a choice
    with pytest.raises(poll.PollError):
        p.answer(code, "d3", 1, "2")  # not the current step
    p.reveal(KEY, code)
    with pytest.raises(poll.PollError, match="revealed"):
        p.answer(code, "d1", 0, "0")
    p.go(KEY, code, 1)
    assert p.answer(code, "d1", 1, " 1,250 ") == "1250"
    for bad in ("abc", "nan", "inf", "1e99"):
        with pytest.raises(poll.PollError):
            p.answer(code, "d1", 1, bad)
    assert p.open_lesson() == code  # runs that end now belong to it
    p.close(KEY, code)
    with pytest.raises(poll.PollError, match="closed"):
        p.answer(code, "d1", 1, "3")
    assert p.open_lesson() == ""


def test_only_the_teachers_key_drives_a_lesson(tmp_path):
    p = poll.ClassPoll(tmp_path / "lessons.sqlite", KEY)
    code = p.start(KEY)
    for command in (lambda k: p.start(k), lambda k: p.go(k, code, 3), lambda k: p.reveal(k, code)):
        for wrong in ("", "teacher", KEY + "x"):
            with pytest.raises(poll.NotTeacher):
                command(wrong)
    assert p.lesson(code).step == 0 and not p.lesson(code).revealed
    keyless = poll.ClassPoll(tmp_path / "lessons.sqlite", "")
    with pytest.raises(poll.NotTeacher, match="no teacher's key"):
        keyless.reveal("", code)


def test_a_file_that_is_not_ours_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "lessons.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE other (x)")
    with pytest.raises(poll.PollError, match="not kdviz's lesson file"):
        poll.ClassPoll(path, KEY)


def test_thirty_devices_answering_at_once_are_all_counted(lessons_db):
    p = poll.ClassPoll(lessons_db, KEY)
    code = p.start(KEY)
    threads = [threading.Thread(target=p.answer, args=(code, f"d{i}", 0, str(i % 4))) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(poll.tally(STEPS[0], p.answers(code, 0)).values()) == 30
    other = poll.ClassPoll(lessons_db, KEY)  # a second replica reads the same tally
    assert other.answers(code, 0) == p.answers(code, 0)


def test_a_format_1_lesson_file_keeps_its_answers_in_order(tmp_path):
    import sqlite3

    path = tmp_path / "lessons.sqlite"
    with sqlite3.connect(path) as conn:  # as kdviz wrote it before answers had an id
        conn.execute(f"PRAGMA application_id = {poll.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "CREATE TABLE lessons (code TEXT PRIMARY KEY, step INTEGER NOT NULL, "
            "revealed INTEGER NOT NULL, open INTEGER NOT NULL, created TEXT NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE answers (code TEXT NOT NULL, step INTEGER NOT NULL, device TEXT NOT NULL, "
            "name TEXT NOT NULL, answer TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (code, step, device))"
        )
        conn.execute("INSERT INTO lessons VALUES ('ABCD', 0, 0, 1, '2026-12-01T09:00:00Z')")
        for device, answer in (("z", "2"), ("a", "0"), ("m", "3")):  # rowid order, not key order
            conn.execute("INSERT INTO answers VALUES ('ABCD', 0, ?, '', ?, 'now')", (device, answer))
    p = poll.ClassPoll(path, KEY)
    assert p.answers("ABCD", 0) == [("", "2"), ("", "0"), ("", "3")]
    p.answer("ABCD", "new", 0, "1")
    assert p.answers("ABCD", 0)[-1] == ("", "1")


class _Result:
    """What kdviz.archive reads of a kdviz.experiments.Result."""

    def __init__(self, name, values, curve=None):
        self.name, self.rows, self.curve = name, [{"this run": v} for v in values], curve


def test_stored_experiments_feed_the_last_two_reveals(tmp_path):
    import pandas as pd

    from kdviz import archive

    assert archive.latest(tmp_path, "main") is None
    archive.save(_Result("main", [61, 140.3, 92.0]), "quick", tmp_path, "CPU (AMD EPYC)")
    main = archive.latest(tmp_path, "main")
    r = lesson.reveal_paper(main["values"], main["when"], main["machine"], main["preset"])
    assert r.correct == 92.0 and "140.3" in r.answer and "CPU (AMD EPYC)" in r.context[0]
    assert "fewer epochs" in r.why and "means" in lesson.reveal_paper(main["values"], "", "", "full").why
    sweep = pd.DataFrame({"class_total": [1010, 1010]})
    archive.save(_Result("omit3", [250, 180, 3.5, 120, 20], sweep), "quick", tmp_path, "CPU")
    found = archive.latest(tmp_path, "omit3")
    r = lesson.reveal_omit(found["values"], found["threes"], found["when"], found["machine"], found["preset"])
    assert r.correct == 830 and "830 of 1,010" in r.answer and "990" in r.answer
    archive.save(_Result("only78", [12.0, "0-0", None]), "tiny", tmp_path, "CPU")  # text rows are kept
    assert archive.latest(tmp_path, "only78")["values"] == [12.0, "0-0", None]
    archive.path(tmp_path, "main").write_text("not json")  # damaged: ignored, never trusted
    assert archive.latest(tmp_path, "main") is None
    assert not list(tmp_path.glob(".experiments-*"))  # no temp file left behind
