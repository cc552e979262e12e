"""The bench an experiment runs on, and what it hands back.

`Bench`: the data, the teacher and its logits for the training images (computed once per run:
the teacher is frozen), the recipe (kdviz.recipes), and the run's hooks (kdviz.control); its
`fit` trains a stack of students to the end. `Findings`: an experiment's numbers, which
kdviz.experiments.run_experiment turns into a Result (kdviz.result) with its name and clock.

A full preset trains for hours on a laptop CPU. With a `saves` folder each fit keeps its state
there (torch.save, read back with weights_only=True, written whole or not at all): after its
last epoch the students and their final report, before that a snapshot at most every
`SAVE_EVERY` seconds. A run that is stopped or killed and started again with the same data,
teacher and recipe skips the fits that finished and resumes the one cut off from its snapshot,
bit for bit (kdviz.train's `resume`). A fit is named by a hash of everything it depends on:
the students' shape, T, alpha, its config, the kind of teacher targets and the teacher's logits.
`forget()` deletes the files of this bench's fits once the run needs them no more.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from kdviz import files
from kdviz.control import OnProgress, StopFlag, ignore, never_stop
from kdviz.data import MNIST
from kdviz.models import StackedMLP
from kdviz.recipes import Recipe
from kdviz.targets import Cached, TeacherTargets
from kdviz.teacher import Teacher
from kdviz.train import Progress, TrainConfig, run_to_end, train

SAVE_EVERY = 60.0  # seconds between a fit's snapshots (an 800-800 pair's: 20 MB)
FORMAT = "kdviz-fit"


@dataclass
class Bench:
    """What every experiment works with: the data, the teacher and its logits for the training
    images (computed once per run: the teacher is frozen), the recipe, and the run's hooks."""

    data: MNIST
    teacher: Teacher
    recipe: Recipe
    logits: torch.Tensor  # (N_train, 10)
    should_stop: StopFlag = never_stop
    on_progress: OnProgress = ignore
    saves: Path | None = None  # a folder for the fits' states; None: nothing is saved
    fit_files: set[Path] = field(default_factory=set)  # of this bench's fits, read or written

    @classmethod
    def of(
        cls,
        data: MNIST,
        teacher: Teacher,
        recipe: Recipe,
        should_stop=never_stop,
        on_progress=ignore,
        saves=None,
    ):
        logits = teacher.logits(data.train_x)
        return cls(
            data, teacher, recipe, logits, should_stop, on_progress, None if saves is None else Path(saves)
        )

    def fit(
        self,
        hidden,
        T,
        alpha,
        cfg: TrainConfig,
        targets: TeacherTargets | None = None,
        inits=None,
        curve: list | None = None,
    ) -> tuple[StackedMLP, Progress]:
        """Train K = len(T) students together to the end, from the teacher's cached logits unless
        `targets` says otherwise; (model, last epoch event). Stopped (kdviz.control) if asked.
        All start from `cfg.seed`'s weights, or each from its own seed in `inits` (kdviz.models).
        `curve`: a list to extend with (epoch, [test errors per student]) for every tested epoch.
        With `saves`, a finished fit is read back and a cut-off one resumed (module docstring)."""
        model = StackedMLP(hidden, k=len(T), seed=cfg.seed, inits=inits).to(self.data.device)
        targets = Cached(self.logits) if targets is None else targets
        path = self._path(hidden, T, alpha, cfg, targets, inits)
        state = _load(path)
        seen = [] if state is None else [(int(e), list(errs)) for e, errs in state.get("curve", [])]
        if state is not None:
            self.fit_files.add(path)
        if state is not None and state["done"]:
            model.load_state_dict(state["model"])
            if curve is not None:
                curve.extend(seen)
            return model, Progress(**state["last"])
        saved = time.perf_counter()

        def report(ev: Progress) -> None:
            nonlocal saved
            self.on_progress(ev)
            if ev.kind != "epoch":
                return
            seen.append((ev.epoch, list(ev.test_errors)))
            if path is not None and time.perf_counter() - saved >= SAVE_EVERY:
                self._save(path, {"done": False, "curve": seen, **ev.snapshot()})
                saved = time.perf_counter()

        events = train(model, self.data, cfg, T, alpha, targets, should_stop=self.should_stop, resume=state)
        last = run_to_end(events, report, whole=True)
        if path is not None:
            self._save(path, {"done": True, "model": model.state_dict(), "last": _plain(last), "curve": seen})
        if curve is not None:
            curve.extend(seen)
        return model, last

    def forget(self) -> None:
        """Delete the saved states of this bench's fits (the run that needed them is over)."""
        for path in self.fit_files:
            with contextlib.suppress(OSError):
                path.unlink()
        self.fit_files.clear()

    def _path(self, hidden, T, alpha, cfg, targets, inits) -> Path | None:
        if self.saves is None:
            return None
        inits = None if inits is None else tuple(inits)
        about = (
            tuple(hidden),
            tuple(T),
            tuple(alpha),
            cfg,
            inits,
            type(targets).__name__,
            self.data.device.type,
        )
        about = repr(about)
        digest = hashlib.sha256(about.encode())
        digest.update(self.logits.detach().cpu().contiguous().numpy().tobytes())  # which teacher
        return self.saves / f"fit-{digest.hexdigest()[:24]}.pt"

    def _save(self, path: Path, state: dict) -> None:
        """All or nothing; a disk that refuses only costs the chance to resume."""
        with contextlib.suppress(OSError):
            files.atomic_write(path, {"format": FORMAT, **state}, torch.save)
            self.fit_files.add(path)


def _load(path: Path | None) -> dict | None:
    """A fit's saved state, or None (none, damaged or not ours: the fit starts over)."""
    if path is None or not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        return None
    return state


def _plain(ev: Progress) -> dict:
    """A report's numbers, without its snapshot: what a finished fit keeps."""
    return {k: v for k, v in asdict(ev).items() if k != "snapshot"}


@dataclass
class Findings:
    """An experiment's own part of its Result (kdviz.result): everything but its name, title,
    seed and seconds, which run_experiment adds."""

    rows: list[dict]
    setup: dict
    curve: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    models: list[dict] = field(default_factory=list)
