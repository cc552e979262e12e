"""MLPs for teacher and students, stored as K stacked copies so K students train as one.

A teacher is K = 1. A comparison (labels-only vs distilled) or a sweep is K students of
one shape: weights (K, in, out), one batched matmul per layer. Adam's update is
elementwise, so K stacked students train exactly as K separate ones would.

By default the K copies start from the same weights, so students in a comparison differ only
by their loss. `inits` gives each copy its own seed instead: the same comparison repeated over
seeds (same batches, different initial weights) trains as one stack too, and copy k starts
exactly where a lone model of seed inits[k] would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kdviz.i18n import _

MAX_UNITS = 8192  # per hidden layer; more does not fit a classroom machine
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081  # MNIST's; inputs arrive in [0, 1]


def check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    """Validate hidden layer sizes, e.g. (800, 800); () is a linear model."""
    try:
        sizes = tuple(int(h) for h in hidden)
    except (TypeError, ValueError):
        raise ValueError(
            _("hidden sizes must be whole numbers, got {value}").format(value=repr(hidden))
        ) from None
    if len(sizes) > 8 or any(not 1 <= h <= MAX_UNITS for h in sizes):
        raise ValueError(
            _("hidden sizes must be 1-{most} units, at most 8 layers; got {value}").format(
                most=MAX_UNITS, value=sizes
            )
        )
    return sizes


def parse_hidden(text: str) -> tuple[int, ...]:
    """'800,800', '800-800' or '800x800' -> (800, 800); '' -> () (a linear model).

    Every part must be a whole number: '-800' is refused, not read as 800."""
    text = str(text).strip()
    parts = re.split(r"\s*[,x-]\s*", text) if text else []
    if any(not p.isdigit() for p in parts):
        raise ValueError(
            _("hidden sizes are whole numbers separated by commas, like 800,800; got {value}").format(
                value=repr(text)
            )
        )
    return check_hidden(parts)


def shape_name(hidden: Sequence[int]) -> str:
    """(800, 800) -> '800-800': a shape as every table, label and chart writes it."""
    return "-".join(map(str, hidden))


class StackedMLP(nn.Module):
    """K independent ReLU MLPs 784 -> hidden... -> 10 evaluated together.

    All K copies start from the same initial weights (drawn from `seed` with
    nn.Linear's default uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))), so students in a
    comparison differ only by their loss; or, with `inits` (one seed per copy), each from its own.
    """

    def __init__(
        self,
        hidden: Sequence[int],
        k: int = 1,
        dropout: float = 0.0,  # on hidden units (the paper's teacher: 0.5)
        input_dropout: float = 0.0,  # on pixels (the paper's teacher: 0.2)
        seed: int = 0,
        in_features: int = 784,
        classes: int = 10,
        inits: Sequence[int] | None = None,  # one initial-weights seed per copy; None: all `seed`
    ):
        super().__init__()
        self.hidden = check_hidden(hidden)
        self.k, self.dropout, self.input_dropout = int(k), float(dropout), float(input_dropout)
        # Dropout masks come from this generator when set (the training run owns it), so a
        # run's masks do not depend on other threads or on the process-wide seed, and a
        # resumed run draws the same masks as an unbroken one.
        self.generator: torch.Generator | None = None
        inits = [int(seed)] * self.k if inits is None else [int(i) for i in inits]
        if len(inits) != self.k:
            raise ValueError(
                _("need one initial-weights seed per model ({models}), got {count}").format(
                    models=self.k, count=len(inits)
                )
            )
        drawn = {i: _initial_weights(self.hidden, i, in_features, classes) for i in dict.fromkeys(inits)}
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for layer in range(len(self.hidden) + 1):
            self.weights.append(nn.Parameter(torch.stack([drawn[i][layer][0] for i in inits])))
            self.biases.append(nn.Parameter(torch.stack([drawn[i][layer][1] for i in inits])))

    def forward(self, x: torch.Tensor, with_hidden: bool = False, normalized: bool = False):
        """x: (B, 784) shared by all K, or (K, B, 784) -> logits (K, B, 10); `with_hidden`:
        (logits, the last hidden layer's activations (K, B, units), before dropout), what hint
        and relation students learn from (kdviz.losses). Pixels in [0, 1], or `normalized`
        already (`normalize`: kdviz.train does a whole epoch's images at once)."""
        if not normalized:
            x = normalize(x)
        # K = 1 (a teacher, one student) takes plain matmuls: on a CPU a batch of one matmul
        # costs more than the matmul itself.
        one = self.k == 1
        if one:
            h = x[0] if x.dim() == 3 else x
        else:
            h = x.unsqueeze(0).expand(self.k, -1, -1) if x.dim() == 2 else x
        if self.training and self.input_dropout:
            h = _dropout(h, self.input_dropout, self.generator)
        last = len(self.weights) - 1
        hidden = h
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            # K = 1: views of the (1, in, out) weights, not w[0], whose backward fills a zero
            # tensor of the weight's size and copies into it (5-8% of an 800-800 student's step)
            if one:
                h = torch.addmm(b.view(b.shape[-1]), h, w.view(w.shape[-2], w.shape[-1]))
            else:
                h = torch.baddbmm(b, h, w)  # (K, B, out)
            if i < last:
                h = hidden = F.relu(h)
                if self.training and self.dropout:
                    h = _dropout(h, self.dropout, self.generator)
        logits = h.unsqueeze(0) if one else h
        if with_hidden:
            return logits, hidden.unsqueeze(0) if one else hidden
        return logits

    @torch.no_grad()
    def apply_max_norm(self, max_norm: float) -> None:
        """Cap each hidden unit's incoming weight vector at L2 norm max_norm (dropout paper)."""
        for w in list(self.weights)[:-1]:
            norms = w.norm(dim=1, keepdim=True)  # (K, 1, out)
            w.mul_((max_norm / norms).clamp(max=1.0))

    def parameters_per_model(self) -> int:
        return sum(p[0].numel() for p in self.parameters())


def normalize(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """MNIST's standardisation, the same for teacher and students; in place into `out` if given."""
    if out is None:
        return (x - PIXEL_MEAN) / PIXEL_STD
    return torch.sub(x, PIXEL_MEAN, out=out).div_(PIXEL_STD)


def _initial_weights(
    hidden, seed: int, in_features: int, classes: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One model's (weight, bias) per layer from `seed`: nn.Linear's uniform(+-1/sqrt(fan_in))."""
    g = torch.Generator().manual_seed(int(seed))
    sizes = [in_features, *hidden, classes]
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = (torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound
        b = (torch.rand(1, fan_out, generator=g) * 2 - 1) * bound
        out.append((w, b))
    return out


def _dropout(h: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return F.dropout(h, p)
    # uniform < keep-probability: half the time of bernoulli_ on a CPU, the same masks' law
    keep = torch.rand(h.shape, generator=generator, device=h.device) >= p
    return h * keep * (1 / (1 - p))


@torch.no_grad()
def predict_logits(model: StackedMLP, x: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """Logits (K, N, 10) in eval mode, in chunks so a big test set fits in memory (by default
    8,192 rows between all K models: speed per model is flat from 512 to 8,192 on a CPU)."""
    batch = batch or max(512, 8192 // model.k)
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)], dim=1)
    model.train(was_training)
    return out


def count_errors(logits: torch.Tensor, y: torch.Tensor) -> list[int]:
    """Misclassified examples per model; logits (K, N, C)."""
    return (logits.argmax(-1) != y.unsqueeze(0)).sum(1).tolist()
