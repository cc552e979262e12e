"""kdviz.experiments (every experiment on tiny data, through kdviz.runs), kdviz.probes, kdviz.recipes and
kdviz.timing (the pure helpers, tables and estimates)."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from kdviz import ensemble, probes, runs, timing
from kdviz import experiments as E
from kdviz import recipes as R
from kdviz.bench import Bench
from kdviz.control import Stopped
from kdviz.data import load_mnist
from kdviz.models import shape_name
from kdviz.teacher import ensure_teacher
from tests.conftest import write_synthetic_mnist


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Every experiment once on the tiny set, shared by the tests that read its results."""
    folder = tmp_path_factory.mktemp("tiny_run")
    data = load_mnist(write_synthetic_mnist(folder / "mnist"))
    names = []

    def step(run):
        if run.current and run.current not in names:
            names.append(run.current)

    run = runs.ExperimentsRun("tiny", tuple(E.EXPERIMENTS))
    runs.experiments(run, data, folder / "cache", on_step=step)
    assert run.finished
    return data, run.results, names


def test_run_all_gives_every_experiment_with_documented_fields(tiny_run):
    data, results, names = tiny_run
    assert names == ["teacher", *E.EXPERIMENTS]
    assert [r.name for r in results] == list(E.EXPERIMENTS)
    # unless chosen, the paper's six run; the ensemble and the kinds of knowledge (beyond them) do not
    assert list(E.DEFAULT) == [n for n in E.EXPERIMENTS if n not in ("ensemble", "knowledge")]
    for r in results:
        assert r.rows and all(
            {"what", "this run", "paper"}
            <= set(row)
            <= {"what", "this run", "paper", "seeds", "views", "schedule"}
            for row in r.rows
        )
        assert isinstance(r.setup, dict) and r.setup and r.seed == R.TINY.seed and r.seconds > 0
        assert list(r.table().columns)[:3] == ["what", "this run", "paper"]
        assert r.checks and all(
            set(c) == {"effect", "holds"} and isinstance(c["holds"], bool) for c in r.checks
        )
        json.dumps(r.to_dict())  # JSON-ready for the CLI
    by = {r.name: r for r in results}
    main = by["main"]
    assert [row["paper"] for row in main.rows] == [67, 146, 74, None, None]
    assert all(0 <= row["this run"] <= len(data.test_y) for row in main.rows)
    # TINY repeats the main table over 2 seeds: each student row is the mean of its seeds
    for row in main.rows[1:]:
        assert len(row["seeds"]) == 2 and row["this run"] == pytest.approx(sum(row["seeds"]) / 2, abs=0.05)
    assert list(main.table().columns) == ["what", "this run", "paper", "per seed"]
    labels_only, distilled = main.rows[1]["this run"], main.rows[2]["this run"]
    assert main.checks[0]["holds"] == (distilled < labels_only)
    assert {"shift", "errors", "class_errors"} <= set(by["omit3"].curve.columns)
    assert by["omit3"].rows[1]["this run"] <= by["omit3"].rows[0]["this run"]
    assert by["omit3"].rows[3]["this run"] <= by["omit3"].rows[0]["this run"]  # the best shift helps
    assert (by["only78"].curve["shift"] <= 0).all()
    assert len(by["few_labels"].curve) == 2 * len(R.TINY.few_sizes)
    t = by["temperature"].curve
    assert sorted(t["T"].unique()) == sorted(R.TINY.sweep_Ts) and t["student"].nunique() == 2
    m = by["matching"].curve
    assert (m[m["T"] == 100.0]["cosine"] > 0.99).all()
    # the main table's models, for the size panel: teacher and each student, errors as in the rows
    assert [m["model"] for m in main.models][:3] == ["teacher", "student, labels only", "student, distilled"]
    assert [m["test errors"] for m in main.models] == [row["this run"] for row in main.rows]
    assert [tuple(m["hidden"]) for m in main.models] == [R.TINY.teacher.hidden] + [R.TINY.student] * 4


def test_ensemble_rows_curve_and_checks_agree(tiny_run):
    data, results, _ = tiny_run
    ens, k = next(r for r in results if r.name == "ensemble"), R.TINY.ensemble_members
    values = [row["this run"] for row in ens.rows]
    assert len(ens.rows) == k + 6 and all(row["paper"] is None for row in ens.rows)
    members, mean, by_probs, by_logits = values[:k], values[k], values[k + 1], values[k + 2]
    labels_only, from_one, from_ensemble = values[k + 3 :]
    assert mean == pytest.approx(np.mean(members), abs=0.05)
    assert all(0 <= v <= len(data.test_y) for v in members + [by_probs, by_logits, *values[k + 3 :]])
    assert "average of probabilities" in ens.rows[k + 1]["what"] and "logits" in ens.rows[k + 2]["what"]
    assert [r["what"].split(",")[0] for r in ens.rows[k + 3 :]] == [
        f"student {shape_name(R.TINY.student)}",
        f"student {shape_name(R.TINY.student)} distilled from member 1",
        f"student {shape_name(R.TINY.student)} distilled from the ensemble",
    ]
    assert ens.checks[0]["holds"] == (by_probs < mean)
    assert ens.checks[1]["holds"] == (from_ensemble < from_one)
    assert ens.curve["kind"].tolist() == ["member"] * k + ["ensemble"] + ["student"] * 3
    assert ens.curve["errors"].tolist() == [*members, by_probs, labels_only, from_one, from_ensemble]
    assert ens.setup["members"] == k and ens.setup["averaging"] == "probabilities"


def test_an_ensemble_of_one_is_its_member_and_the_checks_say_so(tiny_data):
    one = ensemble.experiment(Bench(tiny_data, None, replace(R.TINY, ensemble_members=1), None))
    values = [row["this run"] for row in one.rows]
    member, mean, by_probs, by_logits = values[:4]
    assert member == mean == by_probs == by_logits
    assert not one.checks[0]["holds"]  # no better than its mean member: the check can fail
    # from "the ensemble" and from member 1 the students learn the same distribution
    assert abs(values[-1] - values[-2]) <= 2
    with pytest.raises(Stopped):
        ensemble.experiment(Bench(tiny_data, None, R.TINY, None, should_stop=lambda: True))


def test_experiment_stops_when_asked(tiny_data, tmp_path):
    teacher = ensure_teacher(R.TINY.teacher, tiny_data, tmp_path)
    stopping = Bench.of(tiny_data, teacher, R.TINY, should_stop=lambda: True)
    with pytest.raises(Stopped):
        E.main_table(stopping)
    with pytest.raises(Stopped):
        list(E.run_all(stopping))
    with pytest.raises(ValueError, match="unknown"):
        list(E.run_all(Bench.of(tiny_data, teacher, R.TINY), ["nope"]))
    run = runs.experiments(runs.ExperimentsRun("tiny"), tiny_data, tmp_path, should_stop=lambda: True)
    assert run.results == [] and not run.finished  # a stopped run returns what it finished: nothing


def test_bias_sweep_finds_a_known_shift():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(5000, 10, generator=g, dtype=torch.float64) * 2
    labels = true.argmax(-1)
    seen = true.clone()
    seen[:, 3] -= 2.0  # class 3 under-predicted by exactly 2
    sweep = probes.bias_sweep(seen, labels, 3, np.arange(0.0, 5.01, 0.25))
    assert probes.best_shift(sweep) == 2.0
    assert sweep.loc[sweep["shift"] == 2.0, "errors"].item() == 0
    assert sweep.loc[0, "class_errors"] > 0 and sweep.loc[0, "class_total"] == int((labels == 3).sum())
    # several classes at once, negative shifts (the 7s-and-8s experiment)
    seen = true.clone()
    seen[:, [7, 8]] += 1.5
    assert probes.best_shift(probes.bias_sweep(seen, labels, (7, 8), np.arange(0.0, -4.01, -0.5))) == -1.5


def test_best_shift_prefers_the_smallest_shift_on_ties():
    df = pd.DataFrame({"shift": [-1.0, 0.0, 1.0, 2.0], "errors": [5, 3, 3, 4]})
    assert probes.best_shift(df) == 0.0


def test_matching_logits_cosine_climbs_to_one():
    g = torch.Generator().manual_seed(1)
    z, v = torch.randn(500, 10, generator=g), torch.randn(500, 10, generator=g) * 3
    z, v = z - z.mean(1, keepdim=True), v - v.mean(1, keepdim=True)
    df = probes.matching_logits_cosine(z, v, [1, 3, 10, 100])
    assert list(df["T"]) == [1, 3, 10, 100]
    assert df["cosine"].is_monotonic_increasing and df["cosine"].iloc[0] < 0.95
    assert df["cosine"].iloc[-1] > 0.99 and abs(df["scale"].iloc[-1] - 1) < 0.05


def test_recipe_table_is_readable():
    table = R.recipe_table(R.QUICK)
    assert list(table.columns) == ["setting", "value"]
    values = dict(zip(table["setting"], table["value"]))
    assert values["teacher"] == "the paper teacher shipped with kdviz"
    assert values["T sweep: big student"] == "300-300" and values["training images"] == "all"
    assert not any("(" in v and "=" in v for v in values.values()), "no dataclass reprs"
    assert values["ensemble: each member"].startswith("MLP 800-800, 8 epochs")
    full = dict(R.recipe_table(R.FULL).values.tolist())
    assert (
        full["ensemble: each member"].startswith("MLP 1200-1200")
        and "jitter 2 px" in full["ensemble: each member"]
    )


def test_time_estimates_and_their_wording():
    estimate = timing.estimated_seconds
    assert estimate("quick", list(E.EXPERIMENTS), "cuda") is None  # not measured there
    assert estimate("quick", E.DEFAULT, "cpu") < 900  # the paper's six: minutes on a laptop, not an hour
    assert set(timing.CPU_SECONDS["quick"]) == set(timing.CPU_SECONDS["full"]) == set(E.EXPERIMENTS)
    for name in E.EXPERIMENTS:  # the full preset trains longer than the quick one, everywhere
        assert estimate("full", [name], "cpu") > estimate("quick", [name], "cpu")
    assert estimate("full", ["main"], "cpu") > estimate("quick", ["main"], "cpu")
    assert timing.describe_seconds(42) == "42 s" and timing.describe_seconds(600) == "10 min"
    assert timing.describe_seconds(7200) == "2 h 0 min"


def test_result_figures_label_the_values_that_were_run():
    from kdviz import plots

    df = pd.DataFrame(
        {"images": [300, 1000, 3000] * 2, "errors": [9, 5, 3, 7, 4, 2], "student": ["a"] * 3 + ["b"] * 3}
    )
    fig = plots.grouped_lines(df, "images", "errors", "student", "Few labels", "images", "errors", log_x=True)
    assert [t.name for t in fig.data] == ["a", "b"] and list(fig.data[1].y) == [7, 4, 2]
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.ticktext) == ["300", "1000", "3000"]
    curve = pd.DataFrame({"shift": [0.0, 1.0], "errors": [20, 10], "class_errors": [8, 1]})
    sweep = plots.bias_sweep(curve, 10000)
    assert [list(t.y) for t in sweep.data] == [[20, 10], [8, 1]]
    assert sweep.layout.yaxis.title.text == "test errors (of 10,000)"


def test_each_view_adds_a_fair_pair_trained_on_the_same_views_and_schedule(tiny_data, tmp_path):
    teacher = ensure_teacher(R.TINY.teacher, tiny_data, tmp_path)
    calls = []
    real = teacher.logits

    def counted(x):
        calls.append(len(x))
        return real(x)

    teacher.logits = counted
    s = replace(R.TINY, seeds=2, views=(0.0, 34.0))
    result = E.main_table(Bench.of(tiny_data, teacher, s))
    students = result.rows[1:]
    assert [r["views"] for r in students] == ["plain images"] * 2 + ["2-px jitter"] * 2 + [
        "2-px jitter + elastic 34"
    ] * 2
    labels, taught = students[4], students[5]
    assert "labels only" in labels["what"] and "taught consistently" in taught["what"]
    # the fair pair: same views, same schedule, read from the result; the same schedule as the paper's pair
    assert (
        labels["schedule"]
        == taught["schedule"]
        == students[0]["schedule"]
        == "adam 0.003, 1 epochs, batch 64"
    )
    assert all(len(r["seeds"]) == 2 for r in students)
    # the teacher: once for the plain images, 25 shifts once, then live on each elastic batch of each seed
    n = len(tiny_data.train_y)
    batches = [min(s.batch_size, n - i) for i in range(0, n, s.batch_size)] * s.epochs
    assert calls == [n] * 26 + batches * s.seeds
    assert len(result.checks) == 3 and "2-px jitter + elastic 34" in result.checks[2]["effect"]
    assert any("teacher's own views (2-px jitter + elastic 34)" in n for n in result.notes)
    assert [m["model"] for m in result.models][-2:] == [
        "student, on 2-px jitter + elastic 34, labels only",
        "student, on 2-px jitter + elastic 34, consistent teaching",
    ]


def test_the_full_presets_main_table_has_a_fair_pair_on_the_shipped_teachers_own_views(tiny_data, tmp_path):
    from kdviz.shipped import read_card
    from kdviz.teacher import TeacherSpec

    learnt_on = TeacherSpec(**read_card()["spec"]).start_from.elastic  # the shipped teacher's views
    teacher = ensure_teacher(R.TINY.teacher, tiny_data, tmp_path)
    s = replace(R.FULL, student=(16,), epochs=2, seeds=1)  # FULL's pairs and schedule, small and short
    rows = E.main_table(Bench.of(tiny_data, teacher, s)).rows
    fair = [r for r in rows if r.get("views") == E.view_name(learnt_on)]
    assert len(fair) == 2 and "labels only" in fair[0]["what"] and "consistently" in fair[1]["what"]
    assert (
        fair[0]["schedule"] == fair[1]["schedule"] == rows[1]["schedule"] == "sgd 0.05, 2 epochs, batch 128"
    )


def test_a_run_cut_off_skips_its_finished_fits_and_resumes_the_cut_one_bit_for_bit(
    tiny_data, tmp_path, monkeypatch
):
    import kdviz.bench as B

    monkeypatch.setattr(B, "SAVE_EVERY", 0.0)  # a snapshot after every epoch
    teacher = ensure_teacher(R.TINY.teacher, tiny_data, tmp_path)
    s = replace(R.TINY, seeds=2, epochs=3, views=(0.0,))  # 4 fits of 3 epochs
    whole = E.main_table(Bench.of(tiny_data, teacher, s))
    epochs = []

    def count(ev):
        epochs.append(ev.epoch) if ev.kind == "epoch" else None

    cut = Bench.of(tiny_data, teacher, s, lambda: len(epochs) >= 5, count, tmp_path / "fits")
    with pytest.raises(Stopped):  # in the 2nd fit, after its 2nd epoch
        E.main_table(cut)
    assert epochs == [1, 2, 3, 1, 2] and len(list((tmp_path / "fits").glob("fit-*.pt"))) == 2
    epochs.clear()
    again = Bench.of(tiny_data, teacher, s, on_progress=count, saves=tmp_path / "fits")
    resumed = E.main_table(again)
    assert epochs == [3, 1, 2, 3, 1, 2, 3]  # fit 1 read back, fit 2 from its 3rd epoch, fits 3-4 whole
    assert resumed.rows == whole.rows
    pd.testing.assert_frame_equal(resumed.curve, whole.curve)  # the epochs before the cut were kept
    assert whole.curve["epoch"].max() == 3 and "teacher" in set(whole.curve["student"])
    again.forget()
    assert not list((tmp_path / "fits").glob("fit-*"))
    (tmp_path / "fits" / "fit-x.pt").write_bytes(b"not ours")
    assert B._load(tmp_path / "fits" / "fit-x.pt") is None


def test_the_small_students_sweep_runs_over_seeds_and_calls_a_best_t_only_beyond_their_spread(
    tiny_data, tmp_path
):
    teacher = ensure_teacher(R.TINY.teacher, tiny_data, tmp_path)
    s = replace(R.TINY, small_seeds=3)
    bench = Bench.of(tiny_data, teacher, s)
    found = E.temperature_sweep(bench)
    small = found.curve[found.curve["student"] == shape_name(s.small)].set_index("T")
    assert list(small.index) == list(s.sweep_Ts) and (small["sd"] > 0).any()
    # each point is the mean of 3 seeds, each seed as it trains alone
    cfg = s.config(s.small_epochs, s.sweep_size)
    alone = [
        bench.fit(s.small, (1.0,), (s.alpha,), cfg, inits=[s.seed + j])[1].test_errors[0] for j in range(3)
    ]
    assert small.loc[1.0, "errors"] == pytest.approx(np.mean(alone)) and small.loc[
        1.0, "sd"
    ] == pytest.approx(np.std(alone, ddof=1))
    best = small["errors"].idxmin()
    hot = small[small.index >= 8]["errors"].idxmin()
    lead, spread = small.loc[hot, "errors"] - small.loc[best, "errors"], max(small.loc[[hot, best], "sd"])
    assert found.checks[0]["holds"] == (2 <= best <= 4 and lead > spread)
    assert f"leads every T >= 8 by {lead:.1f} errors" in found.notes[0] and f"{spread:.1f}" in found.notes[0]
    cold = small.loc[1.0, "errors"] - small.loc[best, "errors"]
    assert best == 1.0 or f"leads T = 1 by {cold:.1f} errors" in found.notes[1]
    assert found.setup["small seeds"] == 3


def test_the_kinds_of_knowledge_race_each_kind_over_seeds_and_judge_each_by_the_spread(tiny_run):
    _data, results, _names = tiny_run
    r = next(r for r in results if r.name == "knowledge")
    kinds = ["labels only", "the teacher's logits", "a hint (hidden layer)"]
    kinds += ["relations between images", "a peer (mutual learning)"]
    assert [row["what"] for row in r.rows] == [f"{k}: test errors" for k in kinds]
    assert all(len(row["seeds"]) == R.TINY.knowledge_seeds for row in r.rows)
    mean = [row["this run"] for row in r.rows]
    sd = [np.std(row["seeds"], ddof=1) for row in r.rows]
    assert [c["holds"] for c in r.checks] == [mean[0] - mean[j] > max(sd[0], sd[j]) for j in range(1, 5)]
    assert len(r.notes) == 6 and "against the teacher's logits" in r.notes[1]
    assert r.setup["hint projection (training only)"] == "16 x 32"  # TINY's student and teacher


def test_the_fair_note_says_what_the_teachers_own_views_show_whichever_way():
    won = E.fair_note("2-px jitter + elastic 34", 70.0, 60.0, 140.0, 80.0)
    assert "worth 10.0 errors there, against 60.0 on plain images" in won
    lost = E.fair_note("2-px jitter + elastic 34", 60.0, 62.0, 140.0, 80.0)
    assert "no gain from the teacher there" in lost and "60.0 errors distillation saves" in lost


def test_the_full_preset_trains_the_main_tables_students_with_sgd(tiny_data, tmp_path):
    full, quick = R.FULL.main_config(), R.QUICK.main_config()
    assert (full.optimizer, full.lr, full.warmup, full.epochs) == ("sgd", 0.05, 1, R.FULL.epochs)
    assert (quick.optimizer, quick.lr, quick.warmup) == ("adam", R.QUICK.lr, 0)
    assert R.FULL.config(100, 3000).optimizer == "adam"  # few images: SGD's warm-up is a few steps
    assert replace(R.TINY, main_optimizer="sgd", epochs=1).main_config().warmup == 0  # room to train
    with pytest.raises(ValueError, match="optimizer"):
        replace(R.TINY, main_optimizer="rmsprop").main_config()
    teacher = ensure_teacher(R.TINY.teacher, tiny_data, tmp_path)
    adam = E.main_table(Bench.of(tiny_data, teacher, replace(R.TINY, seeds=1, views=())))
    sgd_recipe = replace(R.TINY, seeds=1, views=(), main_optimizer="sgd")
    sgd = E.main_table(Bench.of(tiny_data, teacher, sgd_recipe))
    assert adam.setup["optimizer"] == f"adam {R.TINY.lr:g}" and sgd.setup["optimizer"] == "sgd 0.05"
    assert adam.rows[1:] != sgd.rows[1:]  # a different optimizer trains different students
    table = dict(R.recipe_table(R.FULL).values.tolist())
    assert table[R.RECIPE_LABELS["main_optimizer"]] == "sgd" and table[R.RECIPE_LABELS["main_lr"]] == "0.05"


def test_an_experiments_run_says_which_step_it_is_on_and_what_is_left_in_all():
    from kdviz import runs
    from kdviz.timing import CPU_SECONDS

    run = runs.ExperimentsRun("quick", ("main", "omit3", "temperature"))
    assert run.number == 0 and run.seconds_left(10.0, "cpu") == 10.0 + sum(
        CPU_SECONDS["quick"][n] for n in ("main", "omit3", "temperature")
    )
    run.current = "omit3"
    assert run.number == 2 and run.seconds_left(10.0, "cpu") == 10.0 + CPU_SECONDS["quick"]["temperature"]
    assert run.seconds_left(10.0, "cuda") is None and run.seconds_left(float("nan"), "cpu") is None


def test_fits_are_tested_a_few_times_but_the_main_table_after_every_epoch():
    """A test pass costs many steps; only the main table draws a curve epoch by epoch."""
    for epochs in (1, 3, 20, 30, 100):
        cfg = R.QUICK.config(epochs)
        passes = len([e for e in range(1, epochs + 1) if e % cfg.eval_every == 0 or e == epochs])
        assert 1 <= passes <= R.TESTS
    assert R.QUICK.main_config().eval_every == 1 and R.FULL.main_config().eval_every == 1
