"""A small job queue: training runs go through it, a few at a time, shared by key.

Sessions of the web app submit work here instead of training inside their own script
run, so a Temperature page rerun never waits for a training, a Stop button only sets
a flag, and two sessions asking for the same teacher share one training.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kdviz.control import Stopped
from kdviz.i18n import _
from kdviz.train import Progress

FINISHED = ("done", "stopped", "failed")


class Job:
    """One unit of work; `fn(job)` runs it, reporting through `job.report`."""

    def __init__(self, key: str, label: str, fn: Callable[[Job], Any], abandon_after: float | None):
        self.id, self.key, self.label, self.fn = uuid.uuid4().hex[:10], key, label, fn
        self.status = "queued"
        self.epochs: list[Progress] = []  # every "epoch" event, for the charts
        self.latest: Progress | None = None  # the newest event, for the progress bar
        self.result: Any = None
        self.error = ""
        self.queue: JobQueue | None = None  # the queue it was submitted to
        self.details: Any = None  # what it runs (e.g. its settings), for the page to show
        self._stop = threading.Event()
        self._abandon_after = abandon_after
        self._last_seen = time.monotonic()
        # The submitter's context (its language: kdviz.i18n), so the run's messages read like its page.
        self._context = contextvars.copy_context()

    def report(self, ev: Progress) -> None:
        if ev.kind == "epoch":
            # A kept snapshot would hold the run's weights and optimizer for as long as the job
            # is remembered (up to `keep` jobs): the charts need only the numbers.
            ev = replace(ev, snapshot=None)
            self.epochs.append(ev)
        self.latest = ev

    def stop(self) -> None:
        self._stop.set()

    def touch(self) -> None:
        """A viewer is still watching; unwatched jobs stop after `abandon_after` s."""
        self._last_seen = time.monotonic()

    def should_stop(self) -> bool:
        if self._stop.is_set():
            return True
        if self._abandon_after and time.monotonic() - self._last_seen > self._abandon_after:
            self._stop.set()  # every browser tab showing it was closed
        return self._stop.is_set()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class JobQueue:
    """FIFO queue running at most `max_running` jobs at once, each in its own thread."""

    def __init__(
        self, max_running: int = 1, abandon_after: float | None = 60.0, keep: int = 200, nice: int = 0
    ):
        if max_running < 1:
            raise ValueError("max_running must be >= 1")
        self.max_running, self.abandon_after, self.keep = max_running, abandon_after, keep
        self.nice = nice  # > 0: training threads yield the CPU to page reruns (Linux)
        self._lock = threading.Lock()
        self._waiting: list[Job] = []
        self._running: list[Job] = []
        self._jobs: OrderedDict[str, Job] = OrderedDict()  # by id, oldest first

    def submit(self, key: str, label: str, fn: Callable[[Job], Any], details: Any = None) -> Job:
        """Queue `fn`, or return the job under `key` that is still queued or running (never a
        finished or stopping one: asking again after a Stop starts a new run)."""
        with self._lock:
            for job in self._running + self._waiting:
                if job.key == key and not job.finished and not job._stop.is_set():
                    job.touch()
                    return job
            job = Job(key, label, fn, self.abandon_after)
            job.queue, job.details = self, details
            self._waiting.append(job)
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:  # forget the oldest finished jobs
                old = next((j for j in self._jobs.values() if j.finished), None)
                if old is None:
                    break
                del self._jobs[old.id]
            self._pump()
            return job

    def get(self, job_id: str | None) -> Job | None:
        return self._jobs.get(job_id) if job_id else None

    def ahead(self, job: Job) -> int:
        """Runs that go before a waiting job (the running ones and those queued earlier);
        0 once it runs or has finished."""
        with self._lock:
            if job not in self._waiting:
                return 0
            return len(self._running) + self._waiting.index(job)

    def cancel(self, job: Job) -> None:
        job.stop()
        with self._lock:
            if job in self._waiting:
                self._waiting.remove(job)
                job.status = "stopped"

    def _pump(self) -> None:  # with self._lock held
        while len(self._running) < self.max_running and self._waiting:
            job = self._waiting.pop(0)
            job.status = "running"
            self._running.append(job)
            threading.Thread(target=self._run, args=(job,), daemon=True, name=f"kdviz-{job.id}").start()

    def _run(self, job: Job) -> None:
        if self.nice:
            lower_thread_priority(self.nice)
        result, error = None, ""
        try:
            result = job._context.run(job.fn, job)
        except Stopped:  # asked to stop before it had a result (kdviz.control)
            job._stop.set()
        # Anything a run raises ends it as failed (SystemExit or a KeyboardInterrupt delivered
        # to this thread included): a job must never stay "running" with no thread behind it.
        except BaseException as e:  # noqa: BLE001
            error = describe_error(e)
        finally:
            with self._lock:
                job.result, job.error = result, error
                job.status = "failed" if error else "stopped" if job._stop.is_set() else "done"
                self._running.remove(job)
                self._pump()


def lower_thread_priority(nice: int) -> None:
    """Renice the calling thread only (Linux threads have their own nice value)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):  # not Linux, or not permitted: run at normal priority
        pass


def describe_error(e: BaseException) -> str:
    """One line a teacher can act on."""
    text = str(e)
    if "out of memory" in text.lower():
        return _("Out of memory: choose a smaller student or batch, or the CPU device.")
    if isinstance(e, ValueError):
        return text
    return f"{type(e).__name__}: {text}"
