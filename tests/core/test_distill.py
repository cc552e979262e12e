"""A race of students: stacked students train exactly as they would alone; links and tables."""

import math

import pytest
import torch

from kdviz import losses, plots, runs, train
from kdviz.distill import (
    PAIR,
    DistillConfig,
    Student,
    decode_students,
    encode_students,
    race,
    race_curves,
    student_names,
    students_from_table,
)
from kdviz.lab import Pool

RACE = (Student(20, 0), Student(4, 0.5), Student(8, 0.9, anneal=True))


def final_weights(data, logits, students, epochs=2):
    model, events = race(data, logits, DistillConfig(hidden=(16,), students=students, epochs=epochs))
    last = train.run_to_end(events)
    return [w.detach().clone() for w in model.weights], last.test_errors


def test_stacked_students_match_students_trained_one_at_a_time(tiny_data):
    logits = torch.randn(len(tiny_data.train_y), 10, generator=torch.Generator().manual_seed(0)) * 3
    stacked, errors = final_weights(tiny_data, logits, RACE)
    assert len(errors) == 3
    for k, s in enumerate(RACE):
        alone, alone_errors = final_weights(tiny_data, logits, (s,))
        for w_stack, w_alone in zip(stacked, alone):
            torch.testing.assert_close(w_stack[k], w_alone[0], atol=1e-5, rtol=1e-4)
        assert abs(errors[k] - alone_errors[0]) <= 1
    # and the students did differ: different losses, different weights
    assert not torch.allclose(stacked[0][0], stacked[0][1]) and not torch.allclose(
        stacked[0][1], stacked[0][2]
    )


def test_an_annealed_temperature_falls_linearly_to_one(tiny_data, monkeypatch):
    seen = []
    real = losses.stacked_losses

    def spy(student_logits, teacher_logits, targets, T, alpha, knowledge=None):
        seen.append(T.tolist())
        return real(student_logits, teacher_logits, targets, T, alpha, knowledge)

    monkeypatch.setattr(train, "stacked_losses", spy)
    logits = torch.randn(len(tiny_data.train_y), 10)
    cfg = DistillConfig(hidden=(8,), students=(Student(4, 0.9), Student(9, 0.9, anneal=True)), epochs=2)
    train.run_to_end(race(tiny_data, logits, cfg)[1])
    steps = len(seen)
    assert all(t[0] == 4 for t in seen)  # the constant one stays put
    assert seen[0][1] == 9 and math.isclose(seen[-1][1], 9 - 8 * (steps - 1) / steps, rel_tol=1e-5)
    diffs = [b[1] - a[1] for a, b in zip(seen, seen[1:])]
    assert max(diffs) < 0 and max(diffs) - min(diffs) < 1e-4  # linear: equal steps down


def test_students_survive_the_link_and_bad_links_are_refused():
    assert decode_students(encode_students(RACE)) == RACE
    assert encode_students(PAIR) == "20:0,20:0.9"
    for bad in ["", "20", "20:0.9:x", "abc:0.9", "0:0.5", "20:1.5", ",".join(["4:0.5"] * 7)]:
        with pytest.raises(ValueError):
            decode_students(bad)


def test_the_student_table_names_the_bad_row():
    rows = [{"T": 20, "alpha": 0, "anneal": False}, {"T": float("nan"), "alpha": 0.9, "anneal": None}]
    with pytest.raises(ValueError, match="student 2"):
        students_from_table(rows)
    assert students_from_table(rows[:1]) == (Student(20, 0),)
    with pytest.raises(ValueError, match="1-6"):
        students_from_table([])


def test_labels_are_distinct_and_curves_follow_them(tiny_data):
    twins = (Student(4, 0.9), Student(4, 0.9), Student(1, 0))
    assert student_names(twins) == ["T = 4, α = 0.9 (#1)", "T = 4, α = 0.9 (#2)", "labels only"]
    cfg = DistillConfig(hidden=(8,), students=RACE, epochs=2)
    logits = torch.randn(len(tiny_data.train_y), 10)
    epochs = [ev for ev in race(tiny_data, logits, cfg)[1] if ev.kind == "epoch"]
    errors, loss_terms, owners = race_curves(RACE, epochs)
    assert list(errors) == ["labels only", "T = 4, α = 0.5", "T = 8→1, α = 0.9"]
    assert errors["T = 4, α = 0.5"] == [e.test_errors[1] for e in epochs]
    assert "labels only: soft (KL)" not in loss_terms and len(loss_terms) == 5
    assert owners == [0, 1, 1, 2, 2]  # labels only: hard; the others: soft, hard
    # Issue 20: a student has one colour in both charts (it had the next free one in the loss chart)
    ep = [e.epoch for e in epochs]
    by_errors = {t.name: t.line.color for t in plots.training_curves(ep, errors, "e", "errors").data}
    loss_chart = plots.training_curves(ep, loss_terms, "l", "loss", owners=owners).data
    for name, color in by_errors.items():
        mine = [t for t in loss_chart if t.name.startswith(name + ":")]
        assert mine and {t.line.color for t in mine} == {color}
        assert [t.line.dash for t in mine] == [None, "dash"][: len(mine)]


def test_a_race_is_one_history_row_per_student(tiny_data):
    cfg = DistillConfig(hidden=(8,), students=RACE, epochs=2)
    logits = torch.randn(len(tiny_data.train_y), 10)
    result = runs.lab(tiny_data, logits, 80, cfg)
    records = result.records("cpu", "teacher", "session", "ada")
    assert len(records) == 3 and len({r.run for r in records}) == 1
    assert [r.errors for r in records] == result.errors and {r.labels_only for r in records} == {
        result.errors[0]
    }
    assert [r.curve for r in records][2] == [(row[0], row[3]) for row in result.curve]
    assert records[2].anneal and records[2].T == 8 and [r.gain for r in records] == result.gains()
    assert str(min(result.errors)) in result.verdict()


def test_a_short_or_stopped_race_says_so_beside_its_verdict():
    from kdviz.distill import caveats

    assert caveats(20, 20) == []
    assert caveats(12, 20) == ["Stopped at 12 of 20 epochs."]
    short = caveats(3, 3)
    assert len(short) == 1 and "Too few epochs" in short[0]
    assert len(caveats(2, 20)) == 2


# What a class types into the Lab's race table (issue 20): each is refused with the row and the
# value named, never clamped into range or read as 0 (the editor's number cells used to do both).
HOSTILE = [
    ("20", "abc", "alpha must be a number in [0, 1], got 'abc'"),
    ("20", "NaN", "alpha must be a number in [0, 1], got 'NaN'"),
    ("20", "-0.2", "alpha must be a number in [0, 1], got '-0.2'"),
    ("20", "1.5", "alpha must be a number in [0, 1], got '1.5'"),
    ("20", "", "alpha must be a number in [0, 1], got ''"),
    ("-5", "0.9", "T must be a finite number > 0, got '-5'"),
    ("1e309", "0.9", "T must be a finite number > 0, got '1e309'"),
    ("inf", "0.9", "T must be a finite number > 0, got 'inf'"),
    ("0", "0.9", "T must be a finite number > 0, got '0'"),
    ("0.01", "0.9", "T must be between 0.05 and 1000, got '0.01'"),
    ("5000", "0.9", "T must be between 0.05 and 1000, got '5000'"),
    ("twenty", "0.9", "T must be a number, got 'twenty'"),
    (None, "0.9", "T must be a number, got None"),
]


@pytest.mark.parametrize("T, alpha, said", HOSTILE)
def test_a_bad_cell_in_the_race_table_is_named_not_clamped(T, alpha, said):
    rows = runs.race_table(PAIR)
    assert rows == [
        {"T": "20", "alpha": "0", "anneal": False, "knowledge": "logits"},
        {"T": "20", "alpha": "0.9", "anneal": False, "knowledge": "logits"},
    ]
    rows[1] |= {"T": T, "alpha": alpha}
    with pytest.raises(ValueError) as refused:
        students_from_table(rows)
    assert str(refused.value).startswith("student 2: ") and str(refused.value).endswith(said)


def test_the_race_table_reads_text_as_typed_and_says_how_many_students_fit():
    rows = [{"T": " 4 ", "alpha": "0.50", "anneal": True}, {"T": 20, "alpha": 0.0}]
    assert students_from_table(rows) == (Student(4.0, 0.5, True), Student(20.0, 0.0))
    assert students_from_table(runs.race_table(RACE)) == RACE  # the editor's table round-trips
    with pytest.raises(runs.RaceSizeError, match="a race has 1-6 students, got 7"):
        students_from_table(runs.race_table(PAIR) * 3 + runs.race_table(PAIR)[:1])
    with pytest.raises(runs.RaceSizeError, match="got 0"):
        students_from_table([])


def test_races_of_one_setup_train_as_one_and_each_gets_what_it_gets_alone(tiny_data):
    """A class's races pooled (kdviz.lab.Pool): the distinct students train once, in one stack,
    and every race's errors, losses and curve are those of the same race trained alone."""
    logits = torch.randn(len(tiny_data.train_y), 10)
    setups = [PAIR, (Student(20, 0), Student(4, 0.5)), RACE, PAIR]  # shared students, a repeat
    cfgs = [DistillConfig(hidden=(16,), students=s, epochs=4, eval_every=2) for s in setups]
    alone = [runs.lab(tiny_data, logits, 80, c) for c in cfgs]
    seen = [[] for _ in cfgs]
    kept = []
    entries = [runs.Entry(c, seen[i].append, keep=kept.append) for i, c in enumerate(cfgs)]
    pooled = runs.lab_pool(tiny_data, logits, 80, entries)
    assert len(Pool(entries).students) == 4  # 2, then 1 new, 1 new; the repeat trains once
    for a, p, events, cfg in zip(alone, pooled, seen, cfgs):
        assert p.cfg is cfg and p.errors == a.errors and p.curve == a.curve
        # the loss terms' running means are float32 sums over a stack of another size
        assert p.last.hard_loss == pytest.approx(a.last.hard_loss, rel=1e-5)
        assert p.last.soft_loss == pytest.approx(a.last.soft_loss, rel=1e-5)
        assert all(len(e.hard_loss) == len(cfg.students) for e in events)
    assert [row[0] for row in pooled[0].curve] == [2, 4]  # tested every 2nd epoch and the last
    assert kept == pooled


def test_a_race_stopped_in_a_pool_keeps_its_epochs_and_the_others_train_on(tiny_data):
    logits = torch.randn(len(tiny_data.train_y), 10)
    cfg = DistillConfig(hidden=(16,), students=PAIR, epochs=3, eval_every=1)
    other = DistillConfig(hidden=(16,), students=RACE, epochs=3, eval_every=1)
    epochs_seen = []
    stop = lambda: len(epochs_seen) >= 1  # noqa: E731  stops once its first epoch is in
    quitter = runs.Entry(cfg, lambda e: e.kind == "epoch" and epochs_seen.append(e), stop)
    never = runs.Entry(cfg, should_stop=lambda: True)  # stopped before anything
    first, second, nothing = runs.lab_pool(tiny_data, logits, 80, [quitter, runs.Entry(other), never])
    assert first.last.epoch == 1 and first.status == "stopped" and len(first.curve) == 1
    assert second.last.epoch == 3 and second.status == "done"
    assert nothing is None
    assert second.errors == runs.lab(tiny_data, logits, 80, other).errors


def test_only_races_that_differ_in_their_students_pool():
    a = DistillConfig(hidden=(16,), seed=1)
    with pytest.raises(ValueError, match="nothing but their students"):
        Pool([runs.Entry(a), runs.Entry(DistillConfig(hidden=(16,), seed=2))])
    assert runs.pool_key(a) == runs.pool_key(DistillConfig(hidden=(16,), seed=1, students=RACE))
    assert runs.pool_key(a) != runs.pool_key(DistillConfig(hidden=(16,), seed=1, train_size=100))


def test_a_pool_is_estimated_by_its_distinct_students(tiny_data):
    pair = DistillConfig(hidden=(800, 800), students=PAIR, epochs=20, train_size=100)
    three = DistillConfig(hidden=(800, 800), students=RACE, epochs=20, train_size=100)
    one = runs.lab_seconds(tiny_data, [pair])
    assert runs.lab_seconds(tiny_data, [pair] * 30) == one  # thirty identical races: one race
    assert runs.lab_seconds(tiny_data, [pair, three]) > runs.lab_seconds(tiny_data, [three]) > one


# --- the survey's other kinds of knowledge in a race
KINDS = (Student(4, 0), Student(4, 0.5), Student(4, 0.5, knowledge="hint"))
KINDS += (Student(4, 0.5, knowledge="relation"), Student(2, 0.5, knowledge="mutual"))


def tiny_teacher(data):
    from kdviz.models import StackedMLP, predict_logits

    teacher = StackedMLP((12,), seed=9).eval()
    return predict_logits(teacher, data.train_x)[0], lambda x: teacher(x, with_hidden=True)[1][0]


def test_each_kind_of_knowledge_trains_in_the_stack_as_it_would_alone(tiny_data):
    logits, hidden = tiny_teacher(tiny_data)
    cfg = DistillConfig(hidden=(16,), students=KINDS, epochs=2)
    model, events = race(tiny_data, logits, cfg, teacher_hidden=hidden)
    last = train.run_to_end(events)
    assert model.k == 6 and len(last.test_errors) == len(last.soft_loss) == 5  # the peer is not a student
    for k in (2, 3, 4):  # hint, relation, mutual (with its own peer)
        alone, events = race(
            tiny_data,
            logits,
            DistillConfig(hidden=(16,), students=(KINDS[k],), epochs=2),
            teacher_hidden=hidden,
        )
        train.run_to_end(events)
        torch.testing.assert_close(model.weights[0][k], alone.weights[0][0], atol=1e-5, rtol=1e-4)
    # the peer started elsewhere (other initial weights) and learnt as its student did
    assert not torch.equal(model.weights[0][4], model.weights[0][5])


def test_hint_and_relation_terms_fall_and_the_projection_learns(tiny_data, monkeypatch):
    logits, hidden = tiny_teacher(tiny_data)
    projections = []
    real = train._projection
    monkeypatch.setattr(train, "_projection", lambda *a: projections.append(real(*a)) or projections[-1])
    cfg = DistillConfig(hidden=(16,), students=KINDS[2:4], epochs=6, lr=3e-3, eval_every=1)
    model, events = race(tiny_data, logits, cfg, teacher_hidden=hidden)
    first = drawn = None
    for ev in events:
        if ev.kind == "epoch" and first is None:
            first = ev.soft_loss
            drawn = projections[0].detach().clone()
    assert ev.soft_loss[0] < 0.8 * first[0] and ev.soft_loss[1] < 0.8 * first[1], (first, ev.soft_loss)
    assert not torch.equal(projections[0].detach(), drawn)  # the hint's projection has gradients


def test_a_mutual_pair_both_learn_without_a_teacher(tiny_data):
    from kdviz.models import StackedMLP

    model = StackedMLP((16,), k=2, inits=(0, 1))
    cfg = train.TrainConfig(epochs=5, batch_size=64, lr=3e-3)
    events = train.train(
        model, tiny_data, cfg, (2.0, 2.0), (0.5, 0.5), None, knowledge=("mutual",) * 2, peers=(1, 0)
    )
    epochs = [ev for ev in events if ev.kind == "epoch"]
    total = [[0.5 * s + 0.5 * h for s, h in zip(ev.soft_loss, ev.hard_loss)] for ev in epochs]
    assert all(total[-1][k] < 0.7 * total[0][k] for k in range(2)), total  # each one's loss falls
    with pytest.raises(ValueError, match="mutual students come in pairs"):
        next(
            train.train(
                model,
                tiny_data,
                cfg,
                (2.0, 2.0),
                (0.5, 0.5),
                None,
                knowledge=("mutual", "logits"),
                peers=(1, 0),
            )
        )


def test_kinds_of_knowledge_survive_the_link_the_table_and_their_names():
    assert decode_students(encode_students(KINDS)) == KINDS
    assert encode_students(KINDS) == "4:0,4:0.5,4:0.5:hint,4:0.5:relation,2:0.5:mutual"
    assert decode_students("20:0.9:a:mutual") == (Student(20, 0.9, True, "mutual"),)
    for bad in ["4:0.5:teacher", "4:0.5:hint:a", "4:0.5:hint:relation"]:
        with pytest.raises(ValueError):
            decode_students(bad)
    assert students_from_table(runs.race_table(KINDS)) == KINDS
    assert [s.loss_name for s in KINDS] == [
        "labels only",
        "T = 4, α = 0.5",
        "hint, α = 0.5",
        "relation, α = 0.5",
        "mutual, T = 2, α = 0.5",
    ]
    assert Student(4, 0, knowledge="hint") == Student(4, 0)  # listening to no one: labels only
    with pytest.raises(ValueError, match="a student learns from one of logits, hint, relation, mutual"):
        Student(4, 0.5, knowledge="features")


def test_a_hint_student_without_the_teachers_hidden_layer_is_refused(tiny_data):
    logits, _hidden = tiny_teacher(tiny_data)
    cfg = DistillConfig(hidden=(16,), students=(KINDS[2],), epochs=1)
    with pytest.raises(ValueError, match="need the teacher's hidden layer"):
        train.run_to_end(race(tiny_data, logits, cfg)[1])
