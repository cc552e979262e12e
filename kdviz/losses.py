"""The distillation loss of Hinton, Vinyals & Dean (2015), in kdviz's convention.

    L = alpha * T^2 * KL( q(teacher_logits / T) || q(student_logits / T) )
        + (1 - alpha) * CE( softmax(student_logits), y )

alpha is the weight of the teacher's soft targets: 0 is ordinary training on labels,
1 is pure distillation. The KL is summed over classes and averaged over the batch
('batchmean'; PyTorch's default 'mean' would also divide by the number of classes),
with the teacher's distribution as the target. The gradient of the KL w.r.t. a student
logit is (q_i - p_i) / T, so the soft term shrinks like 1/T^2 as T grows; multiplying
by T^2 keeps soft and hard terms comparable when T changes (paper, section 2).

The survey among our sources (001) names other kinds of knowledge than the logits (response-
based): feature-based and relation-based; and other schemes than a fixed teacher (offline):
online, where students teach each other. Each of these terms takes the soft term's place in the
same formula, L = alpha * term + (1 - alpha) * CE, so alpha means one thing in every row: the
weight of what a student learns from someone other than the labels.

    hint      feature-based (FitNets, Romero et al. 2015): the student's last hidden layer h_s,
              through a learned linear projection W (its units x the teacher's), regresses the
              teacher's last hidden layer h_t: the mean over the batch and the teacher's units of
              (h_s W - h_t)^2. FitNets trains the hint first and distils after; here both at once.
    relation  relation-based (RKD's distance term, Park et al. 2019): the student matches how far
              apart the teacher puts a batch's images from each other, not where it puts them.
              psi(i, j) = ||z_i - z_j|| / mu, mu the mean distance over the batch's pairs (so the
              two spaces' scales and sizes do not matter); the Huber loss (delta 1) between the
              student's and the teacher's psi, averaged over the pairs i != j, times RKD's weight
              for it, 25. On the last hidden layers.
    mutual    online (deep mutual learning, Zhang et al. 2018): two students with different initial
              weights and no teacher; each one's soft term is the KL above with the other's current
              logits as the target, held fixed for the step. DML updates the two in turn; here both
              on the same step, from the same batch (`stacked_losses` with one target per student).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from kdviz.i18n import _
from kdviz.temperature import check_temperature


def check_alpha(alpha) -> float:
    """Return alpha as a float, or raise ValueError unless 0 <= alpha <= 1."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(
            _("alpha must be a number in [0, 1], got {value}").format(value=repr(alpha))
        ) from None
    if math.isnan(a) or not 0.0 <= a <= 1.0:
        raise ValueError(_("alpha must be a number in [0, 1], got {value}").format(value=repr(alpha)))
    return a


def soft_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T) -> torch.Tensor:
    """T^2 * KL(q_teacher(T) || q_student(T)), averaged over the batch. Logits: (B, C)."""
    T = check_temperature(T)
    log_q_student = F.log_softmax(student_logits / T, dim=-1)
    log_q_teacher = F.log_softmax(teacher_logits.detach() / T, dim=-1)  # frozen teacher
    kl = F.kl_div(log_q_student, log_q_teacher, reduction="batchmean", log_target=True)
    return T * T * kl


def hard_loss(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the true labels at T = 1, averaged over the batch."""
    return F.cross_entropy(student_logits, targets)


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, T, alpha
) -> torch.Tensor:
    """alpha * soft_loss + (1 - alpha) * hard_loss (see the module docstring)."""
    alpha = check_alpha(alpha)
    return alpha * soft_loss(student_logits, teacher_logits, T) + (1 - alpha) * hard_loss(
        student_logits, targets
    )


RELATION_WEIGHT = 25.0  # RKD's weight on its distance term (Park et al. 2019, lambda_D)


def stacked_losses(
    student_logits: torch.Tensor,  # (K, B, C): K students on the same batch
    teacher_logits: torch.Tensor | None,  # (B, C); (K, B, C): one target each (mutual); None: no one
    targets: torch.Tensor,  # (B,)
    T: torch.Tensor,  # (K,) one temperature per student
    alpha: torch.Tensor,  # (K,) one alpha per student
    knowledge: tuple[torch.Tensor, torch.Tensor] | None = None,  # ((K,) bool: uses it, (K,) terms)
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-student soft and hard terms, and the total loss to minimise.

    Each student's total is alpha_k * soft_k + (1 - alpha_k) * hard_k, the same formula
    as `distillation_loss`; the totals are summed (not averaged) so every student
    receives exactly the gradient it would get if trained alone. A student marked in
    `knowledge` has another kind's term (hint, relation) in its soft term's place.
    """
    K, B, C = student_logits.shape
    # Classes first, (K, C, B): a softmax over the last dim of 10 classes runs at a tenth of the
    # speed of one over a leading dim on a CPU, and these losses were a quarter of a 30-30
    # student's step (27 of them stacked: 1.7 ms a step -> 0.6 ms; one 800-800: 0.36 -> 0.27 ms).
    s = student_logits.transpose(1, 2).contiguous()
    hard = F.cross_entropy(s, targets.expand(K, B), reduction="none").mean(1)  # (K,)
    if teacher_logits is None and knowledge is None:  # labels only: fewer ops, the same total
        return ((1 - alpha) * hard).sum(), torch.zeros_like(hard), hard.detach()
    if teacher_logits is None:
        soft = torch.zeros_like(hard)
    else:
        t = T.view(K, 1, 1).to(student_logits.dtype)
        teacher = teacher_logits.detach()
        teacher = teacher.transpose(1, 2) if teacher.dim() == 3 else teacher.t().unsqueeze(0)
        log_qs = F.log_softmax(s / t, dim=1)
        log_qt = F.log_softmax(teacher / t, dim=1)
        kl = (log_qt.exp() * (log_qt - log_qs)).sum(1).mean(1)  # (K,) batchmean
        soft = T.to(kl.dtype) ** 2 * kl
    if knowledge is not None:
        uses, terms = knowledge
        soft = torch.where(uses, terms, soft)
    total = (alpha * soft + (1 - alpha) * hard).sum()
    return total, soft.detach(), hard.detach()


def hint_terms(hidden: torch.Tensor, teacher_hidden: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """FitNets' hint (module docstring): (K, B, units) students, (B, units_t) teacher, (K, units,
    units_t) projections -> (K,) mean squared error of each projected student layer."""
    return (torch.bmm(hidden, projection) - teacher_hidden.detach().unsqueeze(0)).square().mean((1, 2))


def relation_terms(hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    """RKD's distance term (module docstring): (K, B, units) students, (B, units_t) teacher -> (K,).
    A batch of one image has no pairs: 0."""
    K, B = hidden.shape[:2]
    if B < 2:
        return hidden.sum((1, 2)) * 0.0
    pairs = ~torch.eye(B, dtype=torch.bool, device=hidden.device)
    psi_s = _relative_distances(hidden, pairs)
    with torch.no_grad():
        psi_t = _relative_distances(teacher_hidden.unsqueeze(0), pairs)
    huber = F.smooth_l1_loss(psi_s, psi_t.expand_as(psi_s), reduction="none", beta=1.0)
    return RELATION_WEIGHT * huber[:, pairs].mean(1)


def _relative_distances(z: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """(K, B, D) -> (K, B, B): each pair's Euclidean distance over the mean of the batch's pairs."""
    squares = z.square().sum(-1)
    d2 = squares.unsqueeze(2) + squares.unsqueeze(1) - 2 * torch.bmm(z, z.transpose(1, 2))
    # the diagonal is ~0 and outside every mean; the floor keeps sqrt's gradient finite there
    d = d2.clamp(min=1e-12).sqrt()
    mu = d[:, pairs].mean(1).clamp(min=1e-12)
    return d / mu.view(-1, 1, 1)
