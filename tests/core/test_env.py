"""kdviz.env (every KDVIZ_* variable, classroom limits), kdviz.runs (where runs start) and links."""

from pathlib import Path

import pytest
import torch

from kdviz import env, runs
from kdviz.cli import main
from kdviz.control import Stopped
from kdviz.distill import DistillConfig
from kdviz.env import CLASSROOM, OPEN, EnvError, LimitError
from kdviz.links import decode_list, encode_list
from kdviz.train import transfer_indices


def test_defaults_with_no_variables(monkeypatch):
    s = env.current({})
    assert s.data_dir is None and s.cache_dir == Path.home() / ".cache" / "kdviz"
    assert s.mnist_dir == s.cache_dir and not s.classroom and s.limits is OPEN
    assert s.max_runs_for("cpu") == 1 and s.max_runs_for("cuda") == 3
    assert s.threads_for(2) == 2 and s.experiments_preset == "quick"


def test_values_are_read(tmp_path):
    s = env.current(
        {
            "KDVIZ_DATA_DIR": str(tmp_path),
            "KDVIZ_CLASSROOM": "yes",
            "KDVIZ_MAX_RUNS": "2",
            "KDVIZ_TRAIN_THREADS": "3",
            "KDVIZ_EXPERIMENTS_PRESET": "tiny",
            "OTHER": "ignored",
        }
    )
    assert s.mnist_dir == tmp_path and s.classroom and s.limits is CLASSROOM
    assert s.max_runs_for("cpu") == s.max_runs_for("cuda") == 2 and s.threads_for(16) == 3
    assert env.current({"KDVIZ_CLASSROOM": "1"}).threads_for(2) == 1  # a core left to the pages


@pytest.mark.parametrize(
    "name, value",
    [
        ("KDVIZ_MAX_RUNS", "abc"),
        ("KDVIZ_MAX_RUNS", "0"),
        ("KDVIZ_TRAIN_THREADS", "-2"),
        ("KDVIZ_TRAIN_THREADS", "1.5"),
        ("KDVIZ_CLASSROOM", "maybe"),
        ("KDVIZ_EXPERIMENTS_PRESET", "huge"),
        ("KDVIZ_HISTORY_URL", "mysql://root:hunter2@db/kdviz"),
        ("KDVIZ_HISTORY_URL", "runs.sqlite"),
    ],
)
def test_a_malformed_variable_names_itself(name, value):
    with pytest.raises(EnvError, match=name) as e:
        env.current({name: value})
    assert "hunter2" not in str(e.value)  # a password is never echoed


def test_the_class_history_is_a_file_here_or_the_shared_database(tmp_path):
    here = env.current({"KDVIZ_CACHE_DIR": str(tmp_path)})
    assert here.history_where == str(tmp_path / "runs.sqlite")
    assert here.lessons_where == str(tmp_path / "lessons.sqlite")
    url = "postgresql://kdviz:secret@db.school/kdviz"
    shared = env.current({"KDVIZ_CACHE_DIR": str(tmp_path), "KDVIZ_HISTORY_URL": url})
    assert shared.history_where == shared.lessons_where == url and "secret" not in repr(shared)


def test_a_file_given_as_a_folder_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(EnvError, match="KDVIZ_CACHE_DIR"):
        env.current({"KDVIZ_CACHE_DIR": str(f)})


def test_cli_reports_a_malformed_variable_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("KDVIZ_MAX_RUNS", "abc")
    assert main(["distill", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "KDVIZ_MAX_RUNS" in err and "Traceback" not in err


# --- classroom limits, enforced where runs start ---------------------------------------------------
def test_classroom_limits_refuse_big_runs(tiny_data):
    logits = torch.randn(len(tiny_data.train_y), 10)
    with pytest.raises(LimitError, match="300 units"):
        runs.lab(tiny_data, logits, 0, DistillConfig(hidden=(800, 800), epochs=1), limits=CLASSROOM)
    with pytest.raises(LimitError, match="epochs"):
        runs.lab(tiny_data, logits, 0, DistillConfig(hidden=(30,), epochs=50), limits=CLASSROOM)
    with pytest.raises(LimitError, match="full"):
        CLASSROOM.check_preset("experiments", "full")
    with pytest.raises(LimitError, match="experiments"):
        runs.experiments(runs.ExperimentsRun("full", ("main",)), tiny_data, limits=CLASSROOM)
    with pytest.raises(LimitError, match="teacher"):
        runs.teacher(tiny_data, "paper", limits=CLASSROOM)
    OPEN.check_preset("experiments", "full")  # no limits otherwise


def test_classroom_limits_reach_the_cli(monkeypatch, capsys, tiny_dir):
    monkeypatch.setenv("KDVIZ_CLASSROOM", "1")
    assert main(["reproduce", "--full", "--only", "main", "--data-dir", str(tiny_dir)]) == 2
    assert "Classroom mode" in capsys.readouterr().err


# --- runs ----------------------------------------------------------------------------------------
def test_lab_run_counts_the_images_it_trained_on(tiny_data):
    cfg = DistillConfig(hidden=(16,), epochs=1, train_size=100, omit=(3,))
    logits = torch.randn(len(tiny_data.train_y), 10)
    seen = []
    result = runs.lab(tiny_data, logits, 7, cfg, on_progress=seen.append)
    threes = int((tiny_data.train_y[:100] == 3).sum())
    assert threes > 0 and result.images == 100 - threes == len(transfer_indices(tiny_data.train_y, 100, (3,)))
    assert [r["images"] for r in result.rows()] == [result.images] * 2 and result.teacher_errors == 7
    assert result.gains() == [0, result.labels_only - result.errors[1]]
    assert seen and seen[-1].kind == "epoch" and seen[-1].test_errors == result.errors


def test_lab_run_stopped_at_once_returns_none(tiny_data):
    logits = torch.randn(len(tiny_data.train_y), 10)
    with pytest.raises(Stopped):
        runs.lab(tiny_data, logits, 0, DistillConfig(hidden=(16,)), should_stop=lambda: True)


def test_experiments_run_checks_names_before_any_work():
    with pytest.raises(ValueError, match="bogus"):
        runs.ExperimentsRun("quick", ("main", "bogus"))
    with pytest.raises(ValueError, match="preset"):
        runs.ExperimentsRun("huge")
    assert runs.ExperimentsRun("quick", ("omit3", "main")).only == ("main", "omit3")  # the paper's order


# --- lists in links --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "items", [["dog", "cat"], ["a, b", "c"], ['"q"', "[x]"], ["[", "b"], ["ünï", "코드"]]
)
def test_lists_survive_the_link_round_trip(items):
    assert decode_list(encode_list(items)) == items


def test_typed_lists_read_as_a_person_writes_them():
    assert encode_list(["dog", "cat"]) == "dog,cat" and decode_list("dog, cat") == ["dog", "cat"]
    with pytest.raises(ValueError):
        decode_list('["broken"')


def test_an_experiments_run_says_when_each_experiment_starts(tiny_data, tmp_path):
    """The page's progress line starts afresh for each experiment (not at the last one's
    "epoch 20 of 20" under the next one's name): it learns of each start through on_step."""
    run = runs.ExperimentsRun("tiny", ("main", "omit3"))
    steps = []
    runs.experiments(run, tiny_data, tmp_path, on_step=lambda r: steps.append((r.current, len(r.results))))
    assert steps == [("teacher", 0), ("main", 0), ("main", 1), ("omit3", 1), ("omit3", 2)]
    assert run.finished and run.current == "" and [r.name for r in run.results] == ["main", "omit3"]
