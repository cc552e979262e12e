"""Whole-pixel translations of MNIST digits: the teacher's augmentation, and consistent teaching.

With shifts of up to s pixels each way there are (2s + 1)^2 of them (25 for the paper's
s = 2). Shift number i moves the image by dy = i // (2s + 1) - s rows and dx = i % (2s + 1) - s
columns, filling with background; i = 2s(s + 1) is no shift.

Consistent teaching (Beyer et al. 2022, "a good teacher is patient and consistent"): a
student trained on jittered images must be taught with the teacher's outputs *for the same
jittered image*; the logits of the unjittered image teach it something the image no longer
shows. Because the shifts are few, the teacher's logits for every shift of every training
image are computed once (60,000 x 25 x 10 floats, 60 MB) and a training step looks them up,
exactly as the unjittered logits are looked up: no teacher forward pass per step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

SIDE = 28


def count(max_shift: int) -> int:
    return (2 * int(max_shift) + 1) ** 2


def translate(x: torch.Tensor, index: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Shift each (B, 784) image by its own shift number index[b] (see the module docstring)."""
    B, s = len(x), int(max_shift)
    index = index.to(x.device).view(B, 1)
    img = torch.nn.functional.pad(x.view(B, SIDE, SIDE), (s, s, s, s))  # (B, 28 + 2s, 28 + 2s)
    ar = torch.arange(SIDE, device=x.device)
    # out[r, c] = image[r - dy, c - dx]; in the padded image that is row r + s - dy, where
    # dy + s = index // (2s + 1) and dx + s = index % (2s + 1).
    rows = (ar + 2 * s - index // (2 * s + 1))[:, :, None]  # (B, 28, 1)
    cols = (ar + 2 * s - index % (2 * s + 1))[:, None, :]  # (B, 1, 28)
    return img[torch.arange(B, device=x.device)[:, None, None], rows, cols].reshape(B, SIDE * SIDE)


def jitter(x: torch.Tensor, max_shift: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(shifted images, shift numbers): each image moved by its own random shift."""
    index = torch.randint(0, count(max_shift), (len(x),), generator=g, device="cpu")
    return translate(x, index, max_shift), index.to(x.device)


@torch.no_grad()
def logits_per_shift(
    logits: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, max_shift: int, chunk: int = 10_000
) -> torch.Tensor:
    """A frozen model's logits for every shift of every image: (N, (2s + 1)^2, C)."""
    out = []
    for i in range(0, len(x), chunk):
        xb = x[i : i + chunk]
        per_shift = [
            logits(translate(xb, torch.full((len(xb),), k, dtype=torch.long), max_shift))
            for k in range(count(max_shift))
        ]
        out.append(torch.stack(per_shift, dim=1))
    return torch.cat(out)
