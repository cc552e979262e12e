"""What the small model buys: parameters, size on disk and inference time of teacher and students.

Distillation exists to deploy a small model, so the Lab puts the teacher and its students side
by side. Sizes are the real byte counts of the weights written as safetensors (fp32 and fp16).
Inference time is measured here, on this machine, at batch 1 (one request) and batch 256 (a
throughput job), per image, for every model in one go: each round times every model once, in
turn, and the median over rounds is kept, so a background hiccup hits all models alike and the
ratio between them is fair. Only the shape matters for these numbers, not the trained values.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from safetensors.torch import save as safetensors_bytes

from kdviz.i18n import N_
from kdviz.models import StackedMLP, check_hidden, shape_name


@dataclass(frozen=True)
class Footprint:
    name: str
    hidden: tuple[int, ...]
    parameters: int
    fp32_bytes: int
    fp16_bytes: int
    ms_batch1: float  # per image
    ms_batch256: float  # per image

    def row(self) -> dict:
        """For a table: stable English keys (a page shows them with `_()`)."""
        return {
            N_("model"): self.name,
            N_("hidden layers"): shape_name(self.hidden),
            N_("parameters"): self.parameters,
            N_("fp32 on disk (MB)"): round(self.fp32_bytes / 1e6, 2),
            N_("fp16 on disk (MB)"): round(self.fp16_bytes / 1e6, 2),
            N_("ms per image, batch 1"): round(self.ms_batch1, 4),
            N_("ms per image, batch 256"): round(self.ms_batch256, 5),
        }


def _size(model: StackedMLP, dtype: torch.dtype) -> int:
    return len(safetensors_bytes({k: v.to(dtype).contiguous() for k, v in model.state_dict().items()}))


@torch.no_grad()
def measure(
    models: dict[str, Sequence[int]], device: str | torch.device = "cpu", rounds: int = 15
) -> list[Footprint]:
    """A Footprint per named shape (name -> hidden sizes), timed together (see the docstring)."""
    device = torch.device(device)
    nets = {name: StackedMLP(check_hidden(h), 1).to(device).eval() for name, h in models.items()}
    inputs = {b: torch.rand(b, 784, device=device) for b in (1, 256)}
    times: dict[tuple[str, int], list[float]] = {(n, b): [] for n in nets for b in inputs}
    for r in range(rounds + 1):
        for name, net in nets.items():
            for b, x in inputs.items():
                start = time.perf_counter()
                net(x)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if r:  # round 0 warms up (first-call allocations)
                    times[name, b].append((time.perf_counter() - start) * 1000 / b)
    return [
        Footprint(
            name,
            net.hidden,
            net.parameters_per_model(),
            _size(net, torch.float32),
            _size(net, torch.float16),
            statistics.median(times[name, 1]),
            statistics.median(times[name, 256]),
        )
        for name, net in nets.items()
    ]


def parameters(hidden: Sequence[int], inputs: int = 784, classes: int = 10) -> int:
    """Weights and biases of a 784 -> hidden... -> 10 MLP."""
    sizes = [inputs, *check_hidden(hidden), classes]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def tradeoff(models: Sequence[tuple[str, Sequence[int], int]]) -> pd.DataFrame:
    """(label, hidden sizes, test errors) per trained model -> the points of errors against size."""
    return pd.DataFrame(
        [
            {
                "model": label,
                "fp32 MB": 4 * parameters(h) / 1e6,
                "parameters": parameters(h),
                "test errors": e,
            }
            for label, h, e in models
        ]
    )
