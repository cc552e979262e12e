"""One training engine for teachers, labels-only students and distilled students.

`train` is a generator of `Progress` events: the UI and the CLI show the same numbers.
Distilled students learn from a `kdviz.targets.TeacherTargets`: the teacher's logits cached
once for the training set (the teacher is frozen, so a step costs no teacher forward pass),
cached once per shift of 2-px jitter, or computed live on each distorted batch.

Optimizers: Adam with a linear decay to 0 (students and quick teachers: good in a few
epochs), or SGD with Nesterov momentum 0.9, a linear warm-up and a cosine decay to 0 (the
long runs of the paper's teacher, where it generalises better than Adam).

A run owns its random streams (batch order, jitter, distortions, dropout masks), all drawn from
`cfg.seed`: the same seed gives the same run whatever other threads do, and an epoch
event's `snapshot()` holds everything needed to `resume` bit-for-bit where it stopped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch

from kdviz import elastic, shifts
from kdviz.control import OnProgress, StopFlag, Stopped, ignore, never_stop
from kdviz.data import MNIST
from kdviz.device import flush_denormals
from kdviz.i18n import _
from kdviz.losses import check_alpha, hint_terms, relation_terms, stacked_losses
from kdviz.models import StackedMLP, count_errors, normalize, predict_logits
from kdviz.targets import TeacherTargets
from kdviz.temperature import check_temperature

MAX_EPOCHS = 1000
BLOCK_ROWS = 8192  # images gathered at a time in batch order (25 MB: stays in a CPU's cache)
# What a student learns from besides the labels (kdviz.losses): the teacher's logits, its last
# hidden layer through a learned projection (hint), how it relates a batch's images (relation),
# or a peer student's logits (mutual: no teacher)
KNOWLEDGE = ("logits", "hint", "relation", "mutual")
FROM_FEATURES = ("hint", "relation")
OPTIMIZERS = ("adam", "sgd")
# Outside this range float32 soft targets are one-hot or uniform to rounding, and T^2 would
# multiply rounding noise: the number would be silently wrong, so training refuses it.
T_MIN, T_MAX = 0.05, 1000.0


class Diverged(ValueError):
    """A model's loss stopped being a number: its test errors would be meaningless (often 9,020,
    every image called a 0), so the run stops and says so instead of reporting them."""


def warm_up() -> threading.Thread:
    """Import, in the background, what a process's first optimizer imports (torch._dynamo: about
    a second on a 2-core CPU), so that the app's first Train does not wait for it: a class must
    see the Lab's first point within a second. The thread, to join where that matters."""
    thread = threading.Thread(
        target=lambda: torch.optim.Adam([torch.zeros(1, requires_grad=True)]), daemon=True
    )
    thread.start()
    return thread


def check_training_t(T) -> float:
    t = check_temperature(T)
    if not T_MIN <= t <= T_MAX:
        raise ValueError(
            _("for training, T must be between {low:g} and {high:g}, got {value}").format(
                low=T_MIN, high=T_MAX, value=repr(T)
            )
        )
    return t


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    batch_size: int | None = None  # None = auto_batch(transfer-set size)
    lr: float = 1e-3  # Adam's peak learning rate, decayed linearly to 0
    seed: int = 0  # initial weights and batch order
    jitter: int = 0  # random translations of up to this many pixels (teacher)
    elastic: float = 0.0  # strength (pixels) of elastic distortions, kdviz.elastic; 0 = off
    max_norm: float = 0.0  # cap on each hidden unit's weight norm; 0 = off
    train_size: int | None = None  # use only the first N training images
    omit: tuple[int, ...] = ()  # digits left out of the transfer set
    optimizer: str = "adam"  # "adam" (linear decay) or "sgd" (Nesterov, warm-up + cosine)
    warmup: int = 0  # epochs of linear warm-up ("sgd")
    # Test errors after every n-th epoch and the last: on a small transfer set one pass over the
    # 10,000 test images costs as much as two or three epochs of training (a default Lab race).
    eval_every: int = 1
    # Seconds into a run after which, if no test has come yet, the models are tested once before
    # the epoch ends (a "partial" event): a class sees a first point within a second of Train even
    # when an epoch takes several (an 800-800 pair on 60,000 images). 0 = off. Training is the same.
    first_look: float = 0.0

    def __post_init__(self):
        if not 1 <= int(self.epochs) <= MAX_EPOCHS:
            raise ValueError(
                _("epochs must be 1-{most}, got {value}").format(most=MAX_EPOCHS, value=self.epochs)
            )
        if not 1 <= int(self.eval_every) <= int(self.epochs):
            raise ValueError(
                _("test every 1-{most} epochs, got {value}").format(most=self.epochs, value=self.eval_every)
            )
        if self.batch_size is not None and not 1 <= int(self.batch_size) <= 65536:
            raise ValueError(_("batch size must be 1-65536, got {value}").format(value=self.batch_size))
        if not (self.lr > 0 and self.lr < 10):
            raise ValueError(_("learning rate must be in (0, 10), got {value}").format(value=self.lr))
        if not (0 <= self.max_norm < float("inf")):  # a negative cap would flip the weights' signs
            raise ValueError(
                _("max_norm must be 0 (off) or a positive number, got {value}").format(value=self.max_norm)
            )
        if not 0 <= int(self.jitter) <= 4:
            raise ValueError(_("jitter must be 0-4 pixels, got {value}").format(value=self.jitter))
        if not 0 <= self.elastic <= 100:  # also refuses NaN
            raise ValueError(
                _("elastic strength must be 0-100 pixels, got {value}").format(value=self.elastic)
            )
        if not 0 <= self.first_look <= 3600:  # also refuses NaN
            raise ValueError(
                _("first look must be 0 (off) to 3600 seconds, got {value}").format(value=self.first_look)
            )
        if self.train_size is not None and int(self.train_size) < 1:
            raise ValueError(_("train size must be >= 1, got {value}").format(value=self.train_size))
        if any(not 0 <= int(d) <= 9 for d in self.omit):
            raise ValueError(_("omitted classes must be digits 0-9, got {value}").format(value=self.omit))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                _("optimizer must be one of {choices}, got {value}").format(
                    choices=", ".join(OPTIMIZERS), value=repr(self.optimizer)
                )
            )
        if not 0 <= int(self.warmup) < int(self.epochs) or (self.warmup and self.optimizer != "sgd"):
            raise ValueError(
                _("warm-up must be 0 to epochs - 1 epochs, with sgd; got {value}").format(value=self.warmup)
            )
        if len(set(self.omit)) == 10:
            raise ValueError(_("omitting all ten digits leaves the transfer set empty"))


@dataclass
class Progress:
    """One report from the engine; lists have one entry per model being trained."""

    # "step" (cheap, frequent), "epoch" (with test errors) or "partial" (test errors before the
    # first tested epoch ended: TrainConfig.first_look)
    kind: str
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
    # Epoch events: the run's full state (weights, optimizer, random streams) for `resume`.
    # Valid only until the generator is advanced; save it before asking for the next event.
    snapshot: Callable[[], dict] | None = field(default=None, repr=False, compare=False)

    def only(self, keep: Sequence[int]) -> Progress:
        """This report for some of the models (their indices, in this order): one race's share
        of several trained as one (kdviz.lab.Pool)."""
        pick = lambda values: [values[k] for k in keep] if values else []  # noqa: E731
        return replace(
            self,
            soft_loss=pick(self.soft_loss),
            hard_loss=pick(self.hard_loss),
            train_acc=pick(self.train_acc),
            test_errors=pick(self.test_errors),
        )

    @property
    def fraction(self) -> float:
        return self.step / max(self.steps, 1)

    @property
    def at(self) -> float:
        """Epochs done, with the fraction of the current one: where a point sits on an epoch axis."""
        return self.step * self.epochs / max(self.steps, 1)

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
        raise ValueError(_("the transfer set is empty: fewer omitted digits or more images"))
    return idx


def lr_factor(step: int, steps: int, warmup_steps: int, optimizer: str) -> float:
    """Multiplier of the peak learning rate before optimizer step `step` (0-based)."""
    if optimizer == "adam":
        return 1 - step / steps
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(steps - warmup_steps, 1)))


def train(
    model: StackedMLP,
    data: MNIST,
    cfg: TrainConfig,
    T: Sequence[float] = (1.0,),  # one temperature per model
    alpha: Sequence[float] = (0.0,),  # one soft-target weight per model; 0 = labels only
    teacher: TeacherTargets | None = None,  # required if any alpha > 0 (kdviz.targets)
    should_stop: StopFlag = never_stop,
    report_every: float = 0.25,  # seconds between "step" events
    resume: dict | None = None,  # a snapshot() of an earlier epoch event of this same run
    # one final temperature per model: T moves linearly from T to T_end over the run's steps
    # (start hot, anneal towards 1); None = constant T
    T_end: Sequence[float] | None = None,
    # what each model learns from (KNOWLEDGE); None = the teacher's logits for all
    knowledge: Sequence[str] | None = None,
    # "mutual" models: the index of each one's peer (and the peer's, its own); -1 for the others
    peers: Sequence[int] | None = None,
) -> Iterator[Progress]:
    """Train the K models of `model` together; yields Progress, ends early when asked to stop."""
    K, device = model.k, data.device
    flush_denormals()
    T_, T_slope, alpha_ = _schedule(K, T, T_end, alpha, device)
    kinds, peer = _knowledge(K, knowledge, peers, model)
    listening = [k for k in range(K) if alpha_[k] > 0]
    if not any(kinds[k] != "mutual" for k in listening):
        teacher = None  # nobody listens to it: no teacher forward pass, not even a lookup
    elif teacher is None:
        raise ValueError(_("distillation (alpha > 0) needs the teacher's logits"))
    else:
        teacher.check(cfg)
    features = teacher is not None and any(kinds[k] in FROM_FEATURES for k in listening)

    idx = transfer_indices(data.train_y, cfg.train_size, cfg.omit)
    # The first n images, a view (no copy) unless digits are left out
    x, y = (
        (data.train_x[idx], data.train_y[idx])
        if cfg.omit
        else (data.train_x[: len(idx)], data.train_y[: len(idx)])
    )
    teacher = None if teacher is None else teacher.subset(idx, device)
    n = len(idx)
    bs = min(int(cfg.batch_size or auto_batch(n)), n)
    per_epoch = -(-n // bs)
    steps = per_epoch * int(cfg.epochs)
    warmup_steps = per_epoch * int(cfg.warmup)

    g = torch.Generator().manual_seed(int(cfg.seed))  # batch order and jitter
    model.generator = torch.Generator(device).manual_seed(int(cfg.seed))  # dropout masks
    hints = [k for k in range(K) if kinds[k] == "hint"] if features else []
    relations = [k for k in range(K) if kinds[k] == "relation"] if features else []
    projection = _projection(len(hints), model, teacher, x, int(cfg.seed)) if hints else None
    weights = [*model.parameters(), *([projection] if hints else [])]
    opt = _optimizer(weights, cfg, device)
    first_epoch, step, done_before = 0, 0, 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        if projection is not None:
            projection.data.copy_(resume["projection"])
        opt.load_state_dict(resume["optimizer"])
        g.set_state(resume["batch_rng"])
        model.generator.set_state(resume["dropout_rng"])
        first_epoch, step, done_before = int(resume["epoch"]), int(resume["step"]), float(resume["elapsed"])

    def snapshot(epoch: int, elapsed: float) -> dict:
        return {
            "epoch": epoch,
            "step": step,
            "elapsed": elapsed,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "batch_rng": g.get_state(),
            "dropout_rng": model.generator.get_state(),
        } | ({} if projection is None else {"projection": projection.detach().clone()})

    model.train()
    # The epoch's images are gathered in batch order a block of whole batches at a time, into one
    # reused buffer: each batch is then a slice, not a gather of scattered rows (140 ms of an
    # 800-800 student's 60k epoch), and a block stays in cache where a whole epoch's copy (188 MB)
    # cost 55 ms of page faults a run. Unless a batch is moved or distorted (or the teacher reads
    # its pixels) a block is standardised at once: per batch it cost a 30-30 student as much as
    # its matmuls.
    block = bs * max(1, BLOCK_ROWS // bs)
    buffer = torch.empty((min(block, n), *x.shape[1:]), dtype=x.dtype, device=device)
    ready = not (cfg.jitter or cfg.elastic or features or (teacher is not None and teacher.reads_images))
    start, last_report = time.perf_counter() - done_before, 0.0
    look = float(cfg.first_look) if first_epoch < int(cfg.eval_every) else 0.0
    for epoch in range(first_epoch, int(cfg.epochs)):
        perm = torch.randperm(n, generator=g).to(device)
        labels = y[perm]
        sums = torch.zeros(3, K, device=device)  # soft, hard, correct; summed over batches
        seen = 0
        for b in range(per_epoch):
            if should_stop():
                return
            at = b * bs % block
            if at == 0:  # the next block of this epoch's images
                todo = perm[b * bs : b * bs + block]
                images = torch.index_select(x, 0, todo, out=buffer[: len(todo)])
                if ready:
                    normalize(images, out=images)
            batch = slice(b * bs, (b + 1) * bs)
            rows, xb, yb, moved = perm[batch], images[at : at + bs], labels[batch], None
            if cfg.jitter:
                xb, moved = shifts.jitter(xb, int(cfg.jitter), g)
            if cfg.elastic:
                xb = elastic.distort(xb, cfg.elastic, g)
            tb = None if teacher is None else teacher.batch(rows, moved, xb)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, steps, warmup_steps, cfg.optimizer)
            known = None
            if features:
                logits, h = model(xb, with_hidden=True, normalized=ready)  # (K, B, 10), (K, B, units)
                known = _feature_terms(h, teacher.features(xb), hints, relations, projection)
            else:
                logits = model(xb, normalized=ready)  # (K, B, 10)
            if peer is not None:  # each mutual model's target: its peer's logits, held fixed
                tb = _peer_targets(logits, tb, peer)
            T_now = T_ if T_slope is None else T_ + T_slope * (step / steps)
            loss, soft, hard = stacked_losses(logits, tb, yb, T_now, alpha_, known)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if cfg.max_norm:
                model.apply_max_norm(cfg.max_norm)
            # in place: fewer operations a step, and a small student's step is mostly their overhead
            sums[:2].add_(torch.stack((soft, hard)), alpha=len(yb))
            sums[2].add_((logits.argmax(-1) == yb).sum(1))
            seen += len(yb)
            step += 1
            now = time.perf_counter() - start
            if look and now >= look and epoch < int(cfg.eval_every) and b < per_epoch - 1:
                look = 0.0  # once: the test pass costs as much as a few steps
                _check_finite(sums, epoch, K, cfg)
                errors = count_errors(predict_logits(model, data.test_x), data.test_y)
                yield _event("partial", epoch, cfg, step, steps, now, sums / seen, errors, len(data.test_y))
                model.train()
            elif now - last_report >= report_every and b < per_epoch - 1:
                last_report = now
                yield _event("step", epoch, cfg, step, steps, now, sums / seen)
        _check_finite(sums, epoch, K, cfg)
        if (epoch + 1) % int(cfg.eval_every) and epoch + 1 < int(cfg.epochs):
            continue  # no test this epoch (cfg.eval_every)
        test_logits = predict_logits(model, data.test_x)
        elapsed = time.perf_counter() - start
        errors = count_errors(test_logits, data.test_y)
        ev = _event("epoch", epoch + 1, cfg, step, steps, elapsed, sums / seen, errors, len(data.test_y))
        ev.snapshot = lambda e=epoch + 1, t=elapsed: snapshot(e, t)
        yield ev
        model.train()


def _optimizer(weights, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """`cfg.optimizer` over `weights`, fused: one kernel reads each weight, its gradient and
    moments once, where the default (foreach) makes a pass over all of them per elementwise op.
    An 800-800 student's Adam step on a 2-core CPU: 2.1 ms -> 0.68 ms, a third of its epoch."""
    fused = device.type in ("cpu", "cuda", "mps")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(weights, lr=cfg.lr, momentum=0.9, nesterov=True, fused=fused)
    return torch.optim.Adam(weights, lr=cfg.lr, fused=fused)


def _schedule(K: int, T, T_end, alpha, device):
    """(T, its slope over the run or None, alpha) as tensors of K, each value checked."""
    if len(T) != K or len(alpha) != K:
        raise ValueError(
            _("need one T and one alpha per model ({models}), got {ts} and {alphas}").format(
                models=K, ts=len(T), alphas=len(alpha)
            )
        )
    T_ = torch.tensor([check_training_t(t) for t in T], device=device)
    if T_end is not None and len(T_end) != K:
        raise ValueError(
            _("need one final T per model ({models}), got {count}").format(models=K, count=len(T_end))
        )
    T_slope = None
    if T_end is not None:
        T_slope = torch.tensor([check_training_t(t) for t in T_end], device=device) - T_
    return T_, T_slope, torch.tensor([check_alpha(a) for a in alpha], device=device)


def _knowledge(K: int, knowledge, peers, model) -> tuple[tuple[str, ...], torch.Tensor | None]:
    """Each model's kind of knowledge, checked, and each one's peer (itself if none), or None
    when no model learns from a peer."""
    kinds = ("logits",) * K if knowledge is None else tuple(knowledge)
    if len(kinds) != K or any(k not in KNOWLEDGE for k in kinds):
        raise ValueError(
            _("need one kind of knowledge ({choices}) per model ({models}), got {value}").format(
                choices=", ".join(KNOWLEDGE), models=K, value=repr(knowledge)
            )
        )
    if any(k in FROM_FEATURES for k in kinds) and not model.hidden:
        raise ValueError(_("hint and relation students learn in a hidden layer: give them one"))
    if "mutual" not in kinds:
        return kinds, None
    pairs = list(peers) if peers is not None else []
    if len(pairs) != K or any(
        (kinds[k] == "mutual") != (0 <= p < K and p != k and pairs[p] == k and kinds[p] == "mutual")
        for k, p in enumerate(pairs)
    ):
        raise ValueError(_("mutual students come in pairs, each the other's peer"))
    return kinds, torch.tensor([p if p >= 0 else k for k, p in enumerate(pairs)])


def _projection(n: int, model, teacher, x, seed: int) -> torch.nn.Parameter:
    """The hint students' learned maps from their last hidden layer to the teacher's (n, units,
    units_t), drawn like nn.Linear's weights from the run's seed."""
    units, units_t = model.hidden[-1], teacher.features(x[:1]).shape[1]
    g = torch.Generator().manual_seed(seed)
    w = (torch.rand(n, units, units_t, generator=g) * 2 - 1) / units**0.5
    return torch.nn.Parameter(w.to(x.device))


def _feature_terms(h, teacher_h, hints, relations, projection) -> tuple[torch.Tensor, torch.Tensor]:
    """(which models learn from the teacher's features, each one's term) for stacked_losses."""
    K = h.shape[0]
    uses = torch.zeros(K, dtype=torch.bool, device=h.device)
    terms = torch.zeros(K, dtype=h.dtype, device=h.device)
    for rows, values in (
        (hints, lambda: hint_terms(h[hints], teacher_h, projection)),
        (relations, lambda: relation_terms(h[relations], teacher_h)),
    ):
        if rows:
            at = torch.tensor(rows, device=h.device)
            uses[at] = True
            terms = terms.index_put((at,), values())
    return uses, terms


def _peer_targets(logits: torch.Tensor, teacher: torch.Tensor | None, peer: torch.Tensor) -> torch.Tensor:
    """(K, B, C): a mutual model's target is its peer's logits (held fixed); the others keep the
    teacher's (their own where there is no teacher: then they do not listen)."""
    others = logits.detach() if teacher is None else teacher.unsqueeze(0).expand_as(logits)
    mutual = (peer != torch.arange(len(peer))).to(logits.device).view(-1, 1, 1)
    return torch.where(mutual, logits.detach()[peer.to(logits.device)], others)


def _check_finite(sums: torch.Tensor, epoch: int, K: int, cfg: TrainConfig) -> None:
    lost = (~torch.isfinite(sums).all(0)).nonzero().flatten().tolist()
    if lost:
        which = ", ".join(str(k + 1) for k in lost)
        raise Diverged(
            _(
                "training diverged in epoch {epoch}: the loss of model {which} of {models} is not a "
                "number (learning rate {lr:g} with {optimizer} is too high for it)"
            ).format(epoch=epoch + 1, which=which, models=K, lr=cfg.lr, optimizer=cfg.optimizer)
        )


def _event(kind, epoch, cfg, step, steps, elapsed, means, errors=(), total=0) -> Progress:
    soft, hard, acc = means.tolist()
    return Progress(kind, epoch, int(cfg.epochs), step, steps, elapsed, soft, hard, acc, list(errors), total)


def run_to_end(events: Iterator[Progress], on_progress: OnProgress = ignore, whole: bool = False) -> Progress:
    """Drain a training generator, handing every event to `on_progress`; the last epoch event.

    The one way every caller (pages' jobs, the CLI, experiments, teachers) runs a training to
    its end. Stopped (kdviz.control) when it stopped before its first epoch ended, or, with
    `whole`, before its last: a caller that needs the whole run need not check."""
    last = None
    for ev in events:
        on_progress(ev)
        if ev.kind == "epoch":
            last = ev
    if last is None or (whole and last.epoch < last.epochs):
        raise Stopped
    return last
