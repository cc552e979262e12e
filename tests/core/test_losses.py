import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdviz.losses import distillation_loss, hard_loss, hint_terms, relation_terms, soft_loss, stacked_losses


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


# --- the survey's other kinds of knowledge, against float64 numpy written from the papers' formulas


def test_hint_terms_match_fitnets_regression_in_float64():
    g = torch.Generator().manual_seed(0)
    h = torch.rand(3, 7, 5, generator=g, dtype=torch.float64)
    t = torch.rand(7, 4, generator=g, dtype=torch.float64)
    W = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    hn, tn, Wn = h.numpy(), t.numpy(), W.numpy()
    want = [np.mean([(hn[k, b] @ Wn[k] - tn[b]) ** 2 for b in range(7)]) for k in range(3)]
    assert np.allclose(hint_terms(h, t, W).numpy(), want, rtol=1e-12)


def reference_rkd_distance(s, t):
    """RKD-D (Park et al. 2019, eq. 4-6) for one student: loops over pairs, float64."""
    B = len(s)
    pairs = [(i, j) for i in range(B) for j in range(B) if i != j]

    def psi(z):
        d = {p: np.sqrt(np.sum((z[p[0]] - z[p[1]]) ** 2)) for p in pairs}
        mu = np.mean(list(d.values()))
        return {p: v / mu for p, v in d.items()}

    ps, pt = psi(s), psi(t)
    huber = [0.5 * x**2 if abs(x) < 1 else abs(x) - 0.5 for x in (ps[p] - pt[p] for p in pairs)]
    return 25.0 * np.mean(huber)


@pytest.mark.parametrize("scale", [0.3, 5.0])  # Huber's quadratic and linear parts
def test_relation_terms_match_rkd_distance_in_float64(scale):
    g = torch.Generator().manual_seed(1)
    h = torch.rand(2, 6, 5, generator=g, dtype=torch.float64)
    t = torch.rand(6, 8, generator=g, dtype=torch.float64) ** (1 + scale)  # a differently shaped space
    got = relation_terms(h, t).numpy()
    assert np.allclose(got, [reference_rkd_distance(h[k].numpy(), t.numpy()) for k in range(2)], rtol=1e-10)
    # only the relations count: a teacher space scaled up and moved teaches the same
    assert np.allclose(relation_terms(h, t * 7 + 3).numpy(), got, rtol=1e-10)
    assert relation_terms(h[:, :1], t[:1]).tolist() == [0.0, 0.0]  # one image: no pairs


def test_a_student_that_matches_the_teachers_relations_has_nothing_left_to_learn():
    t = torch.rand(6, 8, dtype=torch.float64)
    same = (t * 0.5).unsqueeze(0)  # same relations, another scale
    assert relation_terms(same, t).abs().max().item() < 1e-10


def test_mutual_students_each_learn_from_the_others_logits_in_float64():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(8, 10, generator=g, dtype=torch.float64) * 2
    b = torch.randn(8, 10, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 10, (8,), generator=g)
    stacked = torch.stack([a, b]).requires_grad_()
    T, alpha = torch.tensor([3.0, 3.0], dtype=torch.float64), torch.tensor([0.6, 0.6], dtype=torch.float64)
    peers = stacked.flip(0)  # each one's target: the other's logits
    total, soft, _hard = stacked_losses(stacked, peers, y, T, alpha)
    want_a = reference_loss(a.numpy(), b.numpy(), y.numpy(), 3.0, 0.6)
    want_b = reference_loss(b.numpy(), a.numpy(), y.numpy(), 3.0, 0.6)
    assert math.isclose(total.item(), want_a + want_b, rel_tol=1e-10)
    total.backward()  # the peer's logits are a fixed target: each gradient is its own loss's
    alone = a.clone().requires_grad_()
    distillation_loss(alone, b, y, 3.0, 0.6).backward()
    assert torch.allclose(stacked.grad[0], alone.grad, rtol=1e-10)


def test_another_kinds_term_takes_the_soft_terms_place():
    s, t, y = torch.randn(2, 4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
    T, alpha = torch.tensor([2.0, 2.0]), torch.tensor([0.5, 0.5])
    terms = torch.tensor([7.0, 9.0])
    total, soft, hard = stacked_losses(s, t, y, T, alpha, (torch.tensor([False, True]), terms))
    plain_total, plain_soft, _ = stacked_losses(s, t, y, T, alpha)
    assert soft[1].item() == 9.0 and soft[0].item() == plain_soft[0].item()
    assert math.isclose(total.item(), 0.5 * (plain_soft[0] + 9.0 + hard.sum()).item(), rel_tol=1e-6)
