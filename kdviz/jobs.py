"""A small job queue: training runs go through it, a few at a time, shared by key.

Sessions of the web app submit work here instead of training inside their own script
run, so a Temperature page rerun never waits for a training, a Stop button only sets
a flag, and two sessions asking for the same teacher share one training.

A class shares one CPU, so the queue is also where fairness lives:
- one unfinished run of a kind per owner (a browser: its tabs are one owner): pressing Train
  in ten tabs queues one run, and the others are told why (`Busy`);
- waiting jobs that can train as one (`Together`: a class's Lab races of one setup) start as
  one run, so thirty classmates on the defaults wait for one race, not thirty;
- a waiting job's `wait` is an estimate in seconds: what is left of the runs ahead (their own
  pace once they report one) and the estimates of those queued before it, corrected by how
  this server's finished runs compared with their estimates.
"""

from __future__ import annotations

import atexit
import contextvars
import math
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from kdviz.control import Stopped
from kdviz.device import flush_denormals
from kdviz.i18n import _
from kdviz.train import Progress

FINISHED = ("done", "stopped", "failed")
MAX_TOGETHER = 8  # jobs started as one run (a Lab pool: at most 48 students in one stack)


class Busy(ValueError):
    """The owner already has a run of this kind queued or running."""


@dataclass(frozen=True)
class Together:
    """How waiting jobs with one `key` run as one: `run(jobs)` gives each job's result (None:
    stopped before it had one); `seconds(jobs)` estimates that run (None: no estimate)."""

    key: Hashable
    run: Callable[[list[Job]], list[Any]]
    seconds: Callable[[list[Job]], float | None]


class Job:
    """One unit of work; `fn(job)` runs it, reporting through `job.report`."""

    def __init__(self, key: str, label: str, fn: Callable[[Job], Any], abandon_after: float | None):
        self.id, self.key, self.label, self.fn = uuid.uuid4().hex[:10], key, label, fn
        self.status = "queued"
        self.owner = ""  # who asked (a browser); "" = nobody in particular
        self.together: Together | None = None  # runs as one with waiting jobs of the same key
        self.estimate: float | None = None  # seconds it takes alone, if known
        self.started = 0.0  # time.monotonic() when it started running
        self.mates = 1  # jobs in the run it started in
        self.epochs: list[Progress] = []  # every "epoch" event, for the charts
        self.partial: Progress | None = None  # a test before the first tested epoch ended
        self.latest: Progress | None = None  # the newest event, for the progress bar
        self._latest_at = 0.0  # time.monotonic() when it came
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
        elif ev.kind == "partial":
            self.partial = ev
        self.latest, self._latest_at = ev, time.monotonic()

    @property
    def tested(self) -> list[Progress]:
        """The tests the charts draw: each tested epoch, or until the first one comes, the partial
        test (if any). Once dropped, its thousands of errors no longer squash the race's scale."""
        if not self.epochs and self.partial is not None:
            return [self.partial]
        return list(self.epochs)

    def seconds_left(self) -> float | None:
        """What the latest report's pace says is left, counted down since it came: a run busy
        with something that reports nothing (testing, a probe) does not stay at one number."""
        ev = self.latest
        if ev is None or not ev.step or not math.isfinite(ev.eta):
            return None
        return max(ev.eta - (time.monotonic() - self._latest_at), 0.0)

    def seconds_elapsed(self) -> float:
        """Seconds since the run started, as its latest report says, plus the time since it came."""
        return 0.0 if self.latest is None else self.latest.elapsed + time.monotonic() - self._latest_at

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
        self.pace = 1.0  # finished runs' seconds over their estimates (this machine, its load)
        self._threads: list[threading.Thread] = []
        # A training thread still inside torch when the interpreter exits aborts the process
        # ("terminate called without an active exception"): stop the runs and let them end first.
        atexit.register(self.shutdown)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every run, queued or running, and wait up to `timeout` s for their threads."""
        with self._lock:
            for job in self._waiting:
                job.stop()
                job.status = "stopped"
            self._waiting.clear()
            for job in self._running:
                job.stop()
            threads = list(self._threads)
        end = time.monotonic() + timeout
        for t in threads:
            t.join(max(end - time.monotonic(), 0.0))

    def submit(
        self,
        key: str,
        label: str,
        fn: Callable[[Job], Any],
        details: Any = None,
        owner: str = "",
        together: Together | None = None,
        estimate: float | None = None,
    ) -> Job:
        """Queue `fn`, or return the job under `key` that is still queued or running (never a
        finished or stopping one: asking again after a Stop starts a new run). Busy when `owner`
        already has an unfinished job with this label."""
        with self._lock:
            for job in self._running + self._waiting:
                if job.key == key and not job.finished and not job._stop.is_set():
                    job.touch()
                    return job
            if owner and any(j.owner == owner and j.label == label for j in self._running + self._waiting):
                raise Busy(
                    _(
                        "You already have a run of this kind waiting or training (perhaps in another "
                        "tab): wait for it to end, or stop it, before starting another."
                    )
                )
            job = Job(key, label, fn, self.abandon_after)
            job.queue, job.details = self, details
            job.owner, job.together, job.estimate = owner, together, estimate
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

    def unfinished(self) -> list[Job]:
        """The jobs running, then those waiting, in the order they will run."""
        with self._lock:
            return self._running + self._waiting

    def ahead(self, job: Job) -> int:
        """Runs that go before a waiting job (the running ones and those queued earlier);
        0 once it runs or has finished."""
        with self._lock:
            if job not in self._waiting:
                return 0
            return len(self._running) + self._waiting.index(job)

    def wait(self, job: Job) -> float | None:
        """Seconds until a waiting job likely starts (0 once it runs); None when a run ahead has
        no estimate."""
        with self._lock:
            if job not in self._waiting:
                return 0.0
            left = []
            for j in self._running:
                ev = j.latest
                if ev is not None and ev.step and math.isfinite(ev.eta):
                    left.append(ev.eta)
                elif j.estimate is not None:
                    left.append(max(j.estimate * self.pace - (time.monotonic() - j.started), 0.0))
                else:
                    return None
            groups = self._groups(self._waiting)  # as they will start: a shared run counts once
            mine = next(i for i, g in enumerate(groups) if job in g)
            for group in groups[:mine]:
                seconds = group[0].together.seconds(group) if group[0].together else group[0].estimate
                if seconds is None:
                    return None
                left.append(seconds * self.pace)
            # max_running slots work through the same seconds
            return sum(left) / self.max_running

    def _groups(self, waiting: list[Job]) -> list[list[Job]]:
        """How these waiting jobs would start: each with the later ones it runs together with."""
        groups: list[list[Job]] = []
        taken: set[str] = set()
        for job in waiting:
            if job.id in taken:
                continue
            group = [job]
            if job.together:
                group += [
                    j for j in waiting if j is not job and j.together and j.together.key == job.together.key
                ][: MAX_TOGETHER - 1]
            taken.update(j.id for j in group)
            groups.append(group)
        return groups

    def cancel(self, job: Job) -> None:
        job.stop()
        with self._lock:
            if job in self._waiting:
                self._waiting.remove(job)
                job.status = "stopped"

    def _pump(self) -> None:  # with self._lock held
        while len(self._running) < self.max_running and self._waiting:
            group = self._groups(self._waiting)[0]
            for job in group:
                self._waiting.remove(job)
                job.status, job.started, job.mates = "running", time.monotonic(), len(group)
                self._running.append(job)
            name = f"kdviz-{group[0].id}" + (f"+{len(group) - 1}" if len(group) > 1 else "")
            thread = threading.Thread(target=self._run, args=(group,), daemon=True, name=name)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _run(self, group: list[Job]) -> None:
        flush_denormals()  # before this thread's first torch operation starts its CPU threads
        if self.nice:
            lower_thread_priority(self.nice)
        first = group[0]
        results, error, stopped = [None] * len(group), "", [False] * len(group)
        try:
            if first.together:  # None: that job stopped before it had a result
                results = first._context.run(first.together.run, group)
                stopped = [r is None for r in results]
            else:
                results = [first._context.run(first.fn, first)]
        except Stopped:  # asked to stop before it had a result (kdviz.control)
            stopped = [True] * len(group)
        # Anything a run raises ends it as failed (SystemExit or a KeyboardInterrupt delivered
        # to this thread included): a job must never stay "running" with no thread behind it.
        except BaseException as e:  # noqa: BLE001
            error = describe_error(e)
        finally:
            with self._lock:
                for job, result, halted in zip(group, results, stopped):
                    job.result, job.error = result, error
                    if halted:
                        job._stop.set()
                    job.status = "failed" if error else "stopped" if job._stop.is_set() else "done"
                    self._running.remove(job)
                self._learn(group, error)
                self._pump()

    def _learn(self, group: list[Job], error: str) -> None:
        """How long a whole run took against its estimate: the next waits are scaled by it."""
        if error or any(j._stop.is_set() for j in group):
            return
        seconds = group[0].together.seconds(group) if group[0].together else group[0].estimate
        if seconds:
            took = time.monotonic() - group[0].started
            self.pace = min(max(0.5 * self.pace + 0.5 * took / seconds, 0.2), 5.0)


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
