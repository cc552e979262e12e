import io
import os
import pickle

import pytest
import torch

from kdviz.control import Stopped
from kdviz.teacher import (
    CheckpointError,
    Teacher,
    TeacherSpec,
    cached_teachers,
    checkpoint_path,
    ensure_teacher,
    load_teacher,
    save_teacher,
)

SPEC = TeacherSpec(hidden=(32,), dropout=0.1, input_dropout=0.0, jitter=1, epochs=2, batch_size=64)


def count_progress():
    seen = []
    return seen, seen.append


def test_cache_round_trip_and_second_call_loads(tiny_data, tmp_path):
    seen, on_progress = count_progress()
    first = ensure_teacher(SPEC, tiny_data, tmp_path, on_progress=on_progress)
    assert first is not None and seen, "the first call trains"
    path = checkpoint_path(SPEC, tmp_path)
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    seen2, on_progress2 = count_progress()
    again = ensure_teacher(SPEC, tiny_data, tmp_path, on_progress=on_progress2)
    assert not seen2, "the second call loads from the cache"
    assert again.spec == SPEC and again.test_errors == first.test_errors
    x = tiny_data.test_x
    assert torch.allclose(again.logits(x), first.logits(x))
    assert [s for _, s, _ in cached_teachers(tmp_path)] == [SPEC]


def test_spec_key_depends_on_every_field():
    assert SPEC.key != TeacherSpec(**{**SPEC.__dict__, "seed": 1}).key
    assert SPEC.key == TeacherSpec(**SPEC.__dict__).key


def test_failed_write_leaves_old_file_and_no_temp(tiny_data, tmp_path):
    teacher = ensure_teacher(SPEC, tiny_data, tmp_path)
    path = checkpoint_path(SPEC, tmp_path)
    before = path.read_bytes()

    def disk_full(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    with pytest.raises(ValueError, match="No space left"):
        save_teacher(teacher, path, writer=disk_full)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, path.with_suffix(".lock").name]
    )


def test_unwritable_cache_still_gives_a_teacher(tiny_data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    teacher = ensure_teacher(SPEC, tiny_data, blocker / "cache")
    assert teacher is not None and "cannot write" in teacher.note


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/kdviz-pwned",))


@pytest.mark.parametrize("kind", ["pickle", "garbage", "plain-dict", "wrong-version", "bad-state", "empty"])
def test_foreign_checkpoints_are_refused(tiny_data, tmp_path, kind):
    path = tmp_path / "teacher-x.pt"
    good = ensure_teacher(SPEC, tiny_data, tmp_path / "c")
    if kind == "pickle":
        buf = io.BytesIO()
        torch.save({"format": "kdviz-teacher", "evil": Evil()}, buf)
        path.write_bytes(buf.getvalue())
    elif kind == "garbage":
        path.write_bytes(os.urandom(300))
    elif kind == "plain-dict":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "wrong-version":
        save_teacher(good, path)
        blob = torch.load(path, weights_only=True)
        torch.save({**blob, "version": 99}, path)
    elif kind == "bad-state":
        save_teacher(good, path)
        blob = torch.load(path, weights_only=True)
        torch.save({**blob, "state": {"weights.0": torch.zeros(2)}}, path)
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError):
        load_teacher(path)
    assert not os.path.exists("/tmp/kdviz-pwned")


def test_damaged_cache_entry_is_reported_and_retrain_replaces_it(tiny_data, tmp_path):
    path = checkpoint_path(SPEC, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"not": "ours"}))
    assert cached_teachers(tmp_path)[0][1] is None
    with pytest.raises(CheckpointError):
        ensure_teacher(SPEC, tiny_data, tmp_path)
    assert isinstance(ensure_teacher(SPEC, tiny_data, tmp_path, retrain=True), Teacher)
    assert load_teacher(path).spec == SPEC


def test_stopped_training_saves_nothing(tiny_data, tmp_path):
    with pytest.raises(Stopped):
        ensure_teacher(SPEC, tiny_data, tmp_path, should_stop=lambda: True)
    assert not checkpoint_path(SPEC, tmp_path).exists()


@pytest.mark.parametrize("bad", [dict(dropout=1.0), dict(hidden=(0,)), dict(epochs=0), dict(jitter=9)])
def test_bad_spec(bad):
    with pytest.raises(ValueError):
        TeacherSpec(**bad)


def test_stopped_run_resumes_to_the_same_weights_as_an_unbroken_run(tiny_data, tmp_path):
    spec = TeacherSpec(
        hidden=(32,),
        dropout=0.3,
        input_dropout=0.1,
        jitter=2,
        max_norm=2.0,
        epochs=6,
        batch_size=64,
        lr=0.05,
        optimizer="sgd",
        warmup=1,
    )
    unbroken = ensure_teacher(spec, tiny_data, tmp_path / "a")

    epochs_seen = []

    def stop_in_epoch_six():
        return len(epochs_seen) >= 5  # asked before each batch: stops early in epoch 6

    def record(ev):
        if ev.kind == "epoch":
            epochs_seen.append(ev.epoch)

    with pytest.raises(Stopped):
        ensure_teacher(
            spec,
            tiny_data,
            tmp_path / "b",
            on_progress=record,
            should_stop=stop_in_epoch_six,
            checkpoint_every=2,
        )
    assert epochs_seen == [1, 2, 3, 4, 5]
    partial = checkpoint_path(spec, tmp_path / "b").with_suffix(".partial.pt")
    assert partial.exists(), "a stopped run leaves its state to resume from"

    resumed_epochs = []
    resumed = ensure_teacher(
        spec,
        tiny_data,
        tmp_path / "b",
        on_progress=lambda ev: ev.kind == "epoch" and resumed_epochs.append(ev.epoch),
    )
    assert resumed_epochs == [5, 6], "continues from the last save (epoch 4), not from scratch"
    assert not partial.exists()
    assert resumed.test_errors == unbroken.test_errors
    for a, b in zip(resumed.model.state_dict().values(), unbroken.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_partial_state_of_another_spec_or_damaged_is_ignored(tiny_data, tmp_path):
    partial = checkpoint_path(SPEC, tmp_path).with_suffix(".partial.pt")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"not a checkpoint")
    assert ensure_teacher(SPEC, tiny_data, tmp_path) is not None, "a damaged partial run restarts"


def test_cache_files_are_readable_by_other_accounts_and_partials_are_not_teachers(tiny_data, tmp_path):
    import stat

    from kdviz.teacher import checkpoints, save_partial

    ensure_teacher(SPEC, tiny_data, tmp_path)
    path = checkpoint_path(SPEC, tmp_path)
    # mkstemp creates 0600 files: a cache shared by two accounts read "not a readable checkpoint"
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044
    save_partial(path.with_name("teacher-other.partial.pt"), SPEC, {"epoch": 1})
    assert [p for p, _ in checkpoints(tmp_path)] == [path]


def test_listing_survives_a_file_vanishing_during_the_scan(tiny_data, tmp_path, monkeypatch):
    from pathlib import Path

    from kdviz.teacher import checkpoints

    ensure_teacher(SPEC, tiny_data, tmp_path)
    path = checkpoint_path(SPEC, tmp_path)
    real_stat = Path.stat

    def racing_stat(self, *a, **k):
        if self == path:  # another session's "Retrain it" renamed it after the listing
            raise FileNotFoundError(self)
        return real_stat(self, *a, **k)

    monkeypatch.setattr(Path, "stat", racing_stat)
    assert checkpoints(tmp_path) == []


POLISH = TeacherSpec(
    hidden=(32,), dropout=0.0, input_dropout=0.0, jitter=0, epochs=1, batch_size=64, start_from=SPEC
)


def test_a_second_stage_trains_on_from_the_cached_first_stage(tiny_data, tmp_path):
    first = ensure_teacher(SPEC, tiny_data, tmp_path)
    stamp = checkpoint_path(SPEC, tmp_path).stat().st_mtime_ns
    seen, on_progress = count_progress()
    second = ensure_teacher(POLISH, tiny_data, tmp_path, on_progress=on_progress)
    assert checkpoint_path(SPEC, tmp_path).stat().st_mtime_ns == stamp  # stage 1 loaded, not retrained
    assert [ev.epochs for ev in seen if ev.kind == "epoch"] == [1]  # only the polish trained
    # it started from stage 1's weights: one epoch from them is not one epoch from scratch
    alone = ensure_teacher(TeacherSpec(**{**POLISH.__dict__, "start_from": None}), tiny_data, tmp_path)
    w = lambda t: t.model.weights[0]  # noqa: E731
    assert (w(second) - w(first)).abs().mean() < (w(alone) - w(first)).abs().mean()
    assert second.seconds > first.seconds and second.spec.label == "MLP 32, 2 + 1 epochs, seed 0"
    again = load_teacher(checkpoint_path(POLISH, tmp_path))  # the nested spec survives the file
    assert again.spec == POLISH and again.spec.start_from == SPEC


def test_a_two_stage_spec_trains_both_when_nothing_is_cached(tiny_data, tmp_path):
    seen, on_progress = count_progress()
    teacher = ensure_teacher(POLISH, tiny_data, tmp_path, on_progress=on_progress)
    assert teacher is not None and checkpoint_path(SPEC, tmp_path).exists()
    assert [ev.epochs for ev in seen if ev.kind == "epoch"] == [2, 2, 1]
    assert POLISH.key != TeacherSpec(**{**POLISH.__dict__, "start_from": None}).key
    with pytest.raises(ValueError, match="shape"):
        TeacherSpec(hidden=(16,), start_from=SPEC)
