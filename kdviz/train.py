"""One training engine for teachers, labels-only students and distilled students.

`train` is a generator of `Progress` events: the UI and the CLI show the same numbers.
Students learn from the teacher's logits, computed once for the whole training set
(the teacher is frozen), so a student step costs no teacher forward pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from kdviz.data import MNIST
from kdviz.losses import check_alpha, stacked_losses
from kdviz.models import StackedMLP, count_errors, predict_logits
from kdviz.temperature import check_temperature

MAX_EPOCHS = 1000
# Outside this range float32 soft targets are one-hot or uniform to rounding, and T^2 would
# multiply rounding noise: the number would be silently wrong, so training refuses it.
T_MIN, T_MAX = 0.05, 1000.0


def check_training_t(T) -> float:
    t = check_temperature(T)
    if not T_MIN <= t <= T_MAX:
        raise ValueError(f"for training, T must be between {T_MIN:g} and {T_MAX:g}, got {T!r}")
    return t


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    batch_size: int | None = None  # None = auto_batch(transfer-set size)
    lr: float = 1e-3  # Adam's peak learning rate, decayed linearly to 0
    seed: int = 0  # initial weights and batch order
    jitter: int = 0  # random translations of up to this many pixels (teacher)
    max_norm: float = 0.0  # cap on each hidden unit's weight norm; 0 = off
    train_size: int | None = None  # use only the first N training images
    omit: tuple[int, ...] = ()  # digits left out of the transfer set

    def __post_init__(self):
        if not 1 <= int(self.epochs) <= MAX_EPOCHS:
            raise ValueError(f"epochs must be 1-{MAX_EPOCHS}, got {self.epochs}")
        if self.batch_size is not None and not 1 <= int(self.batch_size) <= 65536:
            raise ValueError(f"batch size must be 1-65536, got {self.batch_size}")
        if not (self.lr > 0 and self.lr < 10):
            raise ValueError(f"learning rate must be in (0, 10), got {self.lr}")
        if not 0 <= int(self.jitter) <= 4:
            raise ValueError(f"jitter must be 0-4 pixels, got {self.jitter}")
        if self.train_size is not None and int(self.train_size) < 1:
            raise ValueError(f"train size must be >= 1, got {self.train_size}")
        if any(not 0 <= int(d) <= 9 for d in self.omit):
            raise ValueError(f"omitted classes must be digits 0-9, got {self.omit}")
        if len(set(self.omit)) == 10:
            raise ValueError("omitting all ten digits leaves the transfer set empty")


@dataclass
class Progress:
    """One report from the engine; lists have one entry per model being trained."""

    kind: str  # "step" (cheap, frequent) or "epoch" (with test errors)
    epoch: int  # epochs completed
    epochs: int
    step: int
    steps: int
    elapsed: float  # seconds since training started
    soft_loss: list[float] = field(default_factory=list)  # running mean this epoch
    hard_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_errors: list[int] = field(default_factory=list)  # "epoch" events only
    test_total: int = 0

    @property
    def fraction(self) -> float:
        return self.step / max(self.steps, 1)

    @property
    def eta(self) -> float:
        """Seconds left, extrapolated from the pace so far."""
        return self.elapsed * (1 - self.fraction) / self.fraction if self.step else float("nan")


def auto_batch(n: int) -> int:
    """At least ~16 steps an epoch: with 1,000 labelled images a batch of 512 would make
    2 steps an epoch and the students would barely move; 512 is fastest on 60,000."""
    return int(min(512, max(32, n // 16)))


def transfer_indices(y: torch.Tensor, train_size: int | None, omit: Sequence[int]) -> torch.Tensor:
    """Indices of the transfer set: the first `train_size` images, minus omitted digits."""
    idx = torch.arange(len(y) if train_size is None else min(int(train_size), len(y)), device=y.device)
    if omit:
        keep = ~torch.isin(y[idx], torch.tensor(list(omit), device=y.device))
        idx = idx[keep]
    if len(idx) == 0:
        raise ValueError("the transfer set is empty: fewer omitted digits or more images")
    return idx


def jitter(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Translate each (B, 784) image by its own random offset in [-max_shift, max_shift]^2."""
    B, s = len(x), max_shift
    img = torch.nn.functional.pad(x.view(B, 28, 28), (s, s, s, s))  # (B, 28+2s, 28+2s)
    dy, dx = torch.randint(0, 2 * s + 1, (2, B, 1), generator=g, device="cpu").to(x.device)
    ar = torch.arange(28, device=x.device)
    rows = (ar + dy)[:, :, None]  # (B, 28, 1)
    cols = (ar + dx)[:, None, :]  # (B, 1, 28)
    return img[torch.arange(B, device=x.device)[:, None, None], rows, cols].reshape(B, 784)


def train(
    model: StackedMLP,
    data: MNIST,
    cfg: TrainConfig,
    T: Sequence[float] = (1.0,),  # one temperature per model
    alpha: Sequence[float] = (0.0,),  # one soft-target weight per model; 0 = labels only
    teacher_logits: torch.Tensor | None = None,  # (N_train, 10), required if any alpha > 0
    should_stop: Callable[[], bool] = lambda: False,
    report_every: float = 0.25,  # seconds between "step" events
) -> Iterator[Progress]:
    """Train the K models of `model` together; yields Progress, stops early when asked."""
    K, device = model.k, data.device
    if len(T) != K or len(alpha) != K:
        raise ValueError(f"need one T and one alpha per model ({K}), got {len(T)} and {len(alpha)}")
    T_ = torch.tensor([check_training_t(t) for t in T], device=device)
    alpha_ = torch.tensor([check_alpha(a) for a in alpha], device=device)
    if bool((alpha_ > 0).any()) and teacher_logits is None:
        raise ValueError("distillation (alpha > 0) needs the teacher's logits")

    idx = transfer_indices(data.train_y, cfg.train_size, cfg.omit)
    x, y = data.train_x[idx], data.train_y[idx]
    tl = teacher_logits.to(device)[idx] if teacher_logits is not None else None
    n = len(idx)
    bs = min(int(cfg.batch_size or auto_batch(n)), n)
    per_epoch = -(-n // bs)
    steps = per_epoch * int(cfg.epochs)

    g = torch.Generator().manual_seed(int(cfg.seed))
    torch.manual_seed(int(cfg.seed))  # dropout masks
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    model.train()
    start, last_report, step = time.perf_counter(), 0.0, 0
    for epoch in range(int(cfg.epochs)):
        perm = torch.randperm(n, generator=g).to(device)
        sums = torch.zeros(3, K, device=device)  # soft, hard, correct; summed over batches
        seen = 0
        for b in range(per_epoch):
            if should_stop():
                return
            batch = perm[b * bs : (b + 1) * bs]
            xb, yb = x[batch], y[batch]
            if cfg.jitter:
                xb = jitter(xb, int(cfg.jitter), g)
            logits = model(xb)  # (K, B, 10)
            loss, soft, hard = stacked_losses(logits, None if tl is None else tl[batch], yb, T_, alpha_)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if cfg.max_norm:
                model.apply_max_norm(cfg.max_norm)
            sums += torch.stack([soft * len(yb), hard * len(yb), (logits.argmax(-1) == yb).sum(1)])
            seen += len(yb)
            step += 1
            now = time.perf_counter() - start
            if now - last_report >= report_every and b < per_epoch - 1:
                last_report = now
                yield _event("step", epoch, cfg, step, steps, now, sums / seen)
        test_logits = predict_logits(model, data.test_x)
        yield _event(
            "epoch",
            epoch + 1,
            cfg,
            step,
            steps,
            time.perf_counter() - start,
            sums / seen,
            count_errors(test_logits, data.test_y),
            len(data.test_y),
        )
        model.train()


def _event(kind, epoch, cfg, step, steps, elapsed, means, errors=(), total=0) -> Progress:
    soft, hard, acc = means.tolist()
    return Progress(kind, epoch, int(cfg.epochs), step, steps, elapsed, soft, hard, acc, list(errors), total)


def run_to_end(events: Iterator[Progress]) -> Progress | None:
    """Drain a training generator and return its last epoch event."""
    last = None
    for ev in events:
        if ev.kind == "epoch":
            last = ev
    return last
