"""The Lab's experiment: two students of one shape, same initial weights, same batches;
one learns from labels alone, the other from the teacher's soft targets as well."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from kdviz.data import MNIST
from kdviz.losses import check_alpha
from kdviz.models import StackedMLP, check_hidden
from kdviz.train import Progress, TrainConfig, check_training_t, train

STUDENTS = ("labels only", "distilled")


@dataclass(frozen=True)
class DistillConfig:
    hidden: tuple[int, ...] = (800, 800)  # the paper's student
    T: float = 20.0  # the paper's MNIST temperature
    alpha: float = 0.9  # weight of the teacher's soft targets
    epochs: int = 3
    batch_size: int | None = None  # None = auto: 512 on 60,000 images, ~60 on 1,000
    lr: float = 1e-3
    seed: int = 0
    train_size: int | None = None  # None = all 60,000
    omit: tuple[int, ...] = ()  # digits missing from the transfer set

    def __post_init__(self):
        object.__setattr__(self, "hidden", check_hidden(self.hidden))
        object.__setattr__(self, "T", check_training_t(self.T))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        object.__setattr__(self, "omit", tuple(sorted({int(d) for d in self.omit})))
        self.train_config()

    def describe(self) -> str:
        """E.g. '800-800 students, T = 20, alpha = 0.9, 20 epochs, 1,000 images, no 3s, seed 0'."""
        images = "all images" if self.train_size is None else f"{self.train_size:,} images"
        omit = "".join(f", no {d}s" for d in self.omit)
        return (
            f"{'-'.join(map(str, self.hidden))} students, T = {self.T:g}, α = {self.alpha:g}, "
            f"{self.epochs} epochs, {images}{omit}, seed {self.seed}"
        )

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            self.epochs,
            self.batch_size,
            self.lr,
            self.seed,
            train_size=self.train_size,
            omit=self.omit,
        )


def compare_students(
    data: MNIST,
    teacher_logits: torch.Tensor,  # (N_train, 10), computed once per teacher
    cfg: DistillConfig,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[StackedMLP, Iterator[Progress]]:
    """(students, events); index 0 of every list is 'labels only', 1 is 'distilled'."""
    students = StackedMLP(cfg.hidden, k=2, seed=cfg.seed).to(data.device)
    events = train(
        students,
        data,
        cfg.train_config(),
        T=(cfg.T, cfg.T),
        alpha=(0.0, cfg.alpha),
        teacher_logits=teacher_logits,
        should_stop=should_stop,
    )
    return students, events
