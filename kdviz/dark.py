"""Dark knowledge: what a trained teacher's softened outputs say about the *wrong* classes.

A teacher that is right 98% of the time still ranks the wrong classes: a 4 gets more mass on
9 than on 0. That ranking, invisible at T = 1 and lifted by a higher T, is what Hinton, Vinyals
& Dean (2015) call the dark knowledge. Pure torch / numpy / pandas; pages only draw. A digit the
user uploads or draws is framed the way MNIST's digits are before the teacher sees it.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pandas as pd
import torch

from kdviz.i18n import _
from kdviz.temperature import softmax_t

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_SIDE = 4096
IMAGE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr")
INK = 0.2  # a pixel brighter than this (of 1) is ink, for the bounding box
MIN_INK_SIDE = 0.1  # a drawing's ink must span a tenth of the pad's side: a dot is not a digit
MIN_INK_AREA = 0.002  # and cover 0.2% of its area (127 px of the page's 252x252 pad): stray pixels


def class_similarity(logits, labels, T, n_classes: int = 10) -> torch.Tensor:
    """(C, C) matrix: row c is the mean softened distribution over the images of true class c.

    Entry [c, k] is how much probability, on average, the teacher gives class k when shown a
    c at temperature T. Each row sums to 1; a class with no images gets a row of NaN.
    """
    q = softmax_t(logits, T)
    labels = torch.as_tensor(labels, device=q.device).long()
    if q.ndim != 2 or labels.shape != q.shape[:1]:
        raise ValueError(_("need logits of shape (N, C) and one label per row"))
    sums = torch.zeros(n_classes, q.shape[1], dtype=q.dtype, device=q.device).index_add_(0, labels, q)
    counts = torch.bincount(labels, minlength=n_classes).to(q.dtype)
    out = sums / counts[:, None]  # 0 / 0 -> NaN for an absent class
    return out.cpu()


def similar_pairs(matrix, top: int = 10, classes=None) -> pd.DataFrame:
    """The class pairs the teacher confuses most, ranked by symmetrised off-diagonal mass.

    For a pair (a, b): 'a→b' is the mean probability given to b on images of a, 'b→a' the
    reverse, and 'similarity' their average. Pairs involving a NaN row are skipped.
    """
    m = torch.as_tensor(np.asarray(matrix, dtype=np.float64))
    n = m.shape[0]
    names = [str(c) for c in (classes if classes is not None else range(n))]
    rows = []
    for a in range(n):
        for b in range(a + 1, n):
            ab, ba = float(m[a, b]), float(m[b, a])
            if math.isfinite(ab) and math.isfinite(ba):
                rows.append((f"{names[a]} ↔ {names[b]}", names[a], names[b], ab, ba, (ab + ba) / 2))
    df = pd.DataFrame(rows, columns=["pair", "a", "b", "a→b", "b→a", "similarity"])
    df = df.sort_values("similarity", ascending=False, kind="stable").head(top)
    return df.reset_index(drop=True)


def nearest_classes(matrix, cls: int, k: int = 3) -> list[tuple[int, float]]:
    """The `k` classes the teacher most sees in class `cls` (row `cls` of a class similarity
    matrix, its diagonal left out): [(class, mean probability)], most similar first."""
    row = torch.as_tensor(np.asarray(matrix, dtype=np.float64))[int(cls)].clone()
    row[int(cls)] = -1
    return [(int(c), float(row[c])) for c in row.topk(k).indices]


def ambiguity_ranking(logits, k: int | None = None) -> torch.Tensor:
    """Indices of the images sorted by the teacher's second-highest probability at T = 1,
    strongest second choice first (the most ambiguous digits); the first k if k is given."""
    q = softmax_t(logits, 1.0)
    second = q.topk(2, dim=-1).values[:, 1]
    order = torch.argsort(second, descending=True, stable=True).cpu()
    return order if k is None else order[:k]


def showcase_digit(logits, labels, confident: float = 0.99) -> int:
    """The digit to open on: one the teacher gets right with confidence (p >= `confident` at
    T = 1), and of those the one whose second choice is strongest, so a higher T lifts a
    meaningful second choice into view. The most ambiguous digit if none is that sure."""
    q = softmax_t(torch.as_tensor(logits).detach().cpu(), 1.0)
    top = q.topk(2, dim=-1)
    right = (top.indices[:, 0] == torch.as_tensor(labels).cpu()) & (top.values[:, 0] >= confident)
    if not bool(right.any()):
        return int(ambiguity_ranking(logits)[0])
    second = torch.where(right, top.values[:, 1], torch.tensor(-1.0, dtype=q.dtype))
    return int(second.argmax())


def in_class(labels, cls: str) -> list[int]:
    """Indices of the images of class `cls` ("all": every image)."""
    labels = torch.as_tensor(labels).cpu()
    return list(range(len(labels))) if cls == "all" else (labels == int(cls)).nonzero().flatten().tolist()


def format_probabilities(*ps: float) -> list[str]:
    """Probabilities as text with one precision for all, so a smaller one never prints larger
    (0.4982 and 0.4979, not 0.4982 and "0.5"); below 0.001, scientific (3.2e-05)."""
    return [f"{p:.4f}" if p >= 1e-3 else f"{p:.1e}" for p in map(float, ps)]


def top_choices(logits, labels, indices, T: float = 1.0) -> pd.DataFrame:
    """One row per image: its index, true label, and the teacher's first and second choice at T."""
    idx = torch.as_tensor(indices).long().cpu()
    q = softmax_t(torch.as_tensor(logits).detach().cpu()[idx], T)
    top = q.topk(2, dim=-1)
    return pd.DataFrame(
        {
            "index": idx.tolist(),
            "label": torch.as_tensor(labels).cpu()[idx].tolist(),
            "first": top.indices[:, 0].tolist(),
            "p_first": top.values[:, 0].tolist(),
            "second": top.indices[:, 1].tolist(),
            "p_second": top.values[:, 1].tolist(),
        }
    )


def one_hot(label: int, n_classes: int = 10) -> torch.Tensor:
    """The hard target: probability 1 on the label, 0 elsewhere."""
    out = torch.zeros(n_classes, dtype=torch.float64)
    out[int(label)] = 1.0
    return out


def image_from_upload(data: bytes) -> torch.Tensor:
    """An uploaded image file -> a (1, 784) float32 tensor in [0, 1], MNIST style.

    Grayscale (transparent pixels count as white paper), inverted when the background is
    light so the digit is white on black, contrast-stretched, then scaled like MNIST: the
    ink's bounding box fitted into 20x20 and centred by its centre of mass in 28x28.
    Raises ValueError with a readable message for anything that is not a usable image.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError(_("the file is empty"))
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(_("the file is {mb:.1f} MB; the limit is 5 MB").format(mb=len(data) / 2**20))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if max(w, h) > MAX_UPLOAD_SIDE:
                raise ValueError(
                    _("the image is {w}x{h} pixels; at most {side} per side").format(
                        w=w, h=h, side=MAX_UPLOAD_SIDE
                    )
                )
            if img.mode not in IMAGE_MODES:
                raise ValueError(
                    _("image mode {mode} is not supported; save it as an 8-bit PNG or JPEG").format(
                        mode=img.mode
                    )
                )
            img.load()
    except ValueError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(
            _("the image is too large; at most {side} pixels per side").format(side=MAX_UPLOAD_SIDE)
        ) from None
    except UnidentifiedImageError:
        raise ValueError(_("this file is not an image Pillow can read (try a PNG or JPEG)")) from None
    except (OSError, SyntaxError, EOFError) as e:
        raise ValueError(_("the image is damaged or truncated ({error})").format(error=e)) from None
    paper = Image.new("RGBA", img.size, (255, 255, 255, 255))
    grey = Image.alpha_composite(paper, img.convert("RGBA")).convert("L")
    x = np.asarray(grey, dtype=np.float32) / 255.0
    if np.median(_border(x)) > 0.5:
        x = 1.0 - x  # dark digit on light paper -> MNIST's white digit on black
    lo, hi = float(np.median(_border(x))), float(x.max())
    if hi - lo < 0.1:
        raise ValueError(_("no digit found: the image is (almost) a single flat colour"))
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return torch.from_numpy(_mnist_frame(x)).reshape(1, 784)


def image_from_canvas(rgba) -> torch.Tensor | None:
    """A drawing pad's pixels (H, W, 4) RGBA, white ink -> a (1, 784) float32 tensor in [0, 1],
    framed like MNIST (see image_from_upload); None when the pad is empty or nearly so.

    The pixels are composited over black, so a pad with a transparent background reads as
    MNIST's black paper. "Nearly empty" is a speck: ink spanning less than MIN_INK_SIDE of the
    pad's side (a single dab of the pen) or covering less than MIN_INK_AREA of it (stray pixels).
    Framed, a speck would fill the 20x20 box and the teacher would answer it with confidence.
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(_("need RGBA pixels of shape (H, W, 4), got {shape}").format(shape=rgba.shape))
    rgb, alpha = rgba[..., :3].astype(np.float32) / 255.0, rgba[..., 3:].astype(np.float32) / 255.0
    x = (rgb * alpha).mean(-1)  # (H, W): white ink over black paper
    rows, cols = np.nonzero(x > INK)
    if len(rows) == 0:
        return None
    span = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) / max(x.shape)
    if span < MIN_INK_SIDE or x.sum() < MIN_INK_AREA * x.size:
        return None
    return torch.from_numpy(_mnist_frame(x)).reshape(1, 784)


def _border(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])


def _mnist_frame(x: np.ndarray) -> np.ndarray:
    """Fit the ink's bounding box into 20x20 (aspect kept), centre of mass at the middle of 28x28."""
    from PIL import Image

    rows, cols = np.nonzero(x > INK)
    x = x[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = x.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray((x * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    s = np.asarray(small, dtype=np.float32) / 255.0
    out = np.zeros((28, 28), dtype=np.float32)
    total = s.sum()
    cy = (s.sum(1) @ np.arange(s.shape[0])) / total if total else s.shape[0] / 2
    cx = (s.sum(0) @ np.arange(s.shape[1])) / total if total else s.shape[1] / 2
    top = int(np.clip(round(13.5 - cy), 0, 28 - s.shape[0]))
    left = int(np.clip(round(13.5 - cx), 0, 28 - s.shape[1]))
    out[top : top + s.shape[0], left : left + s.shape[1]] = s
    return np.clip(out, 0.0, 1.0)


def upscale(image, factor: int = 10) -> np.ndarray:
    """A (784,) or (28, 28) image in [0, 1] -> uint8 pixels blown up by `factor` (crisp, no blur)."""
    x = torch.as_tensor(image).detach().cpu().reshape(28, 28).numpy()
    x = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    return np.kron(x, np.ones((factor, factor), dtype=np.uint8))
