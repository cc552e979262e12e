"""Which device to train on: CUDA if present, then Apple MPS, else the CPU."""

from __future__ import annotations

import torch

from kdviz.i18n import _

CHOICES = ("auto", "cpu", "cuda", "mps")


def available() -> list[str]:
    """Devices this machine can use, best first."""
    out = []
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out.append("mps")
    return out + ["cpu"]


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> the best available device; a named one must exist (ValueError otherwise)."""
    name = (name or "auto").lower()
    if name not in CHOICES:
        raise ValueError(
            _("device must be one of {choices}, got {name}").format(
                choices=", ".join(CHOICES), name=repr(name)
            )
        )
    have = available()
    if name == "auto":
        return torch.device(have[0])
    if name not in have:
        raise ValueError(
            _("device {name} is not available here (available: {have})").format(
                name=repr(name), have=", ".join(have)
            )
        )
    return torch.device(name)


def describe(device: torch.device | None = None) -> str:
    """A one-line description for the UI, e.g. 'CUDA GPU (NVIDIA H100), torch 2.x'."""
    device = device or pick_device()
    if device.type == "cuda":
        what = _("CUDA GPU ({name})").format(name=torch.cuda.get_device_name(device))
    elif device.type == "mps":
        what = _("Apple GPU (MPS)")
    else:
        what = _("CPU ({n} threads)").format(n=torch.get_num_threads())
    return _("{device}, torch {version}").format(device=what, version=torch.__version__)


def flush_denormals() -> None:
    """Treat denormal floats as zero on this thread and on the threads it starts from now on (the
    CPU's flush-to-zero flags are per thread, and a thread starts with its parent's: torch's CPU
    threads, started by a thread's first parallel operation, keep what it had then). Adam's second
    moments of tiny gradients underflow into denormals after an epoch or two, and an operation on
    one costs many times a normal one: an 800-800 student's epochs on a 2-core CPU went from 2.9 s
    to 6.0 s by its third, with the same test errors to the last one once flushed. A no-op where
    the CPU has no such flags."""
    torch.set_flush_denormal(True)
