"""kdviz.targets (what a distilled student learns from) and kdviz.control (the stop protocol)."""

import pytest
import torch

from kdviz import shifts
from kdviz.control import Stopped
from kdviz.jobs import JobQueue
from kdviz.models import StackedMLP
from kdviz.targets import Cached, Live, PerShift
from kdviz.train import TrainConfig, run_to_end, train
from tests.core.test_jobs import wait_for


def test_each_kind_answers_with_the_logits_of_the_batch_it_is_shown():
    logits = torch.arange(60.0).view(6, 10)
    idx = torch.tensor([1, 3, 5])  # the transfer set: three of the six images
    rows = torch.tensor([2, 0])  # a batch: rows of the transfer set
    cached = Cached(logits).subset(idx, "cpu")
    assert torch.equal(cached.batch(rows, None, None), logits[[5, 1]])
    per_shift = torch.arange(6 * 9 * 10.0).view(6, 9, 10)  # 9 shifts: jitter 1
    moved = torch.tensor([4, 7])
    assert torch.equal(
        PerShift(per_shift).subset(idx, "cpu").batch(rows, moved, None), per_shift[[5, 1], [4, 7]]
    )
    x = torch.randn(2, 784)
    assert torch.equal(Live(lambda images: images[:, :10] * 2).batch(rows, moved, x), x[:, :10] * 2)


def test_a_kind_refuses_what_would_teach_from_the_wrong_view():
    with pytest.raises(ValueError, match="images, classes"):
        Cached(torch.zeros(4, 3, 10))
    with pytest.raises(ValueError, match="images, shifts, classes"):
        PerShift(torch.zeros(4, 10))
    per_shift = PerShift(torch.zeros(4, shifts.count(2), 10))
    per_shift.check(TrainConfig(jitter=2))  # fits
    for cfg, words in ((TrainConfig(jitter=1), "jitter 1"), (TrainConfig(), "no shifts")):
        with pytest.raises(ValueError, match=words):
            per_shift.check(cfg)
    with pytest.raises(ValueError, match="distortions"):
        per_shift.check(TrainConfig(jitter=2, elastic=34.0))


def test_a_run_that_nobody_listens_to_never_asks_the_teacher(tiny_data):
    asked = []

    def teacher(x):
        asked.append(len(x))
        return torch.zeros(len(x), 10)

    run_to_end(train(StackedMLP((8,)), tiny_data, TrainConfig(epochs=1), (4.0,), (0.0,), Live(teacher)))
    assert asked == []  # alpha = 0: labels only
    run_to_end(train(StackedMLP((8,)), tiny_data, TrainConfig(epochs=1), (4.0,), (0.5,), Live(teacher)))
    assert sum(asked) == len(tiny_data.train_y)


def test_run_to_end_says_stopped_one_way(tiny_data):
    def stop_after(n):
        calls = []
        return lambda: calls.append(1) or len(calls) > n

    with pytest.raises(Stopped):  # before the first epoch ended
        run_to_end(train(StackedMLP((8,)), tiny_data, TrainConfig(epochs=2), should_stop=stop_after(0)))
    steps = -(-len(tiny_data.train_y) // 64)
    cfg = TrainConfig(epochs=2, batch_size=64)
    last = run_to_end(train(StackedMLP((8,)), tiny_data, cfg, should_stop=stop_after(steps + 1)))
    assert last.epoch == 1  # a partial run is returned when it has something ...
    with pytest.raises(Stopped):  # ... unless the caller needs the whole run
        run_to_end(train(StackedMLP((8,)), tiny_data, cfg, should_stop=stop_after(steps + 1)), whole=True)


def test_a_job_that_raises_stopped_ends_stopped_not_failed():
    def work(job):
        raise Stopped

    q = JobQueue()
    job = q.submit("a", "a", work)
    assert wait_for(job) and job.status == "stopped" and job.error == "" and job.result is None
