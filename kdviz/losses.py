"""The distillation loss of Hinton, Vinyals & Dean (2015), in kdviz's convention.

    L = alpha * T^2 * KL( q(teacher_logits / T) || q(student_logits / T) )
        + (1 - alpha) * CE( softmax(student_logits), y )

alpha is the weight of the teacher's soft targets: 0 is ordinary training on labels,
1 is pure distillation. The KL is summed over classes and averaged over the batch
('batchmean'; PyTorch's default 'mean' would also divide by the number of classes),
with the teacher's distribution as the target. The gradient of the KL w.r.t. a student
logit is (q_i - p_i) / T, so the soft term shrinks like 1/T^2 as T grows; multiplying
by T^2 keeps soft and hard terms comparable when T changes (paper, section 2).
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


def stacked_losses(
    student_logits: torch.Tensor,  # (K, B, C): K students on the same batch
    teacher_logits: torch.Tensor | None,  # (B, C), or None when every alpha is 0
    targets: torch.Tensor,  # (B,)
    T: torch.Tensor,  # (K,) one temperature per student
    alpha: torch.Tensor,  # (K,) one alpha per student
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-student soft and hard terms, and the total loss to minimise.

    Each student's total is alpha_k * soft_k + (1 - alpha_k) * hard_k, the same formula
    as `distillation_loss`; the totals are summed (not averaged) so every student
    receives exactly the gradient it would get if trained alone.
    """
    K, B, C = student_logits.shape
    hard = (
        F.cross_entropy(student_logits.reshape(K * B, C), targets.repeat(K), reduction="none")
        .view(K, B)
        .mean(1)
    )  # (K,)
    if teacher_logits is None:
        soft = torch.zeros_like(hard)
    else:
        t = T.view(K, 1, 1).to(student_logits.dtype)
        log_qs = F.log_softmax(student_logits / t, dim=-1)
        log_qt = F.log_softmax(teacher_logits.detach().unsqueeze(0) / t, dim=-1)
        kl = (log_qt.exp() * (log_qt - log_qs)).sum(-1).mean(1)  # (K,) batchmean
        soft = T.to(kl.dtype) ** 2 * kl
    total = (alpha * soft + (1 - alpha) * hard).sum()
    return total, soft.detach(), hard.detach()
