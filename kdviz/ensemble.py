"""An ensemble teacher: K models that differ only by seed, trained as one stacked model, and the
soft targets of their ensemble (the paper's title: "distilling the knowledge in an ensemble").

    ensemble distribution at T:   p_bar(T) = (1/K) sum_k softmax(z_k / T)
    as logits for the engine:     v(T) = T * log p_bar(T),   so that softmax(v(T) / T) = p_bar(T)

The members' predictions are averaged as probabilities (the arithmetic mean of their predictive
distributions), not as logits. Hinton et al. (2015, introduction) allow either mean as soft
targets; the arithmetic one is what an ensemble predicts (its speech ensemble, section 4,
averaged the members' predictions): a member that is confidently wrong adds at most 1/K to a
class, whereas one large logit can dominate a logit average (= a normalised geometric mean of
probabilities, reported beside it for comparison).

Temperature: the engine (kdviz.train) divides the teacher's logits by T. Averaging at T = 1 and
handing over log p_bar(1) would make the student learn softmax(log p_bar(1) / T), which is
p_bar(1)^(1/T) renormalised, not the average of the members' softened distributions
p_bar(T). So the targets are computed for the run's T, exactly: v(T) above. They hold for that
T only; a student at another T needs its own.

The members share the engine's batch order and jitter (one stacked run); each starts from the
initial weights of its own seed (seed, seed + 1, ...) and draws its own dropout masks, which is
where an ensemble's diversity mostly comes from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from kdviz.data import MNIST
from kdviz.i18n import _
from kdviz.models import StackedMLP
from kdviz.teacher import TeacherSpec
from kdviz.temperature import check_temperature
from kdviz.train import Progress, run_to_end, train


def members(spec: TeacherSpec, k: int) -> StackedMLP:
    """K models of `spec`'s shape and dropout in one StackedMLP; member i starts from the
    initial weights StackedMLP draws for seed spec.seed + i (a StackedMLP's K copies would
    otherwise all start alike)."""
    if not 1 <= int(k) <= 64:
        raise ValueError(_("an ensemble needs 1-64 members, got {k}").format(k=k))
    model = StackedMLP(spec.hidden, int(k), spec.dropout, spec.input_dropout, seed=spec.seed)
    with torch.no_grad():
        for i in range(1, int(k)):
            own = StackedMLP(spec.hidden, 1, seed=spec.seed + i)
            for stacked, single in zip(model.parameters(), own.parameters()):
                stacked[i] = single[0]
    return model


def train_members(
    spec: TeacherSpec,
    k: int,
    data: MNIST,
    train_size: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[StackedMLP, Progress] | None:
    """Train K members with `spec`'s recipe as one stacked run; (model, last epoch event), or
    None when stopped before the end."""
    model = members(spec, k).to(data.device)
    cfg = replace(spec.train_config(), train_size=train_size)
    events = train(model, data, cfg, (1.0,) * k, (0.0,) * k, should_stop=should_stop)
    last = run_to_end(events, on_progress)
    return None if last is None or last.epoch < cfg.epochs else (model, last)


def probabilities(member_logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """The ensemble's distribution p_bar(T) = (1/K) sum_k softmax(z_k / T): (K, N, C) -> (N, C)."""
    return soft_target_logits(member_logits, T).div(T).softmax(-1)


def soft_target_logits(member_logits: torch.Tensor, T: float) -> torch.Tensor:
    """v(T) = T * log p_bar(T), so that softmax(v / T) = p_bar(T): (K, N, C) -> (N, C).

    log p_bar = logsumexp_k log_softmax(z_k / T) - log K: no probability is ever exponentiated
    and logged again, so tiny probabilities keep their digits (the dark knowledge lives there)."""
    T = check_temperature(T)
    K = member_logits.shape[0]
    log_q = F.log_softmax(member_logits / T, dim=-1)  # (K, N, C)
    return T * (torch.logsumexp(log_q, dim=0) - math.log(K))  # (N, C)


def logit_average(member_logits: torch.Tensor) -> torch.Tensor:
    """The other mean, for comparison: (1/K) sum_k z_k; its softmax at any T is the normalised
    geometric mean of the members' softmax(z_k / T). (K, N, C) -> (N, C)."""
    return member_logits.mean(0)
