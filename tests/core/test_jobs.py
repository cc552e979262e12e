import threading
import time

import pytest

from kdviz.jobs import JobQueue


def loop(job):
    """A run that goes on until it is asked to stop, then returns what it has."""
    while not job.should_stop():
        time.sleep(0.01)
    return "partial"


def wait_for(job, timeout=5.0):
    end = time.monotonic() + timeout
    while not job.finished and time.monotonic() < end:
        time.sleep(0.01)
    return job.finished


def test_runs_one_at_a_time_in_order_and_counts_the_runs_ahead():
    q = JobQueue(max_running=1)
    gate = threading.Event()
    running = []

    def work(tag):
        def fn(job):
            running.append(tag)
            gate.wait(5)
            return tag

        return fn

    a, b, c = (q.submit(t, t, work(t)) for t in "abc")
    time.sleep(0.05)
    # b waits behind the running a (not "0 runs ahead"), c behind both
    assert running == ["a"] and q.ahead(a) == 0 and q.ahead(b) == 1 and q.ahead(c) == 2
    gate.set()
    assert all(wait_for(j) for j in (a, b, c))
    assert running == ["a", "b", "c"] and c.result == "c" and c.status == "done"


def test_identical_requests_share_one_job():
    q = JobQueue()
    gate = threading.Event()
    calls = []

    def fn(job):
        calls.append(1)
        gate.wait(5)

    first = q.submit("teacher:abc", "t", fn)
    second = q.submit("teacher:abc", "t", fn)
    assert first is second
    gate.set()
    wait_for(first)
    assert calls == [1]


def test_cancel_queued_and_stop_running():
    q = JobQueue(max_running=1)

    running = q.submit("a", "a", loop)
    queued = q.submit("b", "b", loop)
    q.cancel(queued)
    assert queued.status == "stopped"
    running.stop()
    assert wait_for(running) and running.status == "stopped" and running.result == "partial"


def test_failure_is_reported_and_queue_moves_on():
    q = JobQueue(max_running=1)

    def boom(job):
        raise ValueError("alpha must be a number in [0, 1]")

    bad = q.submit("bad", "bad", boom)
    good = q.submit("good", "good", lambda job: 42)
    assert wait_for(bad) and wait_for(good)
    assert bad.status == "failed" and "alpha" in bad.error and good.result == 42


def test_unwatched_job_stops_itself():
    q = JobQueue(abandon_after=0.1)

    def loop(job):
        while not job.should_stop():
            time.sleep(0.01)

    job = q.submit("x", "x", loop)
    assert wait_for(job, 3) and job.status == "stopped"


def test_out_of_memory_is_reported_not_hung():
    q = JobQueue()

    def oom(job):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    job = q.submit("big", "big", oom)
    assert wait_for(job) and job.status == "failed"
    assert "Out of memory" in job.error and "smaller" in job.error


def test_any_error_fails_the_job_and_the_queue_moves_on():
    q = JobQueue(max_running=1)

    def bail(job):
        raise SystemExit(3)  # not an Exception: it used to leave the job "running" for good

    bad = q.submit("bad", "bad", bail)
    after = q.submit("after", "after", lambda job: "ran")
    assert wait_for(bad) and wait_for(after)
    assert bad.status == "failed" and "SystemExit" in bad.error
    assert after.result == "ran"


def test_status_changes_under_the_lock_and_a_finished_job_is_never_handed_back():
    q = JobQueue(max_running=1)
    gate = threading.Event()
    job = q.submit("k", "k", lambda job: gate.wait(5))
    time.sleep(0.05)
    with q._lock:  # the job's function returns while the queue is busy
        gate.set()
        time.sleep(0.1)
        assert job.status == "running"  # not "done" while it is still listed as running
    assert wait_for(job) and job.status == "done"
    again = q.submit("k", "k", lambda job: "second")
    assert again is not job and wait_for(again) and again.result == "second"


def test_waiting_jobs_of_one_key_start_as_one_run_and_each_gets_its_result():
    from kdviz.jobs import Together

    q = JobQueue(max_running=1)
    gate, runs_seen = threading.Event(), []

    def blocker(job):
        gate.wait(5)

    def run(jobs):
        runs_seen.append([j.details for j in jobs])
        return [f"result {j.details}" for j in jobs]

    pool = Together("setup A", run, lambda jobs: 10.0)
    other = Together("setup B", run, lambda jobs: 10.0)
    first = q.submit("x", "x", blocker)
    a1 = q.submit("a1", "s", lambda j: None, details=1, together=pool)
    b = q.submit("b", "s", lambda j: None, details=2, together=other)
    a2 = q.submit("a2", "s", lambda j: None, details=3, together=pool)
    gate.set()
    assert all(wait_for(j) for j in (first, a1, a2, b))
    assert runs_seen == [[1, 3], [2]]  # a2 joined a1, queued before b: one run for both
    assert (a1.result, a2.result, b.result) == ("result 1", "result 3", "result 2")
    assert a1.mates == a2.mates == 2 and b.mates == 1 and a1.status == a2.status == "done"


def test_a_browser_gets_one_run_of_a_kind_and_a_clear_message_for_more():

    from kdviz.jobs import Busy

    q = JobQueue(max_running=1)
    gate = threading.Event()
    mine = q.submit("r1", "students", lambda j: gate.wait(5), owner="browser 1")
    with pytest.raises(Busy, match="another tab"):
        q.submit("r2", "students", lambda j: None, owner="browser 1")
    teacher = q.submit("t", "teacher", lambda j: None, owner="browser 1")  # another kind: queued
    theirs = q.submit("r3", "students", lambda j: None, owner="browser 2")
    gate.set()
    assert all(wait_for(j) for j in (mine, teacher, theirs))
    again = q.submit("r4", "students", lambda j: None, owner="browser 1")  # the first has ended
    assert wait_for(again) and again.status == "done"


def test_the_wait_counts_what_is_left_ahead_and_a_shared_run_once():
    from kdviz.jobs import Together
    from kdviz.train import Progress

    q = JobQueue(max_running=1)
    gate = threading.Event()
    running = q.submit("x", "x", lambda j: gate.wait(5), estimate=100.0)
    time.sleep(0.05)
    running.report(Progress("step", 0, 10, 50, 100, elapsed=30.0))  # half done: 30 s left
    pool = Together("k", lambda jobs: [None] * len(jobs), lambda jobs: 20.0 + len(jobs))
    p1 = q.submit("p1", "s", lambda j: None, together=pool)
    solo = q.submit("solo", "t", lambda j: None, estimate=7.0)
    p2 = q.submit("p2", "s", lambda j: None, together=pool)
    late = q.submit("late", "u", lambda j: None, estimate=1.0)
    assert q.wait(p1) == pytest.approx(30.0)
    assert q.wait(p2) == pytest.approx(30.0)  # starts with p1
    assert q.wait(solo) == pytest.approx(30.0 + 22.0)  # the pool of p1 and p2 goes first, once
    assert q.wait(late) == pytest.approx(30.0 + 22.0 + 7.0)
    assert q.wait(running) == 0.0
    unknown = q.submit("u", "v", lambda j: None)  # no estimate: nothing after it can be timed
    assert q.wait(q.submit("w", "w", lambda j: None, estimate=1.0)) is None and unknown
    gate.set()


def test_shutdown_stops_every_run_and_waits_for_its_thread():
    q = JobQueue(max_running=1)

    running, waiting = q.submit("a", "a", loop), q.submit("b", "b", loop)
    time.sleep(0.05)
    q.shutdown(timeout=5)
    assert running.status == "stopped" and running.result == "partial" and waiting.status == "stopped"
    assert not any(t.is_alive() for t in q._threads)


def test_time_left_counts_down_between_reports():
    from kdviz.train import Progress

    q = JobQueue(max_running=1)
    gate = threading.Event()
    job = q.submit("x", "x", lambda j: gate.wait(5))
    assert job.seconds_left() is None  # nothing reported yet
    job.report(Progress("step", 0, 10, 50, 100, elapsed=0.3))  # half way after 0.3 s: 0.3 s left
    first = job.seconds_left()
    assert 0.2 < first <= 0.3
    time.sleep(0.35)  # a quiet spell (a test pass): the estimate runs down, it does not stay
    assert job.seconds_left() == 0.0 and job.seconds_elapsed() >= 0.65
    gate.set()


def test_a_run_draws_its_partial_test_first_and_flushes_denormals_in_its_thread(tiny_data):
    """The Lab's charts read `tested`: the partial-epoch point until a tested epoch comes. A training
    thread treats denormals as zero (kdviz.device.flush_denormals) before its first operation."""
    import torch

    from kdviz.models import StackedMLP
    from kdviz.train import TrainConfig, run_to_end, train

    flushed = []

    def fn(job):
        flushed.append(float(torch.tensor([1e-40]) * 1.0))
        cfg = TrainConfig(epochs=2, batch_size=32, eval_every=2, first_look=1e-9)
        return run_to_end(train(StackedMLP((16,), seed=0), tiny_data, cfg), job.report)

    job = JobQueue().submit("run", "students", fn)
    assert wait_for(job, 30) and job.status == "done"
    assert flushed == [0.0]
    assert job.partial is not None and job.partial.kind == "partial" and job.partial.at < 2
    assert job.tested == job.epochs and [ev.kind for ev in job.tested] == ["epoch"]  # the partial drops out
    job.epochs.clear()  # as the charts saw it before the first tested epoch came
    assert job.tested == [job.partial]
