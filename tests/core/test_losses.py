import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdviz.losses import distillation_loss, hard_loss, soft_loss, stacked_losses


def reference_loss(s, t, y, T, alpha):
    """Independent float64 numpy version of KD_BRIEF section 2."""
    s, t = s.astype(np.float64), t.astype(np.float64)

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p_t, p_s = softmax(t / T), softmax(s / T)
    kl = np.sum(p_t * (np.log(p_t) - np.log(p_s)), axis=-1).mean()
    ce = -np.log(softmax(s)[np.arange(len(y)), y]).mean()
    return alpha * T * T * kl + (1 - alpha) * ce


@pytest.mark.parametrize("seed", range(5))
def test_matches_independent_formula(seed):
    g = torch.Generator().manual_seed(seed)
    s, t = (
        torch.randn(16, 10, generator=g, dtype=torch.float64) * 3,
        torch.randn(16, 10, generator=g, dtype=torch.float64) * 3,
    )
    y = torch.randint(0, 10, (16,), generator=g)
    T, alpha = [0.5, 1, 2, 4, 20][seed], [0, 0.3, 0.5, 0.9, 1][seed]
    got = distillation_loss(s, t, y, T, alpha).item()
    assert math.isclose(got, reference_loss(s.numpy(), t.numpy(), y.numpy(), T, alpha), rel_tol=1e-10)


def test_alpha_ends_and_terms():
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    assert torch.allclose(distillation_loss(s, t, y, 4, 0.0), hard_loss(s, y))
    assert torch.allclose(distillation_loss(s, t, y, 4, 1.0), soft_loss(s, t, 4))
    assert soft_loss(t, t, 4).abs().item() < 1e-6  # KL of a distribution with itself


def test_pitfalls_give_different_numbers():
    g = torch.Generator().manual_seed(0)  # unseeded draws can make KL(t||s) land within 0.1% of KL(s||t)
    s = torch.randn(8, 10, dtype=torch.float64, generator=g)
    t = torch.randn(8, 10, dtype=torch.float64, generator=g)
    T = 5.0
    ours = soft_loss(s, t, T).item()
    with pytest.warns(UserWarning):  # PyTorch itself warns about this pitfall
        mean_kl = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="mean").item()
    mean_reduction = T * T * mean_kl
    swapped = soft_loss(t, s, T).item()
    no_t2 = ours / T**2
    assert math.isclose(ours, 10 * mean_reduction, rel_tol=1e-10)  # 'mean' divides by C = 10
    assert not math.isclose(ours, swapped, rel_tol=1e-3)
    assert not math.isclose(ours, no_t2, rel_tol=1e-3)


def test_t_squared_keeps_gradient_scale():
    # d soft_loss / d z_s = T (q_s - q_t) / B, and for large T that tends to (z_s - z_t)/(C T B):
    # with the T^2 factor the gradient magnitude stays O(1) where the raw KL's vanishes like 1/T^2.
    s = torch.randn(4, 10, dtype=torch.float64, requires_grad=True)
    t = torch.randn(4, 10, dtype=torch.float64)
    norms = []
    for T in (1.0, 10.0, 100.0):
        loss = soft_loss(s, t, T)
        (grad,) = torch.autograd.grad(loss, s)
        expected = T * (F.softmax(s / T, -1) - F.softmax(t / T, -1)) / 4
        assert torch.allclose(grad, expected, atol=1e-12)
        norms.append(grad.norm().item())
    assert 0.8 < norms[2] / norms[1] < 1.25  # with T^2: about constant from T = 10 to 100
    assert (norms[2] / 100**2) / (norms[1] / 10**2) < 0.02  # without it: shrinks like 1/T^2


def test_no_gradient_into_teacher():
    s = torch.randn(4, 10, requires_grad=True)
    t = torch.randn(4, 10, requires_grad=True)
    distillation_loss(s, t, torch.tensor([0, 1, 2, 3]), 3.0, 0.7).backward()
    assert s.grad is not None and t.grad is None


@pytest.mark.parametrize("alpha", [-0.1, 1.1, float("nan"), "x", None])
def test_bad_alpha_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(torch.randn(2, 3), torch.randn(2, 3), torch.tensor([0, 1]), 2.0, alpha)


@pytest.mark.parametrize("T", [0, -2, float("nan"), float("inf")])
def test_bad_t_raises(T):
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(torch.randn(2, 3), torch.randn(2, 3), torch.tensor([0, 1]), T, 0.5)


def test_stacked_losses_equal_separate_losses():
    s = torch.randn(3, 8, 10, dtype=torch.float64)
    t, y = torch.randn(8, 10, dtype=torch.float64), torch.randint(0, 10, (8,))
    T = torch.tensor([1.0, 4.0, 20.0], dtype=torch.float64)
    alpha = torch.tensor([0.0, 0.5, 0.9], dtype=torch.float64)
    total, soft, hard = stacked_losses(s, t, y, T, alpha)
    each = [distillation_loss(s[k], t, y, T[k].item(), alpha[k].item()) for k in range(3)]
    assert torch.allclose(total, sum(each))
    for k in range(3):
        assert torch.allclose(soft[k], soft_loss(s[k], t, T[k].item()))
        assert torch.allclose(hard[k], hard_loss(s[k], y))
