import math

import numpy as np
import pytest
import torch

from kdviz import temperature as tp

DOC_P = np.array([0.6, 0.3, 0.08, 0.02])


def reference(p, T):  # independent float64 formula: softmax(log p / T) = p^(1/T) / sum p^(1/T)
    w = np.power(p, 1.0 / T)
    return w / w.sum()


@pytest.mark.parametrize("T", [0.5, 1, 3, 5, 10, 20, 50, 100])
def test_docs_example_matches_reference(T):
    q = tp.softmax_t(np.log(DOC_P), T)
    assert q.dtype == torch.float64
    np.testing.assert_allclose(q.numpy(), reference(DOC_P, T), rtol=1e-12)
    assert math.isclose(float(q.sum()), 1.0, rel_tol=1e-12)
    assert list(np.argsort(-q.numpy())) == [0, 1, 2, 3]  # order of classes preserved


def test_t1_reproduces_probabilities_and_t100_is_near_uniform():
    np.testing.assert_allclose(tp.softmax_t(tp.probs_to_logits(DOC_P), 1).numpy(), DOC_P, rtol=1e-12)
    q100 = tp.softmax_t(np.log(DOC_P), 100).numpy()
    assert np.all(np.abs(q100 - 0.25) < 0.01)
    # the small classes gain as T grows, and every class gains relative to the top one
    q1, q5 = tp.softmax_t(np.log(DOC_P), 1), tp.softmax_t(np.log(DOC_P), 5)
    assert q5[2] > q1[2] and q5[3] > q1[3] and q5[0] < q1[0]
    assert q5[1] / q5[0] > q1[1] / q1[0]


def test_limits():
    z = [2.0, 1.0, -3.0]
    np.testing.assert_allclose(tp.softmax_t(z, 1e-4).numpy(), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(tp.softmax_t(z, 1e8).numpy(), [1 / 3] * 3, atol=1e-7)


def test_extreme_logits_and_inputs_of_every_kind():
    for z in ([1e4, -1e4, 0.0], torch.tensor([1e4, -1e4, 0.0], dtype=torch.float32), np.array([-1e4, -1e4])):
        q = tp.softmax_t(z, 0.5)
        assert torch.isfinite(q).all() and math.isclose(float(q.sum()), 1.0, rel_tol=1e-6)
    batch = tp.softmax_t(torch.randn(5, 7), 3.0)  # last axis
    np.testing.assert_allclose(batch.sum(-1).numpy(), np.ones(5), rtol=1e-6)


@pytest.mark.parametrize("T", [0, -1, float("nan"), float("inf"), "hot", None])
def test_bad_temperature_raises(T):
    with pytest.raises(ValueError, match="temperature"):
        tp.softmax_t([1.0, 2.0], T)


def test_entropy():
    assert math.isclose(float(tp.entropy([0.25] * 4)), 2.0, rel_tol=1e-12)
    assert float(tp.entropy([1.0, 0.0, 0.0])) == 0.0
    p = np.array([0.5, 0.25, 0.25])
    assert math.isclose(float(tp.entropy(p)), 1.5, rel_tol=1e-12)
    assert math.isclose(float(tp.normalized_entropy([0.25] * 4)), 1.0, rel_tol=1e-12)


def test_entropy_grows_with_t():
    curve = tp.entropy_curve(np.log(DOC_P), [0.5, 1, 2, 5, 20, 100])
    assert curve["entropy_bits"].is_monotonic_increasing
    assert curve["entropy_bits"].iloc[-1] < 2.0


def test_softened_table_is_tidy_and_matches_softmax():
    df = tp.softened_table(np.log(DOC_P), ["dog", "cat", "horse", "car"])
    assert list(df.columns) == ["class", "T", "probability"]
    assert len(df) == 4 * len(tp.DOC_TEMPERATURES)
    row = df[(df["class"] == "cat") & (df["T"] == 20.0)]["probability"].item()
    assert math.isclose(row, reference(DOC_P, 20)[1], rel_tol=1e-12)
    assert np.allclose(df.groupby("T")["probability"].sum(), 1.0)


def test_probs_to_logits_normalises_and_rejects_bad_input():
    z = tp.probs_to_logits([2.0, 1.0, 1.0])
    np.testing.assert_allclose(torch.exp(z).numpy(), [0.5, 0.25, 0.25])
    assert tp.softmax_t(tp.probs_to_logits([0.5, 0.5, 0.0]), 10)[2] == 0.0
    for bad in ([-0.1, 1.1], [0.0, 0.0], [float("nan"), 1.0]):
        with pytest.raises(ValueError):
            tp.probs_to_logits(bad)


@pytest.mark.parametrize(
    "classes, values, mode, message",
    [
        (["a", "b"], ["0.5", "-0.1"], "probabilities", "negative"),
        (["a", "b"], ["0.5", ""], "probabilities", "not a number"),
        (["a", "b"], ["0.5", "abc"], "probabilities", "not a number"),
        (["a", "b"], ["0", "0"], "probabilities", "all zero"),
        (["a"], ["1"], "probabilities", "at least two"),
        (["a", "a"], ["0.5", "0.5"], "probabilities", "unique"),
        (["a", None], ["0.5", "0.5"], "logits", "name"),
        (["a", "b"], ["1", "nan"], "logits", "finite"),
    ],
)
def test_parse_distribution_messages(classes, values, mode, message):
    with pytest.raises(ValueError, match=message):
        tp.parse_distribution(classes, values, mode)


def test_parse_distribution_accepts_logits_and_probabilities():
    names, z = tp.parse_distribution(["x", "y"], ["2", "0"], "logits")
    assert names == ["x", "y"] and z.tolist() == [2.0, 0.0]
    _, z = tp.parse_distribution(["x", "y"], [3, 1], "probabilities")
    np.testing.assert_allclose(tp.softmax_t(z, 1).numpy(), [0.75, 0.25])


def test_formula_terms_reproduce_q():
    terms, shift = tp.formula_terms(np.log(DOC_P), 3.0)
    np.testing.assert_allclose(terms["q"], reference(DOC_P, 3.0), rtol=1e-12)
    np.testing.assert_allclose(terms["exp"] / terms["exp"].sum(), terms["q"], rtol=1e-12)
    # a calculator's exp(z/T): the page's numbers must be checkable by hand
    assert shift == 0.0
    np.testing.assert_allclose(terms["exp"], np.exp(np.log(DOC_P) / 3.0), rtol=1e-12)
    huge, shift = tp.formula_terms([1e4, 0.0], 0.1)
    assert shift == 1e5 and np.isfinite(huge["exp"]).all() and huge["q"].tolist() == [1.0, 0.0]


def test_a_fully_empty_row_is_ignored_but_a_half_empty_one_is_an_error():
    names, z = tp.parse_distribution(["a", "b", None], ["1", "2", None], "logits")
    assert names == ["a", "b"] and z.tolist() == [1.0, 2.0]
    names, _ = tp.parse_distribution(["a", "b", ""], [0.5, 0.5, float("nan")], "probabilities")
    assert names == ["a", "b"]
    with pytest.raises(ValueError, match="name"):
        tp.parse_distribution(["a", "b", ""], ["1", "2", "3"], "logits")


def test_log_grid_spans_and_is_log_spaced():
    g = tp.log_grid(0.1, 100)
    assert g[0] == 0.1 and g[-1] == 100 and 1.0 in g and 20.0 in g and 2.5 in g
    ratios = np.diff(np.log(g))
    assert ratios.max() < np.log(1.4)  # no big jumps anywhere on the scale
    assert sum(1 <= t <= 5 for t in g) >= 8  # the interesting range is reachable


def test_filled_rows_drop_only_the_fully_empty_ones():
    from kdviz.temperature import filled_rows

    rows = filled_rows(["dog", None, "", "cat", float("nan")], [0.6, None, "0.1", "0.4", " "])
    assert rows == [("dog", 0.6), ("", "0.1"), ("cat", "0.4")]  # a half-empty row stays: it is an error
