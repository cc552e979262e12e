"""Measurements on trained models that the paper's experiments report: pure functions.

`bias_sweep` and `best_shift`: how many test errors remain when a class's output bias is moved
(adding a shift to a class's logits is the same as adding it to its bias). As in the paper the
shift is chosen on the test set: it shows how much of the damage is a mere bias, not a fair
test error. `matching_logits_cosine`: how close distillation's gradient is to logit matching's.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from kdviz.losses import soft_loss


def bias_sweep(logits, labels, cls, shifts: Sequence[float]) -> pd.DataFrame:
    """Test errors after adding each shift to the logits of class(es) `cls` (= to their output bias).

    Columns: shift, errors (all images), class_errors (images of `cls`), class_total.
    """
    logits, labels = torch.as_tensor(logits), torch.as_tensor(labels)
    classes = [cls] if isinstance(cls, int) else list(cls)
    mask = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    mask[classes] = 1
    of_cls = torch.isin(labels, torch.tensor(classes, device=labels.device))
    rows = []
    for s in shifts:
        wrong = (logits + float(s) * mask).argmax(-1) != labels
        rows.append((float(s), int(wrong.sum()), int((wrong & of_cls).sum()), int(of_cls.sum())))
    return pd.DataFrame(rows, columns=["shift", "errors", "class_errors", "class_total"])


def best_shift(sweep: pd.DataFrame) -> float:
    """The shift with the fewest errors; ties go to the smallest |shift|."""
    best = sweep[sweep["errors"] == sweep["errors"].min()]
    return float(best.loc[best["shift"].abs().idxmin(), "shift"])


def matching_logits_cosine(student_logits, teacher_logits, Ts: Sequence[float]) -> pd.DataFrame:
    """Per-example cosine between d(T^2 KL)/dz and d(0.5 ||z - v||^2)/dz, logits zero-meaned.

    The paper (section 2.1): for T large compared with the logits, T^2 KL's gradient is
    (z - v) / C, so distillation becomes matching logits; the cosine climbs to 1 and
    `scale` (|grad soft| / |(z - v) / C|) to 1.
    """
    z = torch.as_tensor(student_logits, dtype=torch.float64)
    v = torch.as_tensor(teacher_logits, dtype=torch.float64)
    z, v = z - z.mean(-1, keepdim=True), v - v.mean(-1, keepdim=True)
    matching_grad = z - v  # the gradient of logit matching, 0.5 ||z - v||^2
    rows = []
    for t in Ts:
        zz = z.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(soft_loss(zz, v, t) * len(z), zz)  # undo batchmean
        cos = torch.nn.functional.cosine_similarity(g, matching_grad, dim=-1)
        scale = g.norm(dim=-1) / (matching_grad.norm(dim=-1) / z.shape[-1]).clamp_min(1e-12)
        rows.append((float(t), float(cos.mean()), float(cos.min()), float(scale.median())))
    return pd.DataFrame(rows, columns=["T", "cosine", "min_cosine", "scale"])
