"""The paper teacher that ships inside kdviz, so a fresh install needs no training.

Two files under kdviz/weights/: `paper_teacher.safetensors` (the weights in fp16: safetensors
holds only tensors, so loading it runs no code, unlike a pickle) and `paper_teacher.json`,
its card: the recipe (a `TeacherSpec`), seed, epochs, wall time and machine, torch version,
the test errors measured when it was exported, and the file's sha256.

Loading checks the hash and every tensor's shape against the card before anything is
used; any mismatch raises CheckpointError with a message the app shows before falling
back to a teacher trained on the spot. The card's test errors are never shown as the
teacher's: `load_shipped` evaluates the weights on the test set it is given.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from kdviz.data import MNIST
from kdviz.files import write_bytes
from kdviz.i18n import _
from kdviz.models import StackedMLP, count_errors, predict_logits
from kdviz.teacher import CheckpointError, Teacher, TeacherSpec, write_to_cache

WEIGHTS = Path(__file__).parent / "weights" / "paper_teacher.safetensors"
CARD_FORMAT = "kdviz-shipped-teacher"


def card_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def expected_shapes(spec: TeacherSpec) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of a K = 1 StackedMLP with this spec (names as in its state_dict)."""
    model = StackedMLP(spec.hidden, 1)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def read_card(weights: Path | None = None) -> dict:
    path = card_path(weights or WEIGHTS)
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(
            _("the shipped teacher's card {name} cannot be read ({error})").format(name=path.name, error=e)
        ) from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise CheckpointError(_("{name} is not a kdviz teacher card").format(name=path.name))
    return card


def load_shipped(data: MNIST | None = None, weights: Path | None = None) -> Teacher:
    """The shipped teacher on data's device, its test errors measured on data's test set
    (0 of 0 when no data is given). CheckpointError when the files are missing, altered,
    damaged or not ours."""
    weights = Path(weights or WEIGHTS)
    card = read_card(weights)
    try:
        blob = weights.read_bytes()
    except OSError as e:
        raise CheckpointError(
            _("the shipped teacher {name} cannot be read ({error})").format(
                name=weights.name, error=e.strerror
            )
        ) from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != card.get("sha256"):
        raise CheckpointError(
            _(
                "{name} does not match its card (sha256 {digest}..., expected {expected}...): "
                "the file was altered or damaged"
            ).format(name=weights.name, digest=digest[:12], expected=str(card.get("sha256"))[:12])
        )
    try:
        spec = TeacherSpec(**card["spec"])
        tensors = load_safetensors(blob)
    except (KeyError, TypeError, ValueError, SafetensorError) as e:
        raise CheckpointError(
            _("{name} or its card is damaged: {error}").format(name=weights.name, error=e)
        ) from None
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    if shapes != expected_shapes(spec):
        raise CheckpointError(
            _("{name} has tensors {shapes}, not those of a {teacher} teacher").format(
                name=weights.name, shapes=shapes, teacher=spec.label
            )
        )
    model = StackedMLP(spec.hidden, 1, spec.dropout, spec.input_dropout)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    device = data.device if data is not None else "cpu"
    teacher = Teacher(spec, model.to(device).eval(), 0, 0, float(card.get("seconds", 0.0)))
    if data is not None:
        teacher.test_errors = count_errors(predict_logits(model, data.test_x), data.test_y)[0]
        teacher.test_total = len(data.test_y)
    return teacher


def machine() -> str:
    """E.g. 'x86_64, 2 cores, Intel(R) Xeon(R) ...' for the card."""
    name = platform.processor() or platform.system()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{platform.machine()}, {os.cpu_count()} cores, {name}"


def export_shipped(teacher: Teacher, data: MNIST, weights: Path | None = None, **about) -> dict:
    """Write the teacher as fp16 safetensors plus its card (both atomically); return the card.

    The card's test errors are those of the fp16 weights as shipped, measured here."""
    weights = Path(weights or WEIGHTS)
    state = {
        k: v.detach().to("cpu", torch.float16).contiguous() for k, v in teacher.model.state_dict().items()
    }
    blob = save_safetensors(state, metadata={"format": CARD_FORMAT})
    write_to_cache(weights, blob, write_bytes)
    model = StackedMLP(teacher.spec.hidden, 1)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model = model.to(data.device)
    card = {
        "format": CARD_FORMAT,
        "spec": asdict(teacher.spec),
        "label": teacher.spec.english_label,  # data: the same in every language
        "test_errors": count_errors(predict_logits(model, data.test_x), data.test_y)[0],
        "test_total": len(data.test_y),
        "seconds": round(float(teacher.seconds), 1),
        "machine": machine(),
        "torch": torch.__version__,
        "sha256": hashlib.sha256(blob).hexdigest(),
        **about,
    }
    text = json.dumps(card, indent=2) + "\n"
    write_to_cache(card_path(weights), text.encode(), write_bytes)
    return card
