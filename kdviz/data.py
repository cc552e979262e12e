"""MNIST as tensors: read the four IDX files (raw or .gz) with strict checks, or download them.

The whole set is held as tensors on the training device (60,000 x 784 floats ~ 190 MB):
tiny networks are dominated by a per-sample DataLoader's overhead, so we slice tensors.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kdviz import env
from kdviz.i18n import _

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801


class DataError(ValueError):
    """MNIST is missing, unreadable or corrupt; the message says which file and what to do."""


class MissingDataError(DataError):
    pass


def default_cache_dir() -> Path:
    """Where downloads and trained teachers go: $KDVIZ_CACHE_DIR or ~/.cache/kdviz."""
    return env.current().cache_dir


def default_data_dir() -> Path:
    """$KDVIZ_DATA_DIR (e.g. a folder holding the four MNIST files), else the cache dir."""
    return env.current().mnist_dir


def _candidates(data_dir: Path, name: str) -> list[Path]:
    # torchvision's own layout is <root>/MNIST/raw; a plain folder of files works too.
    return [d / (name + ext) for d in (data_dir, data_dir / "MNIST" / "raw") for ext in ("", ".gz")]


def find_files(data_dir: str | os.PathLike) -> dict[str, Path]:
    """Locate the four files, or raise MissingDataError saying what to do."""
    data_dir = Path(data_dir).expanduser()
    found, missing = {}, []
    for key, name in FILES.items():
        hit = next((p for p in _candidates(data_dir, name) if p.is_file()), None)
        if hit is None:
            missing.append(name)
        else:
            found[key] = hit
    if missing:
        raise MissingDataError(
            _(
                "MNIST not found in {folder} (missing: {files}). "
                "Run `kdviz download` on a machine with internet, or set KDVIZ_DATA_DIR "
                "(or --data-dir) to a folder holding the four MNIST *-ubyte(.gz) files."
            ).format(folder=data_dir, files=", ".join(missing))
        )
    return found


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """Read one IDX file (raw or gzip), checking magic number, dimensions and size."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(
            _("{path}: cannot read ({error}); the file is truncated or corrupt").format(path=path, error=e)
        ) from None
    if len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != magic:
        got = raw[:4].hex() or _("nothing")
        raise DataError(
            _("{path}: wrong magic number {got} (expected {expected}); not MNIST").format(
                path=path, got=got, expected=f"{magic:08x}"
            )
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(_("{path}: truncated header").format(path=path))
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(
            _(
                "{path}: {size} bytes but the header promises {expected} "
                "(shape {shape}); the file is truncated or corrupt"
            ).format(path=path, size=len(raw), expected=expected, shape=dims)
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


@dataclass
class MNIST:
    """Images as (N, 784) floats in [0, 1], labels as (N,) int64, on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def to(self, device) -> MNIST:
        return MNIST(*(t.to(device) for t in (self.train_x, self.train_y, self.test_x, self.test_y)))

    @property
    def device(self) -> torch.device:
        return self.train_x.device


def _split(images: np.ndarray, labels: np.ndarray, which: str, path: Path):
    if images.shape[1:] != (28, 28):
        raise DataError(
            _("{path}: images are {shape}, expected 28 x 28").format(path=path, shape=images.shape[1:])
        )
    if len(images) != len(labels):
        raise DataError(
            _("{split}: {images} images but {labels} labels (wrong count)").format(
                split=which, images=len(images), labels=len(labels)
            )
        )
    if len(labels) and labels.max() > 9:
        raise DataError(
            _("{split}: label {label} is not a digit 0-9").format(split=which, label=labels.max())
        )
    x = torch.from_numpy(images.reshape(len(images), 784).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def load_mnist(data_dir=None, device="cpu") -> MNIST:
    """Load MNIST from `data_dir` (default: default_data_dir()) onto `device`."""
    files = find_files(data_dir or default_data_dir())
    parts = []
    for split in ("train", "test"):
        images = read_idx(files[f"{split}_images"], IMAGE_MAGIC)
        labels = read_idx(files[f"{split}_labels"], LABEL_MAGIC)
        parts += _split(images, labels, split, files[f"{split}_images"])
    return MNIST(*parts).to(device)


def download_mnist(root=None) -> Path:
    """Download MNIST once with torchvision into `root` (default: the cache dir)."""
    root = Path(root or default_cache_dir()).expanduser()
    try:
        find_files(root)
        return root
    except DataError:
        pass
    from torchvision.datasets import MNIST as TorchvisionMNIST  # slow import; only here

    try:
        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            TorchvisionMNIST(root=str(root), train=train, download=True)
    except Exception as e:  # network errors come in many types
        raise DataError(
            _(
                "could not download MNIST into {folder} ({error}). Without internet, "
                "copy the four MNIST *-ubyte.gz files into a folder and set KDVIZ_DATA_DIR to it."
            ).format(folder=root, error=f"{type(e).__name__}: {e}")
        ) from None
    find_files(root)
    return root
