"""Plotly figures: data in, figure out. Pages only place them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from kdviz.temperature import softmax_t

BLUE, HIGHLIGHT, GREY = "#1f77b4", "#d62728", "#7f7f7f"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def _layout(fig: go.Figure, title: str, **kw) -> go.Figure:
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=50, b=10), height=360, **kw)
    return fig


def compare_bars(classes, logits, T: float, log_y: bool = False) -> go.Figure:
    """The distribution at T beside the original (T = 1)."""
    fig = go.Figure()
    for t, color in ((1.0, BLUE), (T, HIGHLIGHT)):
        q = softmax_t(logits, t).tolist()
        fig.add_bar(
            x=list(classes),
            y=q,
            name=f"T = {t:g}",
            marker_color=color,
            hovertemplate="%{x}: %{y:.6g}<extra>T = " + f"{t:g}</extra>",
        )
    fig.update_yaxes(title="probability", type="log" if log_y else "linear")
    return _layout(fig, f"Softened distribution at T = {T:g} vs the original", barmode="group")


def curves(table: pd.DataFrame, current_T: float | None = None, log_y: bool = False) -> go.Figure:
    """The docs' figure: classes on x, one line per T (from temperature.softened_table)."""
    fig = go.Figure()
    ts = sorted(table["T"].unique())
    for i, t in enumerate(ts):
        rows = table[table["T"] == t]
        current = current_T is not None and abs(t - current_T) < 1e-9
        fig.add_scatter(
            x=rows["class"],
            y=rows["probability"],
            mode="lines+markers",
            name=f"T = {t:g}",
            line=dict(
                color=HIGHLIGHT if current else (BLUE if t == 1 else COLORS[1 + i % 7]),
                width=5 if current else 2,
                dash="dash" if current else "solid",
            ),
            hovertemplate="%{x}: %{y:.6g}<extra>T = " + f"{t:g}</extra>",
        )
    fig.update_yaxes(title="probability", type="log" if log_y else "linear")
    return _layout(fig, "One curve per temperature: higher T, flatter curve")


def entropy_plot(curve: pd.DataFrame, current_T: float, current_value: float, n_classes: int) -> go.Figure:
    """Entropy in bits against T on a log axis, with the current T marked."""
    fig = go.Figure()
    fig.add_scatter(
        x=curve["T"],
        y=curve["entropy_bits"],
        mode="lines",
        name="entropy",
        line=dict(color=BLUE),
        hovertemplate="T = %{x:.3g}: %{y:.4f} bits<extra></extra>",
    )
    fig.add_scatter(
        x=[current_T],
        y=[current_value],
        mode="markers",
        name=f"T = {current_T:g}",
        marker=dict(color=HIGHLIGHT, size=13),
        hovertemplate="T = %{x:.3g}: %{y:.4f} bits<extra></extra>",
    )
    fig.add_hline(y=math.log2(n_classes), line_dash="dot", line_color=GREY, annotation_text="uniform")
    fig.update_xaxes(type="log", title="temperature T (log scale)")
    fig.update_yaxes(title="entropy (bits)", rangemode="tozero")
    return _layout(fig, "Entropy of the softened distribution")


def training_curves(
    epochs: Sequence[int],
    series: dict[str, Sequence[float]],
    title: str,
    y: str,
    reference: dict[str, float] | None = None,
) -> go.Figure:
    """One line per model (e.g. test errors per epoch), optional horizontal references."""
    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        fig.add_scatter(
            x=list(epochs),
            y=list(values),
            mode="lines+markers",
            name=name,
            line=dict(color=COLORS[i % len(COLORS)], width=3),
        )
    for name, value in (reference or {}).items():
        fig.add_hline(y=value, line_dash="dot", line_color=GREY, annotation_text=name)
    fig.update_xaxes(title="epoch", dtick=1 if len(epochs) <= 20 else None)
    fig.update_yaxes(title=y)
    return _layout(fig, title)
