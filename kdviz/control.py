"""How a caller steers a run, and the one way a run says it was stopped.

Every run (a teacher's training, a Lab race, an experiments run) takes `on_progress(Progress)`,
called with each report, and `should_stop()`, polled between batches. Two defaults,
`ignore` and `never_stop`, stand for "nobody listens" and "nobody will ask to stop".

A run asked to stop before it has anything to give raises `Stopped`. A run with something to
give returns it and says so itself (a Lab result's status, an experiments run's `finished`):
a stopped race still has its finished epochs, and the class history keeps them. A teacher
stopped mid-training raises `Stopped` after saving its state, so the next call resumes.
The engine underneath (`kdviz.train.train`, a generator) simply ends early;
`kdviz.train.run_to_end` turns that into `Stopped`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OnProgress = Callable[[Any], None]  # called with each kdviz.train.Progress
StopFlag = Callable[[], bool]


class Stopped(Exception):
    """The run was asked to stop before it had a result; what it saved lets a later call resume."""


def never_stop() -> bool:
    return False


def ignore(*args) -> None:
    """A callback that listens to nothing."""
