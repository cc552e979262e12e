from dataclasses import replace

import numpy as np
import pytest
import torch

from kdviz.distill import DistillConfig, Student, race
from kdviz.models import StackedMLP, parse_hidden, predict_logits
from kdviz.shifts import jitter
from kdviz.targets import Cached
from kdviz.train import Diverged, TrainConfig, run_to_end, train, transfer_indices


def test_loss_decreases_and_accuracy_beats_chance(tiny_data):
    model = StackedMLP((64,), k=1, seed=0)
    events = [
        ev for ev in train(model, tiny_data, TrainConfig(epochs=4, batch_size=32)) if ev.kind == "epoch"
    ]
    assert events[-1].hard_loss[0] < events[0].hard_loss[0] * 0.7
    assert events[-1].test_errors[0] < 0.3 * events[-1].test_total  # chance would be 90% errors


def test_students_start_identical_and_see_the_same_batches(tiny_data):
    model = StackedMLP((32, 16), k=2, seed=3)
    for w in model.parameters():
        assert torch.equal(w[0], w[1])
    # Both trained on labels only: identical init + identical batches => identical weights.
    run_to_end(train(model, tiny_data, TrainConfig(epochs=2, batch_size=50), T=(1, 1), alpha=(0, 0)))
    for w in model.parameters():
        assert torch.allclose(w[0], w[1], atol=1e-6)


def test_only_the_loss_differs_in_a_comparison(tiny_data):
    teacher_logits = torch.randn(len(tiny_data.train_y), 10)
    students, events = race(tiny_data, teacher_logits, DistillConfig(hidden=(16,), epochs=1))
    run_to_end(events)
    assert not torch.allclose(students.weights[0][0], students.weights[0][1])


def test_stacked_equals_one_at_a_time(tiny_data):
    """K students trained together match the same students trained alone (same seed)."""
    teacher_logits = torch.randn(len(tiny_data.train_y), 10) * 3
    cfg = TrainConfig(epochs=2, batch_size=64, seed=1)
    Ts, alphas = (1.0, 4.0, 20.0), (0.0, 0.5, 0.9)
    together = StackedMLP((32,), k=3, seed=7)
    run_to_end(train(together, tiny_data, cfg, Ts, alphas, Cached(teacher_logits)))
    for k in range(3):
        alone = StackedMLP((32,), k=1, seed=7)
        run_to_end(train(alone, tiny_data, cfg, (Ts[k],), (alphas[k],), Cached(teacher_logits)))
        for a, b in zip(alone.parameters(), together.parameters()):
            # float32 kernels for K = 1 and K = 3 round differently; Adam carries it on (1e-5 failed once)
            torch.testing.assert_close(a[0], b[k], atol=1e-4, rtol=1e-4)


def test_copies_with_their_own_seeds_train_as_those_seeds_would_alone(tiny_data):
    """Seeds as a stack: copy k starts from, and trains like, a lone model of seed inits[k]."""
    cfg = TrainConfig(epochs=1, batch_size=64, seed=1)
    inits = (5, 6, 5)
    together = StackedMLP((16, 8), k=3, inits=inits)
    assert not torch.equal(together.weights[0][0], together.weights[0][1])
    run_to_end(train(together, tiny_data, cfg, (1.0,) * 3, (0.0,) * 3))
    for k, seed in enumerate(inits):
        alone = StackedMLP((16, 8), k=1, seed=seed)
        run_to_end(train(alone, tiny_data, cfg, (1.0,), (0.0,)))
        for a, b in zip(alone.parameters(), together.parameters()):
            # float32 kernels for K = 1 and K = 3 round differently; Adam carries it on (1e-5 failed once)
            torch.testing.assert_close(a[0], b[k], atol=1e-4, rtol=1e-4)
    assert torch.equal(
        StackedMLP((8,), k=2, seed=3).weights[0], StackedMLP((8,), k=2, inits=(3, 3)).weights[0]
    )
    with pytest.raises(ValueError, match="one initial-weights seed per model"):
        StackedMLP((8,), k=2, inits=(1,))


def test_seeded_runs_are_reproducible(tiny_data):
    runs = []
    for _ in range(2):
        m = StackedMLP((16,), k=1, dropout=0.2, seed=5)
        ev = run_to_end(train(m, tiny_data, TrainConfig(epochs=1, batch_size=40, seed=5, jitter=1)))
        runs.append((ev.test_errors, m.weights[0].detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_stop_mid_run(tiny_data):
    model = StackedMLP((16,), k=1)
    calls = {"n": 0}

    def stop_after_5():
        calls["n"] += 1
        return calls["n"] > 5

    events = list(
        train(
            model, tiny_data, TrainConfig(epochs=50, batch_size=10), should_stop=stop_after_5, report_every=0
        )
    )
    assert events and events[-1].step == 5 and all(ev.kind == "step" for ev in events)


def test_progress_reports_both_loss_terms(tiny_data):
    teacher_logits = torch.randn(len(tiny_data.train_y), 10)
    _, events = race(
        tiny_data,
        teacher_logits,
        DistillConfig(hidden=(8,), epochs=1, students=(Student(4, 0), Student(4, 0.9))),
    )
    ev = run_to_end(events)
    assert ev.soft_loss[0] > 0 and ev.soft_loss[1] > 0 and ev.hard_loss[1] > 0
    assert len(ev.test_errors) == 2 and ev.test_total == len(tiny_data.test_y)


def test_distillation_requires_teacher_logits(tiny_data):
    with pytest.raises(ValueError, match="teacher"):
        next(train(StackedMLP((8,)), tiny_data, TrainConfig(), T=(2,), alpha=(0.5,)))


def test_transfer_set_options():
    y = torch.tensor([0, 3, 1, 3, 2, 3, 4])
    assert transfer_indices(y, None, ()).tolist() == list(range(7))
    assert transfer_indices(y, 4, ()).tolist() == [0, 1, 2, 3]
    assert transfer_indices(y, None, (3,)).tolist() == [0, 2, 4, 6]
    with pytest.raises(ValueError, match="empty"):
        transfer_indices(torch.tensor([3, 3]), None, (3,))


def test_jitter_moves_each_image_within_range():
    x = torch.zeros(200, 784)
    x[:, 14 * 28 + 14] = 1.0  # one pixel in the middle
    out = jitter(x, 2, torch.Generator().manual_seed(0))[0].view(200, 28, 28)
    rows, cols = torch.nonzero(out, as_tuple=True)[1:]
    assert out.sum().item() == 200  # nothing lost
    assert rows.min() >= 12 and rows.max() <= 16 and cols.min() >= 12 and cols.max() <= 16
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 25  # every offset happens


@pytest.mark.parametrize(
    "bad",
    [
        dict(epochs=0),
        dict(epochs=10**6),
        dict(batch_size=0),
        dict(lr=float("nan")),
        dict(train_size=0),
        dict(omit=(10,)),
        dict(optimizer="rmsprop"),
        dict(optimizer="adam", warmup=1),
        dict(optimizer="sgd", epochs=2, warmup=2),
        dict(max_norm=-3.0),  # would flip every weight's sign
        dict(max_norm=float("nan")),
        dict(first_look=-1.0),
        dict(first_look=float("nan")),
    ],
)
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)


@pytest.mark.parametrize(
    "text", ["0", "800,0", "10000000", "a,b", "1,1,1,1,1,1,1,1,1", "-800", "800,-800", "800,,800", "8.5"]
)
def test_bad_hidden_sizes(text):
    with pytest.raises(ValueError, match="hidden"):
        parse_hidden(text)


def test_hidden_sizes_parse():
    assert parse_hidden("800-800") == parse_hidden("800,800") == parse_hidden(" 800 x 800 ") == (800, 800)
    assert StackedMLP(parse_hidden("")).parameters_per_model() == 785 * 10  # a linear model


def select(model: StackedMLP, index: int) -> StackedMLP:
    """A K = 1 copy of stacked model `index`."""
    one = StackedMLP(model.hidden, 1)
    with torch.no_grad():
        for dst, src in zip(one.parameters(), model.parameters()):
            dst.copy_(src[index : index + 1])
    return one


def test_select_and_predict_shapes(tiny_data):
    m = StackedMLP((8, 8), k=3, seed=0)
    assert predict_logits(m, tiny_data.test_x).shape == (3, len(tiny_data.test_y), 10)
    one = select(m, 2)
    # One copy and the stack may take different matmul kernels: float32 rounding of sums over
    # 784 inputs (logits of order 1) differs by ~1e-7 relative, never by 1e-5.
    torch.testing.assert_close(
        predict_logits(one, tiny_data.test_x)[0], predict_logits(m, tiny_data.test_x)[2], rtol=1e-5, atol=1e-5
    )
    assert m.parameters_per_model() == 784 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10


def test_max_norm_caps_weights():
    m = StackedMLP((16,), k=2)
    with torch.no_grad():
        m.weights[0].mul_(100)
    m.apply_max_norm(1.5)
    assert np.allclose(m.weights[0].norm(dim=1).max().item(), 1.5, atol=1e-5)


def test_learning_rate_schedules():
    from kdviz.train import lr_factor

    adam = [lr_factor(s, 100, 0, "adam") for s in range(100)]
    assert adam[0] == 1 and adam[50] == 0.5 and adam[-1] == pytest.approx(0.01)
    sgd = [lr_factor(s, 100, 10, "sgd") for s in range(100)]
    assert sgd[0] == pytest.approx(0.1) and sgd[9] == 1 and sgd[10] == 1  # warm-up, then the peak
    assert sgd[55] == pytest.approx(0.5) and 0 < sgd[-1] < 0.001  # cosine: half way, then ~0
    assert all(a >= b for a, b in zip(sgd[10:], sgd[11:]))


def test_same_seed_same_run_whatever_the_global_random_state(tiny_data):
    """Dropout masks come from the run's own generator, not the process-wide one."""
    out = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        model = StackedMLP((32,), dropout=0.5, input_dropout=0.2, seed=0)
        run_to_end(train(model, tiny_data, TrainConfig(epochs=1, batch_size=64, seed=3)))
        out.append(model.weights[0].detach().clone())
    torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)


def test_a_diverged_model_stops_the_run_instead_of_reporting_errors(tiny_data):
    # Soft targets at T = 20 push each logit with up to 2T: plain SGD at a high rate blows up.
    teacher_logits = torch.randn(len(tiny_data.train_y), 10) * 1000
    model = StackedMLP((32,), k=2, seed=0)
    cfg = TrainConfig(epochs=3, batch_size=32, lr=9.0, optimizer="sgd")
    events = []
    with pytest.raises(Diverged, match=r"epoch 1: the loss of model 2 of 2 is not a number") as caught:
        for ev in train(model, tiny_data, cfg, T=(1, 20), alpha=(0, 1), teacher=Cached(teacher_logits)):
            events.append(ev)
    assert isinstance(caught.value, ValueError) and "learning rate 9 with sgd" in str(caught.value)
    assert not [ev for ev in events if ev.kind == "epoch"]  # no test errors from a broken model


def test_a_first_look_tests_before_the_first_tested_epoch_and_changes_nothing(tiny_data):
    """The Lab's first point: a test part-way through, marked "partial"; training is the same."""
    teacher_logits = torch.randn(len(tiny_data.train_y), 10) * 3
    looked = StackedMLP((32,), k=2, seed=0)
    cfg = TrainConfig(epochs=4, batch_size=32, eval_every=2, first_look=1e-9)  # after the first step
    events = list(train(looked, tiny_data, cfg, (4.0, 4.0), (0.0, 0.9), Cached(teacher_logits)))
    tested = [ev for ev in events if ev.kind != "step"]
    assert [ev.kind for ev in tested] == ["partial", "epoch", "epoch"]
    first = tested[0]
    assert first.step == 1 and 0 < first.at < 1 and len(first.test_errors) == 2
    assert [ev.at for ev in tested[1:]] == [2.0, 4.0]
    plain = StackedMLP((32,), k=2, seed=0)
    run_to_end(
        train(plain, tiny_data, replace(cfg, first_look=0.0), (4.0, 4.0), (0.0, 0.9), Cached(teacher_logits))
    )
    for a, b in zip(looked.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The partial test is the model as it was: the untrained students already err on most images
    assert first.test_errors[0] > tested[-1].test_errors[0]


def test_no_first_look_once_a_tested_epoch_came_first(tiny_data):
    cfg = TrainConfig(epochs=2, batch_size=600, first_look=1e-9)  # one step an epoch: no time to look
    kinds = [ev.kind for ev in train(StackedMLP((8,), seed=0), tiny_data, cfg)]
    assert "partial" not in kinds and kinds.count("epoch") == 2


def test_denormals_are_flushed_in_training_threads():
    """Adam's moments underflow into denormals; on them a CPU runs many times slower (kdviz.device)."""
    import threading

    import kdviz  # noqa: F401  (flushes on import)

    seen = []
    tiny = torch.tensor([1e-40])
    seen.append(float(tiny * 1.0))
    thread = threading.Thread(target=lambda: seen.append(float(tiny * 1.0)))
    thread.start()
    thread.join()
    assert seen == [0.0, 0.0]
