"""kdviz.ensemble: members that differ only by seed, and the ensemble's soft targets at T."""

import pytest
import torch

from kdviz import ensemble
from kdviz.control import Stopped
from kdviz.models import StackedMLP, predict_logits
from kdviz.teacher import TeacherSpec

SPEC = TeacherSpec(hidden=(12,), dropout=0.0, input_dropout=0.0, jitter=0, epochs=1, batch_size=64)


def random_logits(k=3, n=50, c=10, scale=4.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, n, c, generator=g, dtype=torch.float64) * scale


def test_the_ensemble_of_identical_members_equals_the_member():
    # StackedMLP's K copies start alike: an ensemble of three identical members
    model = StackedMLP((12,), k=3, seed=5)
    x = torch.rand(40, 784)
    z = predict_logits(model, x).double()  # (3, 40, 10)
    assert torch.equal(z[0], z[1]) and torch.equal(z[0], z[2])
    member = z[0]
    for T in (1.0, 4.0, 20.0):
        q = torch.softmax(member / T, -1)
        assert torch.allclose(ensemble.probabilities(z, T), q, atol=1e-12)
        # the engine's view of the targets, softmax(v / T), is the member's softened distribution
        v = ensemble.soft_target_logits(z, T)
        assert torch.allclose(torch.softmax(v / T, -1), q, atol=1e-12)
    assert torch.allclose(ensemble.logit_average(z), member)


def test_soft_targets_are_the_average_of_the_softened_members():
    z = random_logits()
    for T in (1.0, 3.0, 20.0):
        reference = sum(torch.softmax(z[k] / T, -1) for k in range(len(z))) / len(z)
        assert torch.allclose(ensemble.probabilities(z, T), reference, atol=1e-12)
        v = ensemble.soft_target_logits(z, T)
        assert torch.allclose(torch.softmax(v / T, -1), reference, atol=1e-12)
    # why the targets are computed at T: log of the T = 1 average, softened by the engine at T,
    # is not the average of the members' softened distributions
    T = 20.0
    at_1 = torch.log(ensemble.probabilities(z, 1.0))
    reference = torch.softmax(z / T, -1).mean(0)
    assert (torch.softmax(at_1 / T, -1) - reference).abs().max() > 1e-3
    # and the average of probabilities is not the average of logits (a geometric mean)
    assert (torch.softmax(ensemble.logit_average(z), -1) - ensemble.probabilities(z)).abs().max() > 1e-3


def test_soft_targets_keep_tiny_probabilities_and_huge_logits_finite():
    z = torch.tensor([[[1e4, 0.0, -1e4]], [[0.0, 1e4, -1e4]]], dtype=torch.float32)  # (2, 1, 3)
    v = ensemble.soft_target_logits(z, 1.0)
    assert torch.isfinite(v).all()
    assert torch.allclose(torch.softmax(v, -1), torch.tensor([[0.5, 0.5, 0.0]]))
    with pytest.raises(ValueError, match="temperature"):
        ensemble.soft_target_logits(z, 0.0)


def test_members_start_from_their_own_seeds():
    model = ensemble.members(SPEC, 3)
    for i in range(3):
        alone = StackedMLP(SPEC.hidden, 1, seed=SPEC.seed + i)
        for stacked, single in zip(model.parameters(), alone.parameters()):
            assert torch.equal(stacked[i], single[0])
    assert not torch.equal(model.weights[0][0], model.weights[0][1])
    with pytest.raises(ValueError, match="members"):
        ensemble.members(SPEC, 0)


def test_train_members_trains_each_member_and_stops_when_asked(tiny_data):
    model, last = ensemble.train_members(SPEC, 2, tiny_data)
    assert model.k == 2 and last.epoch == SPEC.epochs and len(last.test_errors) == 2
    assert all(e < 0.5 * len(tiny_data.test_y) for e in last.test_errors)  # chance would be 90%
    assert not torch.equal(model.weights[-1][0], model.weights[-1][1])
    with pytest.raises(Stopped):
        ensemble.train_members(SPEC, 2, tiny_data, should_stop=lambda: True)
