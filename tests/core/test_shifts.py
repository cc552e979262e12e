import pytest
import torch

from kdviz import shifts
from kdviz.models import StackedMLP, predict_logits
from kdviz.targets import PerShift
from kdviz.train import TrainConfig, run_to_end, train


def one_pixel(n: int, r: int = 14, c: int = 14) -> torch.Tensor:
    x = torch.zeros(n, 784)
    x[:, r * 28 + c] = 1.0
    return x


@pytest.mark.parametrize("s", [1, 2])
def test_shift_numbers_move_the_digit_as_documented(s):
    n = shifts.count(s)
    out = shifts.translate(one_pixel(n), torch.arange(n), s).view(n, 28, 28)
    for i in range(n):
        dy, dx = i // (2 * s + 1) - s, i % (2 * s + 1) - s
        assert out[i, 14 + dy, 14 + dx] == 1 and out[i].sum() == 1, i
    centre = 2 * s * (s + 1)
    assert torch.equal(out[centre].view(784), one_pixel(1)[0])


def test_pixels_pushed_off_the_edge_are_lost_not_wrapped():
    out = shifts.translate(one_pixel(1, 0, 0), torch.tensor([0]), 2)  # dy = dx = -2
    assert out.sum() == 0


def test_jitter_returns_the_shift_it_applied():
    x = torch.rand(300, 784)
    moved, index = shifts.jitter(x, 2, torch.Generator().manual_seed(3))
    assert torch.equal(moved, shifts.translate(x, index, 2))
    assert set(index.tolist()) == set(range(25))


def test_per_shift_logits_are_the_teacher_on_the_shifted_images(tiny_data):
    teacher = StackedMLP((16,), seed=1)
    fn = lambda x: predict_logits(teacher, x)[0]
    x = tiny_data.train_x[:50]
    table = shifts.logits_per_shift(fn, x, 2, chunk=20)
    assert table.shape == (50, 25, 10)
    _, index = shifts.jitter(x, 2, torch.Generator().manual_seed(0))
    looked_up = table[torch.arange(50), index]
    torch.testing.assert_close(looked_up, fn(shifts.translate(x, index, 2)), rtol=1e-5, atol=1e-5)


def test_engine_uses_the_logits_of_the_shift_it_drew(tiny_data, monkeypatch):
    """Per-shift 'logits' that spell out (image number, shift number): every step's teacher
    targets must name the very image and shift the student was shown."""
    import kdviz.train

    n = len(tiny_data.train_y)
    table = torch.zeros(n, 25, 10)
    table[:, :, 0] = torch.arange(n, dtype=torch.float32)[:, None]
    table[:, :, 1] = torch.arange(25, dtype=torch.float32)[None, :]
    shown, targets = [], []
    real_jitter, real_losses = shifts.jitter, kdviz.train.stacked_losses

    def jitter(x, s, g):
        moved, index = real_jitter(x, s, g)
        shown.append(moved)
        return moved, index

    def losses(logits, teacher, *rest):
        targets.append(teacher.clone())
        return real_losses(logits, teacher, *rest)

    monkeypatch.setattr(shifts, "jitter", jitter)
    monkeypatch.setattr(kdviz.train, "stacked_losses", losses)
    run_to_end(
        train(
            StackedMLP((8,)),
            tiny_data,
            TrainConfig(epochs=1, batch_size=64, jitter=2),
            (4.0,),
            (1.0,),
            PerShift(table),
        )
    )
    assert len(shown) == len(targets) == -(-n // 64)
    for images, t in zip(shown, targets):
        which, shift = t[:, 0].long(), t[:, 1].long()
        assert torch.equal(images, shifts.translate(tiny_data.train_x[which], shift, 2))
    assert len(set(torch.cat([t[:, 1] for t in targets]).tolist())) == 25


def test_per_shift_logits_need_the_matching_jitter(tiny_data):
    logits = torch.zeros(len(tiny_data.train_y), 25, 10)
    for cfg in (TrainConfig(jitter=0), TrainConfig(jitter=1)):
        with pytest.raises(ValueError, match="shifts"):
            next(train(StackedMLP((8,)), tiny_data, cfg, (4.0,), (0.5,), PerShift(logits)))
