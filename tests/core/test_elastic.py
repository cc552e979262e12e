"""Elastic distortions: the resampling is exact where it can be checked, and the engine uses them."""

import pytest
import torch

from kdviz import elastic, shifts
from kdviz.models import StackedMLP
from kdviz.targets import Cached, Live, PerShift
from kdviz.train import TrainConfig, train


def images(n=6, seed=0):
    return torch.rand(n, 784, generator=torch.Generator().manual_seed(seed))


def test_zero_strength_is_the_identity():
    x = images()
    assert elastic.distort(x, 0.0, torch.Generator()) is x
    # A vanishing field samples every pixel at its own centre: the image comes back.
    out = elastic.distort(x, 1e-6, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dx,dy", [(1, 0), (0, -1), (2, 1)])
def test_a_uniform_field_is_a_whole_pixel_translation(monkeypatch, dx, dy):
    # out(r, c) = image(r + dy, c + dx): the digit moves by (-dy, -dx), background filling in.
    def uniform(n, alpha, generator, device="cpu", sigma=elastic.SIGMA):
        return torch.tensor([float(dx), float(dy)]).expand(n, 28, 28, 2)

    monkeypatch.setattr(elastic, "displacement", uniform)
    x = images()
    s = 2
    index = torch.full((len(x),), (-dy + s) * (2 * s + 1) + (-dx + s))
    torch.testing.assert_close(elastic.distort(x, 1.0, None), shifts.translate(x, index, s))


def test_fields_are_smooth_scale_with_alpha_and_follow_the_seed():
    d = elastic.displacement(64, 34.0, torch.Generator().manual_seed(0))
    assert d.shape == (64, 28, 28, 2)
    mean_move = d.abs().mean().item()
    assert 0.5 < mean_move < 3.0  # Simard's alpha = 34, sigma = 4: strokes move ~1-2 px
    # Smooth: neighbouring pixels move almost together (white noise would not).
    step = (d[:, :, 1:] - d[:, :, :-1]).abs().mean().item()
    assert step < 0.2 * mean_move
    again = elastic.displacement(64, 68.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, 2 * d)


def test_a_distorted_digit_keeps_its_ink_inside_the_frame():
    x = torch.zeros(1, 28, 28)
    x[0, 8:20, 12:16] = 1.0  # a bar in the middle: nothing reaches the edge
    out = elastic.distort(x.view(1, 784), 34.0, torch.Generator().manual_seed(3))
    assert not torch.equal(out, x.view(1, 784))
    assert out.min() >= 0 and out.max() <= 1  # bilinear: no overshoot
    assert out.sum() > 0.5 * x.sum()  # bent and stretched, not erased

    def centre(img):
        w = img.view(28, 28)
        ar = torch.arange(28.0)
        return torch.stack([(w.sum(1) * ar).sum(), (w.sum(0) * ar).sum()]) / w.sum()

    assert (centre(out) - centre(x)).norm() < 2.0  # a local warp, not a move of the digit


@pytest.mark.parametrize("bad", [-1.0, 101.0, float("nan")])
def test_bad_strengths_are_refused(bad):
    with pytest.raises(ValueError, match="elastic"):
        TrainConfig(elastic=bad)


def test_engine_distorts_the_batches_and_refuses_it_with_per_shift_logits(tiny_data):
    def run(cfg):
        model = StackedMLP((16,), 1, seed=0)
        for _ in train(model, tiny_data, cfg):
            pass
        return model.weights[0].detach().clone()

    plain, bent = run(TrainConfig(epochs=1, seed=0)), run(TrainConfig(epochs=1, seed=0, elastic=34.0))
    assert not torch.allclose(plain, bent)
    per_shift = torch.zeros(len(tiny_data.train_y), shifts.count(2), 10)
    model = StackedMLP((16,), 1, seed=0)
    with pytest.raises(ValueError, match="distortions"):
        next(train(model, tiny_data, TrainConfig(jitter=2, elastic=34.0), [4.0], [0.5], PerShift(per_shift)))


def test_a_live_teacher_gives_what_its_table_gives(tiny_data):
    # Without augmentation, the teacher run on each batch and its logits looked up are the same
    w = torch.randn(784, 10, generator=torch.Generator().manual_seed(0))

    def teacher(x):
        return 3 * torch.tanh(x @ w)

    def run(logits):
        model = StackedMLP((16,), 2, seed=0)
        for _ in train(model, tiny_data, TrainConfig(epochs=2, seed=0), (4.0, 4.0), (0.0, 0.9), logits):
            pass
        return [p.detach().clone() for p in model.parameters()]

    for live, table in zip(run(Live(teacher)), run(Cached(teacher(tiny_data.train_x)))):
        torch.testing.assert_close(live, table)


def test_a_live_teacher_sees_the_distorted_batch(tiny_data):
    def ink_seen(strength):  # the ink of each image the teacher was shown, sorted
        seen = []

        def teacher(x):
            seen.append(x.sum(1))
            return torch.zeros(len(x), 10)

        cfg = TrainConfig(epochs=1, seed=0, batch_size=len(tiny_data.train_y), elastic=strength)
        for _ in train(StackedMLP((16,), 1, seed=0), tiny_data, cfg, (4.0,), (0.5,), Live(teacher)):
            pass
        return torch.cat(seen).sort().values

    ink = tiny_data.train_x.sum(1).sort().values
    torch.testing.assert_close(ink_seen(0.0), ink)  # the training images themselves
    assert not torch.allclose(ink_seen(34.0), ink)  # distorted ones
