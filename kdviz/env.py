"""The environment: every KDVIZ_* variable, parsed in one place into one frozen `Env`.

    KDVIZ_DATA_DIR            folder holding the four MNIST files (default: the cache folder)
    KDVIZ_CACHE_DIR           downloads and trained teachers (default: ~/.cache/kdviz)
    KDVIZ_CLASSROOM           1 / true / yes: one server for a whole class, runs capped (CLASSROOM)
    KDVIZ_MAX_RUNS            trainings at once per device (default: 1 on a CPU, 3 on a GPU)
    KDVIZ_TRAIN_THREADS       CPU threads for training (default: every core; one fewer in classroom
                              mode, so page reruns stay quick while a run trains)
    KDVIZ_EXPERIMENTS_PRESET  the Experiments page's preset when it opens (quick, full or tiny)
    KDVIZ_TEACHER_KEY         the key that drives a lesson (kdviz.poll); `kdviz app` makes one and
                              prints it when none is set; empty: nobody can drive a lesson
    KDVIZ_HISTORY_URL         where the class history and the lesson polls live: empty for SQLite
                              files in the cache folder, postgresql://user@host/db for replicas
                              that share them (kdviz.store)

A malformed value raises EnvError naming the variable: the CLI prints it, a page shows it,
nothing falls back silently. `current()` parses once per distinct environment, so a process
reads its environment once while a test may still change a variable and see the change.

Classroom limits live here and are enforced where runs start (kdviz.runs), not by hiding
widgets: with KDVIZ_CLASSROOM=1 no page, link or CLI call gets past them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kdviz.i18n import N_, _, ngettext

PREFIX = "KDVIZ_"
# The names a preset goes by: in links, on the command line and in KDVIZ_EXPERIMENTS_PRESET. Their
# recipes are kdviz.recipes.RECIPES (experiments) and kdviz.teacher.TEACHER_RECIPES.
EXPERIMENT_PRESETS = (N_("quick"), N_("full"), N_("tiny"))
TEACHER_PRESETS = ("quick", "paper")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class EnvError(ValueError):
    """A KDVIZ_* variable has a value kdviz cannot use."""


class LimitError(ValueError):
    """A run asks for more than this server allows (classroom mode)."""


@dataclass(frozen=True)
class Limits:
    """What one run may ask for."""

    max_units: int  # per hidden layer of a student
    max_train_size: int  # labelled images in the transfer set
    max_epochs: int
    experiment_presets: tuple[str, ...]
    teacher_presets: tuple[str, ...]
    why: str = ""  # said with every refusal (marked with N_, shown with _())

    def allows_student(self, hidden: tuple[int, ...]) -> bool:
        return all(h <= self.max_units for h in hidden)

    def check_students(self, hidden: tuple[int, ...], train_size: int, epochs: int) -> None:
        if not self.allows_student(hidden):
            self._refuse(_("students of at most {units} units per layer").format(units=self.max_units))
        if train_size > self.max_train_size:
            self._refuse(_("at most {count:,} training images").format(count=self.max_train_size))
        if epochs > self.max_epochs:
            self._refuse(_("at most {count} epochs").format(count=self.max_epochs))

    def check_preset(self, kind: str, preset: str) -> None:
        allowed = self.experiment_presets if kind == "experiments" else self.teacher_presets
        if preset not in allowed:
            names = _(" or ").join(allowed)
            if kind == "experiments":
                what = ngettext(
                    "the {names} experiments preset, not {preset}",
                    "the {names} experiments presets, not {preset}",
                    len(allowed),
                )
            else:
                what = ngettext(
                    "the {names} teacher preset, not {preset}",
                    "the {names} teacher presets, not {preset}",
                    len(allowed),
                )
            self._refuse(what.format(names=names, preset=preset))

    def _refuse(self, what: str) -> None:
        raise LimitError(_("{why}: this server allows {what}.").format(why=_(self.why), what=what))


OPEN = Limits(8192, 60_000, 100, EXPERIMENT_PRESETS, TEACHER_PRESETS, N_("no limits"))
# One CPU trains for a whole class, one run at a time: each run must take a minute or two.
CLASSROOM = Limits(
    300, 3_000, 20, ("quick", "tiny"), ("quick",), N_("Classroom mode (KDVIZ_CLASSROOM=1) keeps runs short")
)


@dataclass(frozen=True)
class Env:
    data_dir: Path | None  # None: the cache folder (where `kdviz download` puts MNIST)
    cache_dir: Path
    classroom: bool
    max_runs: int | None  # None: by device (see max_runs_for)
    train_threads: int | None  # None: by mode (see threads_for)
    experiments_preset: str
    teacher_key: str = field(default="", repr=False)  # never printed with the rest
    history_url: str = field(default="", repr=False)  # may hold a password

    @property
    def history_where(self) -> str:
        """The class history's database (kdviz.history): the shared one, or a file here."""
        return self.history_url or str(self.cache_dir / "runs.sqlite")

    @property
    def lessons_where(self) -> str:
        """The lesson polls' database (kdviz.poll): the shared one, or a file here."""
        return self.history_url or str(self.cache_dir / "lessons.sqlite")

    @property
    def limits(self) -> Limits:
        return CLASSROOM if self.classroom else OPEN

    @property
    def mnist_dir(self) -> Path:
        return self.data_dir or self.cache_dir

    def max_runs_for(self, device_type: str) -> int:
        """Runs at once on one device: a CPU has the cores for one; a GPU overlaps a few."""
        return self.max_runs or (1 if device_type == "cpu" else 3)

    def threads_for(self, cores: int) -> int:
        return self.train_threads or (max(1, cores - 1) if self.classroom else cores)


def _whole(name: str, raw: str) -> int | None:
    if not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise EnvError(
            _("{name} must be a whole number of at least 1, got {value}").format(name=name, value=repr(raw))
        )
    return value


def _flag(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text not in _TRUE + _FALSE:
        raise EnvError(
            _("{name} must be 1 or 0 (or true / false), got {value}").format(name=name, value=repr(raw))
        )
    return text in _TRUE


def _folder(name: str, raw: str) -> Path | None:
    if not raw.strip():
        return None
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise EnvError(_("{name} must be a folder, but {value} is a file").format(name=name, value=repr(raw)))
    return path


def _key(name: str, raw: str) -> str:
    key = raw.strip()
    if key and (len(key) < 8 or any(c.isspace() for c in key)):
        raise EnvError(
            _(
                "{name} must be at least 8 characters with no spaces "
                "(a guessable key lets a student drive the lesson)"
            ).format(name=name)
        )
    return key


def _url(name: str, raw: str) -> str:
    url = raw.strip()
    if url and not url.startswith(("postgresql://", "postgresql+psycopg://")):
        raise EnvError(
            _(
                "{name} must be a postgresql://user@host/database URL (or empty for SQLite files), "
                "got {value}"
            ).format(
                name=name,
                value=repr(url.split("@")[-1][:40]),  # never echo a password
            )
        )
    return url


@functools.lru_cache(maxsize=8)
def _parse(items: frozenset) -> Env:
    env = dict(items)
    get = lambda name: env.get(PREFIX + name, "")  # noqa: E731
    preset = get("EXPERIMENTS_PRESET").strip().lower() or "quick"
    if preset not in EXPERIMENT_PRESETS:
        raise EnvError(
            _("KDVIZ_EXPERIMENTS_PRESET must be one of {choices}, got {value}").format(
                choices=", ".join(EXPERIMENT_PRESETS), value=repr(preset)
            )
        )
    return Env(
        data_dir=_folder("KDVIZ_DATA_DIR", get("DATA_DIR")),
        cache_dir=_folder("KDVIZ_CACHE_DIR", get("CACHE_DIR")) or Path.home() / ".cache" / "kdviz",
        classroom=_flag("KDVIZ_CLASSROOM", get("CLASSROOM")),
        max_runs=_whole("KDVIZ_MAX_RUNS", get("MAX_RUNS")),
        train_threads=_whole("KDVIZ_TRAIN_THREADS", get("TRAIN_THREADS")),
        experiments_preset=preset,
        teacher_key=_key("KDVIZ_TEACHER_KEY", get("TEACHER_KEY")),
        history_url=_url("KDVIZ_HISTORY_URL", get("HISTORY_URL")),
    )


def current(environ: Mapping[str, str] | None = None) -> Env:
    """This environment (os.environ by default), parsed; EnvError if malformed."""
    environ = os.environ if environ is None else environ
    return _parse(frozenset((k, v) for k, v in environ.items() if k.startswith(PREFIX)))
