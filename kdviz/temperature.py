"""Temperature softmax and the pure functions the Temperature Explorer plots.

q_i(T) = exp(z_i / T) / sum_j exp(z_j / T)          (Hinton et al. 2015, eq. 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from kdviz.i18n import _

# The docs' figure: T = 1 (the original distribution) and six hotter temperatures.
DOC_TEMPERATURES = (1.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def check_temperature(T) -> float:
    """Return T as a float, or raise ValueError unless it is a finite number > 0."""
    try:
        t = float(T)
    except (TypeError, ValueError):
        raise ValueError(_("temperature T must be a number, got {T}").format(T=repr(T))) from None
    if not math.isfinite(t) or t <= 0:
        raise ValueError(_("temperature T must be a finite number > 0, got {T}").format(T=repr(T)))
    return t


def as_logits(values) -> torch.Tensor:
    """Tensor, array or list -> float64 tensor (float32/16 tensors keep their dtype)."""
    if isinstance(values, torch.Tensor):
        return values if values.is_floating_point() else values.double()
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def softmax_t(logits, T) -> torch.Tensor:
    """Temperature softmax along the last axis.

    Stable for huge logits (±1e4): the logits are divided by T first and the softmax
    subtracts the row maximum, so exp never overflows.
    """
    T = check_temperature(T)
    z = as_logits(logits)
    return torch.softmax(z / T, dim=-1)


def entropy(probs, base: float = 2.0) -> torch.Tensor:
    """Shannon entropy along the last axis (bits by default); 0 * log 0 counts as 0."""
    p = as_logits(probs)
    logp = torch.where(p > 0, torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)), 0.0)
    return -(p * logp).sum(-1) / math.log(base)


def normalized_entropy(probs) -> torch.Tensor:
    """Entropy divided by its maximum log(C): 0 for one-hot, 1 for uniform."""
    p = as_logits(probs)
    n = p.shape[-1]
    return entropy(p, base=math.e) / math.log(n) if n > 1 else torch.zeros(p.shape[:-1])


def probs_to_logits(probs) -> torch.Tensor:
    """Logits that reproduce `probs` at T = 1: z = log p (defined up to a constant).

    Probabilities are normalised to sum to one first. A zero probability becomes a
    logit of -inf, which stays at probability 0 at every T. Raises ValueError for
    negative, non-finite or all-zero input.
    """
    p = as_logits(probs)
    if not torch.isfinite(p).all():
        raise ValueError(_("probabilities must be finite numbers"))
    if (p < 0).any():
        raise ValueError(_("probabilities must not be negative"))
    total = p.sum(-1, keepdim=True)
    if (total <= 0).any():
        raise ValueError(_("at least one probability must be > 0"))
    return torch.log(p / total)


def is_blank(v) -> bool:
    return (
        v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip().lower() in ("", "nan", "none")
    )


def filled_rows(classes, values) -> list[tuple]:
    """A typed table's (class, value) rows, less the fully empty ones (an empty row is no class)."""
    return [(c, v) for c, v in zip(classes, values) if not (is_blank(c) and is_blank(v))]


def parse_distribution(classes, values, mode: str = "probabilities"):
    """Validate a user's table: class names and their probabilities or logits.

    Returns (class names, float64 logits). Every problem a person can type raises a
    ValueError whose message says what to fix.
    """
    rows = filled_rows(classes, values)
    classes, values = [c for c, v in rows], [v for c, v in rows]
    names = ["" if c is None else str(c).strip() for c in classes]
    if len(names) < 2:
        raise ValueError(_("add at least two classes: a softmax over one class is always 1"))
    if any(not n or n.lower() == "nan" for n in names):
        raise ValueError(_("every class needs a name"))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(_("class names must be unique; repeated: {names}").format(names=", ".join(dupes)))
    nums = []
    for n, v in zip(names, values):
        try:
            x = float(str(v).strip()) if v is not None else math.nan
        except ValueError:
            raise ValueError(
                _("the value for {name} is not a number: {value}").format(name=repr(n), value=repr(v))
            ) from None
        if not math.isfinite(x):
            raise ValueError(_("the value for {name} is empty or not a finite number").format(name=repr(n)))
        nums.append(x)
    if mode == "logits":
        return names, torch.tensor(nums, dtype=torch.float64)
    if mode != "probabilities":
        raise ValueError(_("mode must be 'probabilities' or 'logits', got {mode}").format(mode=repr(mode)))
    bad = [n for n, x in zip(names, nums) if x < 0]
    if bad:
        raise ValueError(_("probabilities cannot be negative ({names})").format(names=", ".join(bad)))
    if sum(nums) <= 0:
        raise ValueError(_("the probabilities are all zero; at least one must be > 0"))
    return names, probs_to_logits(nums)


def formula_terms(logits, T) -> tuple[pd.DataFrame, float]:
    """The numbers inside q_i = exp(z_i/T) / sum_j exp(z_j/T), one row per class, and the shift.

    "exp" is exp(z/T) itself, the number a calculator gives, so a student can check the page.
    Only when that would overflow or vanish (|z/T| > 700 for the largest term) is every exp
    taken of z/T - shift, shift = the largest z/T: the factor cancels in the ratio, and the
    page shows it as its own step. Returns (table, shift); shift is 0 when none was needed.
    """
    z = as_logits(logits).double()
    zt = z / check_temperature(T)
    top = float(zt.max())
    shift = top if abs(top) > 700 else 0.0
    e = torch.exp(zt - shift)
    table = pd.DataFrame(
        {"z": z.tolist(), "z/T": zt.tolist(), "exp": e.tolist(), "q": (e / e.sum()).tolist()}
    )
    return table, shift


def _softmax_many(z: torch.Tensor, ts: list[float]) -> torch.Tensor:
    """q(T) for every T at once: (len(ts), C). One batched softmax; the page reruns on every T move."""
    return torch.softmax(z.unsqueeze(0) / torch.tensor(ts, dtype=z.dtype).unsqueeze(1), dim=-1)


def softened_table(
    logits, classes: Sequence[str], temperatures: Sequence[float] = DOC_TEMPERATURES
) -> pd.DataFrame:
    """Tidy table (class, T, probability) of the softened distribution at many temperatures."""
    z = as_logits(logits)
    if z.ndim != 1 or len(classes) != z.shape[0]:
        raise ValueError(_("need one logit per class"))
    ts = [check_temperature(t) for t in temperatures]
    q = _softmax_many(z, ts)
    return pd.DataFrame(
        {
            "class": list(classes) * len(ts),
            "T": [t for t in ts for _c in classes],
            "probability": q.reshape(-1).tolist(),
        }
    )


def entropy_curve(logits, temperatures: Sequence[float]) -> pd.DataFrame:
    """Entropy (bits) and normalised entropy of q(T) for each T, one row per T."""
    z = as_logits(logits)
    ts = [check_temperature(t) for t in temperatures]
    q = _softmax_many(z, ts)
    return pd.DataFrame(
        {"T": ts, "entropy_bits": entropy(q).tolist(), "normalized": normalized_entropy(q).tolist()}
    )


def log_grid(lo: float = 0.1, hi: float = 100.0) -> list[float]:
    """Human-friendly log-spaced values (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 per decade)."""
    mantissas = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
    out = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in mantissas:
            v = round(m * 10.0**e, 6)
            if lo - 1e-12 <= v <= hi + 1e-12:
                out.append(v)
    return out
