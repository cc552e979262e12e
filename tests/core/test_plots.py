"""kdviz.plots: axes a class can read."""

import numpy as np
import pandas as pd
import pytest

from kdviz import plots
from kdviz.temperature import softened_table


def test_log_probability_axes_use_powers_of_ten():
    fig = plots.compare_bars(list("abcd"), np.log([0.9, 0.09, 0.009, 0.001]), 2.0, log_y=True)
    axis = fig.layout.yaxis
    assert axis.type == "log" and axis.exponentformat == "power"  # 10⁻⁴, not "100µ"
    assert plots.compare_bars(list("ab"), [1.0, 0.0], 2.0).layout.yaxis.type == "linear"


def test_every_class_is_labelled():
    digits = [str(d) for d in range(10)]
    for fig in (
        plots.compare_bars(digits, np.zeros(10), 3.0),
        plots.curves(softened_table(np.zeros(10), digits, [1, 3]), 3.0),
    ):
        assert fig.layout.xaxis.type == "category" and fig.layout.xaxis.dtick == 1


def test_log_ticks_keep_their_distance():
    Ts = [0.5, 1, 2, 3, 5, 10, 20, 50, 100, 300]
    assert plots.spaced_ticks(Ts, most=10) == [0.5, 1, 2, 5, 10, 20, 50, 100, 300]  # 3 is too close to 2
    ticks = plots.spaced_ticks(Ts)  # at most 6 on a chart half a page wide
    assert ticks[0] == 0.5 and len(ticks) <= 6 and all(b / a >= 2.8 for a, b in zip(ticks, ticks[1:]))
    fig = plots.experiment_figure(
        "matching",
        __import__("pandas").DataFrame(
            {"T": Ts * 2, "cosine": [0.5] * 20, "student": ["a"] * 10 + ["b"] * 10}
        ),
        10000,
    )
    assert list(fig.layout.xaxis.tickvals) == ticks and fig.layout.xaxis.tickangle == 0  # upright


def test_the_size_chart_names_every_model_in_its_legend_not_over_the_markers():
    import pandas as pd

    names = ["teacher"] + [f"run 1: student {i}, T = 20, α = 0.9" for i in range(6)]
    points = pd.DataFrame({"model": names, "fp32 MB": [9.6] + [5.1] * 6, "test errors": range(60, 67)})
    fig = plots.size_tradeoff(points)
    assert [t.name for t in fig.data] == names and all(t.mode == "markers" for t in fig.data)
    assert fig.layout.legend.orientation == "h" and len(fig.layout.title.text) <= 30


def test_at_t_1_the_bars_are_not_doubled():
    fig = plots.compare_bars(list("abc"), [1.0, 0.0, -1.0], 1.0)
    assert [b.name for b in fig.data] == ["T = 1"] and "vs" not in fig.layout.title.text
    assert [b.name for b in plots.compare_bars(list("abc"), [1.0, 0.0, -1.0], 4.0).data] == ["T = 1", "T = 4"]


def test_ensemble_bars_one_per_model_coloured_by_kind_with_the_mean_member():
    curve = pd.DataFrame(
        [
            ("member 1", "member", 170),
            ("member 2", "member", 160),
            ("ensemble of 2", "ensemble", 150),
            ("student, labels only", "student", 140),
            ("student from the ensemble", "student", 130),
        ],
        columns=["model", "kind", "errors"],
    )
    fig = plots.experiment_figure("ensemble", curve, 10000)
    assert [t.name for t in fig.data] == ["member", "ensemble", "student"]
    assert [list(t.x) for t in fig.data] == [
        ["member 1", "member 2"],
        ["ensemble of 2"],
        list(curve["model"][3:]),
    ]
    assert [list(t.y) for t in fig.data] == [[170, 160], [150], [140, 130]]
    assert len({t.marker.color for t in fig.data}) == 3
    (line,) = fig.layout.shapes  # the members' mean, dotted
    assert line.y0 == line.y1 == 165 and fig.layout.annotations[0].text == "mean member"
    assert fig.layout.yaxis.title.text == "test errors (of 10,000)"


def test_soft_target_bars_and_the_similarity_heatmap():
    import math

    import torch

    bars = plots.soft_target_bars(torch.tensor([5.0, 1.0, 0.0]), 0, 4.0)
    assert [t.name for t in bars.data] == ["T = 1", "T = 4", "one-hot label"]
    assert list(bars.data[2].y) == [1.0, 0.0, 0.0] and bars.layout.xaxis.title.text == "digit"
    assert "T = 4" in bars.layout.title.text
    sim = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    hidden = plots.similarity_heatmap(sim, 2.0)
    assert math.isnan(hidden.data[0].z[0][0]) and hidden.data[0].z[0][1] == pytest.approx(0.1)
    assert plots.similarity_heatmap(sim, 2.0, hide_diagonal=False).data[0].z[1][1] == pytest.approx(0.8)
    assert hidden.layout.yaxis.autorange == "reversed" and hidden.layout.height == 520


def test_a_partial_first_point_is_drawn_hollow_and_the_rest_filled():
    fig = plots.training_curves(
        [0.35, 2, 4], {"labels only": [8000, 900, 700]}, "t", "errors", partial_first=True
    )
    (line,) = fig.data
    assert list(line.x) == [0.35, 2, 4]
    assert list(line.marker.symbol) == ["circle-open", "circle", "circle"]
    whole = plots.training_curves([2, 4], {"labels only": [900, 700]}, "t", "errors")
    assert "circle-open" not in list(whole.data[0].marker.symbol)
