"""What a distilled student learns from: the teacher's logits for the very images of its batch.

The engine (kdviz.train) asks one question of its teacher targets, once a batch has been drawn
and augmented: "your logits for these images?". Three answers, one class each, so the engine's
loop never asks which kind it holds and a new kind (a teacher's features, a second dataset) is
a new class rather than another branch:

    Cached(logits)      (N, 10): computed once for the whole training set. The teacher is frozen,
                        so a step costs no teacher forward pass. Fits students on clean images.
    PerShift(logits)    (N, S, 10): once for each of the S whole-pixel shifts of 2-px jitter
                        (kdviz.shifts). A jittered image is looked up under the shift it got:
                        consistent teaching at the price of a cache S times larger (60 MB).
    Live(teacher)       a function (B, 784) -> (B, 10), run on each augmented batch: the only
                        way under elastic distortions, where every view is new (about 60% more
                        time per step for an 800-800 student of the 1200-1200 teacher).

`check(cfg)` refuses a pairing that would teach from the wrong view (shift logits without
jitter, or under distortions) before any work; `subset(idx)` keeps the transfer set's rows.
Hint and relation students (kdviz.losses) also ask for the teacher's last hidden layer: targets
given the teacher's `hidden` function run it on each batch as the student sees it (caching it
would hold 1,200 numbers per image, 288 MB for 60,000).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from kdviz import shifts
from kdviz.i18n import _


class TeacherTargets:
    """The teacher's logits for a batch; see the module docstring for the kinds."""

    hidden: Callable[[torch.Tensor], torch.Tensor] | None = None  # (B, 784) -> (B, units)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, units): the teacher's last hidden layer for the images `x` as the student sees them."""
        if self.hidden is None:
            raise ValueError(_("hint and relation students need the teacher's hidden layer"))
        with torch.no_grad():
            return self.hidden(x)

    reads_images = False  # `batch` looks at the images' pixels (in [0, 1]), not only at `rows`

    def check(self, cfg) -> None:
        """ValueError if these targets cannot teach under `cfg`'s augmentations."""

    def subset(self, idx: torch.Tensor, device) -> TeacherTargets:
        """The targets of the transfer set's images (`idx` into the training set), on `device`."""
        return self

    def batch(self, rows: torch.Tensor, moved: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        """(B, 10) logits for the batch: its `rows` of the transfer set, the shift number each
        image was `moved` by (None without jitter), and the images `x` as the student sees them."""
        raise NotImplementedError


def _of_rank(logits: torch.Tensor, rank: int, message: str) -> torch.Tensor:
    if logits.dim() != rank:
        raise ValueError(message.format(shape=tuple(logits.shape)))
    return logits


class Cached(TeacherTargets):
    def __init__(self, logits: torch.Tensor, hidden: Callable[[torch.Tensor], torch.Tensor] | None = None):
        message = _("cached teacher logits must be (images, classes), got shape {shape}")
        self.logits = _of_rank(logits, 2, message)
        self.hidden = hidden

    def subset(self, idx, device) -> Cached:
        return Cached(self.logits.to(device)[idx], self.hidden)

    def batch(self, rows, moved, x):
        return self.logits[rows]


class PerShift(TeacherTargets):
    def __init__(self, logits: torch.Tensor):
        message = _("logits per shift must be (images, shifts, classes), got shape {shape}")
        self.logits = _of_rank(logits, 3, message)

    def check(self, cfg) -> None:
        if cfg.elastic:
            raise ValueError(_("consistent teaching has the teacher's logits for shifts, not distortions"))
        given = self.logits.shape[1]
        if not cfg.jitter or given != shifts.count(cfg.jitter):
            if cfg.jitter:
                text = _("logits for {given} shifts do not fit jitter {jitter} ({needed} shifts)")
            else:
                text = _("logits for {given} shifts do not fit jitter {jitter} (no shifts)")
            raise ValueError(text.format(given=given, jitter=cfg.jitter, needed=shifts.count(cfg.jitter)))

    def subset(self, idx, device) -> PerShift:
        return PerShift(self.logits.to(device)[idx])

    def batch(self, rows, moved, x):
        return self.logits[rows, moved]  # the teacher's view of the very image the student sees


class Live(TeacherTargets):
    reads_images = True

    def __init__(self, teacher: Callable[[torch.Tensor], torch.Tensor]):
        self.teacher = teacher

    def batch(self, rows, moved, x):
        with torch.no_grad():
            return self.teacher(x)
