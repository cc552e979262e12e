"""The bench an experiment runs on, and what it hands back.

`Bench`: the data, the teacher and its logits for the training images (computed once per run:
the teacher is frozen), the recipe (kdviz.recipes), and the run's hooks (kdviz.control); its
`fit` trains a stack of students to the end. `Findings`: an experiment's numbers, which
kdviz.experiments.run_experiment turns into a Result (kdviz.result) with its name and clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch

from kdviz.control import OnProgress, StopFlag, ignore, never_stop
from kdviz.data import MNIST
from kdviz.models import StackedMLP
from kdviz.recipes import Recipe
from kdviz.targets import Cached, TeacherTargets
from kdviz.teacher import Teacher
from kdviz.train import Progress, TrainConfig, run_to_end, train


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

    @classmethod
    def of(cls, data: MNIST, teacher: Teacher, recipe: Recipe, should_stop=never_stop, on_progress=ignore):
        return cls(data, teacher, recipe, teacher.logits(data.train_x), should_stop, on_progress)

    def fit(
        self, hidden, T, alpha, cfg: TrainConfig, targets: TeacherTargets | None = None
    ) -> tuple[StackedMLP, Progress]:
        """Train K = len(T) students together to the end, from the teacher's cached logits unless
        `targets` says otherwise; (model, last epoch event). Stopped (kdviz.control) if asked."""
        model = StackedMLP(hidden, k=len(T), seed=cfg.seed).to(self.data.device)
        targets = Cached(self.logits) if targets is None else targets
        events = train(model, self.data, cfg, T, alpha, targets, should_stop=self.should_stop)
        return model, run_to_end(events, self.on_progress, whole=True)


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
