"""kdviz.dark: class similarity, ambiguity ranking, uploads."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from kdviz import dark


def test_class_similarity_is_the_mean_softened_row_per_true_class():
    # Logits log p reproduce p exactly at T = 1.
    p = torch.tensor([[0.8, 0.2, 0.0], [0.6, 0.4, 0.0], [0.1, 0.7, 0.2], [0.0, 0.0, 1.0]])
    z = torch.log(p.double())
    m = dark.class_similarity(z, torch.tensor([0, 0, 1, 2]), 1.0, n_classes=3)
    expected = torch.tensor([[0.7, 0.3, 0.0], [0.1, 0.7, 0.2], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(m, expected)
    # At T = 2 each row is a softened distribution: q ∝ sqrt(p).
    m2 = dark.class_similarity(z, torch.tensor([0, 0, 1, 2]), 2.0, n_classes=3)
    s = p.double().sqrt()
    torch.testing.assert_close(m2[0], ((s / s.sum(1, keepdim=True))[:2]).mean(0))
    torch.testing.assert_close(m2.sum(1), torch.ones(3, dtype=torch.float64))


def test_class_similarity_marks_an_absent_class_nan():
    m = dark.class_similarity(torch.zeros(2, 3), torch.tensor([0, 0]), 1.0, n_classes=3)
    assert torch.isnan(m[1]).all() and torch.isnan(m[2]).all()
    torch.testing.assert_close(m[0], torch.full((3,), 1 / 3))
    assert len(dark.similar_pairs(m)) == 0  # every pair touches an absent class


def test_similar_pairs_ranks_symmetrised_off_diagonal_mass():
    m = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.05, 0.15, 0.8]])
    df = dark.similar_pairs(m, top=3)
    assert df["pair"].tolist() == ["0 ↔ 1", "1 ↔ 2", "0 ↔ 2"]
    np.testing.assert_allclose(df["similarity"], [0.25, 0.125, 0.075])
    assert df.loc[0, "a→b"] == 0.2 and df.loc[0, "b→a"] == 0.3
    assert len(dark.similar_pairs(m, top=1)) == 1


def test_ambiguity_ranking_orders_by_second_choice():
    p = torch.tensor([[0.9, 0.05, 0.05], [0.5, 0.45, 0.05], [0.6, 0.3, 0.1], [0.34, 0.33, 0.33]])
    z = torch.log(p.double())
    assert dark.ambiguity_ranking(z).tolist() == [1, 3, 2, 0]
    assert dark.ambiguity_ranking(z, k=2).tolist() == [1, 3]
    table = dark.top_choices(z, torch.tensor([0, 1, 0, 2]), [1, 2])
    assert table["first"].tolist() == [0, 0] and table["second"].tolist() == [1, 1]
    np.testing.assert_allclose(table["p_second"], [0.45, 0.3])


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG") if mode else Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_upload_dark_on_light_is_inverted_to_mnist_style():
    img = np.full((100, 60), 255, np.uint8)  # white paper
    img[20:80, 25:35] = 0  # a black vertical stroke, like a 1
    x = dark.image_from_upload(png(img))
    assert x.shape == (1, 784) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    pic = x.reshape(28, 28)
    assert float(pic[0].max()) == 0 and float(pic[:, 0].max()) == 0  # black background
    assert float(pic[14, 14]) > 0.9  # the stroke is white, centred
    rows = torch.nonzero(pic.max(1).values > 0.5).flatten()
    assert 19 <= len(rows) <= 21  # the ink's height fitted into 20 pixels, like MNIST


def test_upload_light_on_dark_rgba_is_not_inverted():
    img = np.zeros((40, 40, 4), np.uint8)
    img[..., 3] = 255
    img[10:30, 15:25, :3] = 255
    x = dark.image_from_upload(png(img)).reshape(28, 28)
    assert float(x[0, 0]) == 0 and float(x[14, 14]) > 0.9


def test_bad_uploads_raise_value_error():
    with pytest.raises(ValueError, match="not an image"):
        dark.image_from_upload(b"this is not a PNG at all")
    with pytest.raises(ValueError, match="empty"):
        dark.image_from_upload(b"")
    with pytest.raises(ValueError, match="5 MB"):
        dark.image_from_upload(b"\x89PNG" + bytes(6 * 2**20))
    with pytest.raises(ValueError, match="per side"):
        dark.image_from_upload(png(np.zeros((10, 5000), np.uint8)))
    with pytest.raises(ValueError, match="flat colour"):
        dark.image_from_upload(png(np.full((30, 30), 200, np.uint8)))
    with pytest.raises(ValueError, match="mode"):
        dark.image_from_upload(png(np.full((30, 30), 40000, np.uint16)))  # 16-bit grey
    with pytest.raises(ValueError, match="damaged|not an image"):
        noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
        dark.image_from_upload(png(noise)[:500])  # truncated mid-data


def test_the_showcase_digit_is_right_confident_and_has_the_strongest_second_choice():
    logits = torch.tensor(
        [
            [0.0, 5.0, 0.0],  # a confident 1, weak second choices
            [9.0, 4.0, 0.0],  # confident 0, second choice 1 at ~0.0067: the showcase
            [2.0, 1.9, 0.0],  # a near tie: the most ambiguous, not confident
            [0.0, 9.0, 3.0],  # confident but wrong (label 2)
        ]
    )
    labels = torch.tensor([1, 0, 0, 2])
    assert dark.showcase_digit(logits, labels) == 1
    assert dark.showcase_digit(logits[2:3], labels[2:3]) == 0  # none is sure: the most ambiguous


def test_probabilities_share_one_precision():
    first, second = dark.format_probabilities(0.49826, 0.49791)
    assert (first, second) == ("0.4983", "0.4979")  # not "0.4983" and "0.5"
    assert dark.format_probabilities(3.2e-5) == ["3.2e-05"]


def test_random_digits_respect_the_class_filter():
    labels = torch.tensor([1, 7, 7, 3])
    assert dark.in_class(labels, "7") == [1, 2] and dark.in_class(labels, "all") == [0, 1, 2, 3]


PAD = 280  # the page's drawing pad, in pixels


def pad(transparent: bool = False) -> np.ndarray:
    """An empty pad: black paper, or fully transparent (the canvas's own background)."""
    rgba = np.zeros((PAD, PAD, 4), np.uint8)
    rgba[..., 3] = 0 if transparent else 255
    return rgba


def ink(rgba: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    rgba[rows, cols] = 255  # white, opaque
    return rgba


def centre_of_mass(pic: torch.Tensor) -> tuple[float, float]:
    p = pic.double()
    r, c = torch.meshgrid(torch.arange(28.0, dtype=p.dtype), torch.arange(28.0, dtype=p.dtype), indexing="ij")
    return float((p * r).sum() / p.sum()), float((p * c).sum() / p.sum())


def test_a_centred_stroke_is_framed_like_mnist():
    # a "1": a vertical bar 200 px tall, 20 px wide, in the middle of the pad
    x = dark.image_from_canvas(ink(pad(), slice(40, 240), slice(130, 150)))
    assert x.shape == (1, 784) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    pic = x.reshape(28, 28)
    inked_rows = torch.nonzero(pic.max(1).values > 0.5).flatten()
    inked_cols = torch.nonzero(pic.max(0).values > 0.5).flatten()
    assert 19 <= len(inked_rows) <= 21  # the ink's height fitted into 20 pixels, like MNIST
    assert 1 <= len(inked_cols) <= 3  # 20 px of 200 keeps its aspect: about 2 pixels wide
    cy, cx = centre_of_mass(pic)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75
    assert float(pic[:4].max()) == 0 and float(pic[24:].max()) == 0  # a 4-pixel black margin


def test_an_off_centre_small_stroke_ends_up_centred_and_the_same_size():
    centred = dark.image_from_canvas(ink(pad(), slice(40, 240), slice(130, 150))).reshape(28, 28)
    # the same shape at half the size, tucked into the top-left corner
    corner = dark.image_from_canvas(ink(pad(), slice(5, 105), slice(5, 15))).reshape(28, 28)
    cy, cx = centre_of_mass(corner)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75
    assert float(corner[:4].max()) == 0 and float(corner[:, :4].max()) == 0  # moved away from the corner
    torch.testing.assert_close(corner, centred, atol=0.15, rtol=0)


def test_an_l_shape_keeps_its_aspect_and_its_centre_of_mass_is_centred():
    rgba = ink(pad(), slice(60, 200), slice(200, 220))  # vertical bar, 140 tall, at the right
    rgba = ink(rgba, slice(180, 200), slice(150, 220))  # a foot to its left: 70 wide
    pic = dark.image_from_canvas(rgba).reshape(28, 28)
    inked_rows = torch.nonzero(pic.max(1).values > 0.5).flatten()
    inked_cols = torch.nonzero(pic.max(0).values > 0.5).flatten()
    assert 19 <= len(inked_rows) <= 21 and 9 <= len(inked_cols) <= 11  # 140 x 70 -> 20 x 10
    cy, cx = centre_of_mass(pic)
    # by centre of mass, not by the box: the box's middle is off the centre
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75
    box_middle = (float(inked_cols.min()) + float(inked_cols.max())) / 2
    assert box_middle < 13.0


def test_a_transparent_pad_reads_as_black_paper():
    on_black = dark.image_from_canvas(ink(pad(), slice(40, 240), slice(130, 150)))
    on_clear = dark.image_from_canvas(ink(pad(transparent=True), slice(40, 240), slice(130, 150)))
    torch.testing.assert_close(on_clear, on_black)
    # half-transparent white ink is grey ink
    faint = ink(pad(transparent=True), slice(40, 240), slice(130, 150))
    faint[..., 3] = np.where(faint[..., 3] > 0, 128, 0)
    assert 0.45 < float(dark.image_from_canvas(faint).max()) < 0.55


def test_an_empty_or_nearly_empty_pad_is_no_digit():
    assert dark.image_from_canvas(pad()) is None
    assert dark.image_from_canvas(pad(transparent=True)) is None
    stray = pad()
    stray[10, 10] = stray[250, 200] = stray[251, 200] = 255  # a few stray pixels, far apart
    assert dark.image_from_canvas(stray) is None
    dab = ink(pad(), slice(130, 150), slice(130, 150))  # one dab of a 20 px pen
    assert dark.image_from_canvas(dab) is None
    dim = pad()
    dim[40:240, 130:150, :3] = 40  # a faint smudge below the ink threshold
    assert dark.image_from_canvas(dim) is None
    # a short dash is a drawing (a teacher may call it a 1): the limits are specks, not small digits
    assert dark.image_from_canvas(ink(pad(), slice(120, 160), slice(130, 150))) is not None


def test_canvas_pixels_must_be_rgba():
    with pytest.raises(ValueError, match="RGBA"):
        dark.image_from_canvas(np.zeros((28, 28), np.uint8))


def test_nearest_classes_leave_the_class_itself_out():
    sim = torch.eye(4) * 0.9 + torch.tensor([[0, 0.05, 0.03, 0.02]] * 4)
    assert dark.nearest_classes(sim, 0, k=2) == [(1, pytest.approx(0.05)), (2, pytest.approx(0.03))]
    assert [c for c, _p in dark.nearest_classes(sim, 1, k=3)] == [2, 3, 0]
