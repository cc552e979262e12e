import threading
import time

from kdviz.jobs import JobQueue


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

    def loop(job):
        while not job.should_stop():
            time.sleep(0.01)
        return "partial"

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
