"""Plotly figures: data in, figure out. Pages only place them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kdviz.i18n import N_, _
from kdviz.temperature import DOC_TEMPERATURES, entropy, entropy_curve, softened_table, softmax_t

BLUE, HIGHLIGHT, GREY = "#1f77b4", "#d62728", "#7f7f7f"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
# An ensemble experiment's kinds of model (its curve's "kind" column): data keys, shown translated
KINDS = {"member": N_("member"), "ensemble": N_("ensemble"), "student": N_("student")}


def _figure(
    traces: list, title: str, xaxis: dict | None = None, yaxis: dict | None = None, **kw
) -> go.Figure:
    """Build a figure in one go: plotly's incremental update_* calls cost more than the page's maths,
    and the Temperature page rebuilds three figures on every T move."""
    layout = dict(title=title, margin=dict(l=10, r=10, t=50, b=10), height=360, xaxis=xaxis or {}) | kw
    return go.Figure(data=traces, layout=layout | dict(yaxis=yaxis or {}))


def _hlines(lines: dict[str, float]) -> dict:
    """Dotted horizontal reference lines across the plot, each labelled at the right."""
    shapes = [
        dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y, line=dict(color=GREY, dash="dot"))
        for y in lines.values()
    ]
    notes = [
        dict(text=name, xref="paper", x=1, y=y, xanchor="right", yanchor="bottom", showarrow=False)
        for name, y in lines.items()
    ]
    return dict(shapes=shapes, annotations=notes)


def probability_axis(log_y: bool) -> dict:
    """A probability axis; on a log scale its labels are powers of ten (10⁻⁴), not SI prefixes
    ("100µ") that a class reads as micro-something."""
    if not log_y:
        return dict(title=_("probability"), type="linear")
    return dict(title=_("probability (log scale)"), type="log", exponentformat="power", showexponent="all")


def class_axis(title: str | None = None) -> dict:
    """Classes on x: every class labelled (plotly skips every other one of ten by default)."""
    return dict(type="category", dtick=1, title=title)


def spaced_ticks(values: Sequence[float], ratio: float = 1.9, most: int = 6) -> list[float]:
    """The values to label on a log axis: each at least `ratio` times the last labelled one, so
    labels such as 2 and 3 do not run into each other on a narrow chart; the ratio grows until
    at most `most` are left (ten temperatures from 0.5 to 300 on half a page stood on end)."""
    while True:
        out: list[float] = []
        for v in sorted(values):
            if not out or v >= out[-1] * ratio:
                out.append(v)
        if len(out) <= most:
            return out
        ratio *= 1.5


def compare_bars(
    classes, logits, T: float, log_y: bool = False, title: str | None = None, x_title: str | None = None
) -> go.Figure:
    """The distribution at T beside the original (T = 1)."""
    bars = [
        go.Bar(
            x=list(classes),
            y=softmax_t(logits, t).tolist(),
            name=f"T = {t:g}",
            marker_color=color,
            hovertemplate="%{x}: %{y:.6g}<extra>T = " + f"{t:g}</extra>",
        )
        for t, color in ((1.0, BLUE), (T, HIGHLIGHT))[: 2 if T != 1 else 1]  # at T = 1: one set of bars
    ]
    if title is None:
        title = (
            _("Softened distribution at T = {T:g} vs the original").format(T=T)
            if T != 1
            else _("The distribution at T = 1")
        )
    return _figure(bars, title, xaxis=class_axis(x_title), yaxis=probability_axis(log_y), barmode="group")


def soft_target_bars(logits, label: int, T: float, log_y: bool = False) -> go.Figure:
    """A digit's soft targets at T and at T = 1 beside its one-hot label: what a student learns
    from the teacher, against what it learns from the label."""
    digits = [str(d) for d in range(len(logits))]
    title = (
        _("Soft targets at T = {T:g} vs T = 1 vs the hard label").format(T=T)
        if T != 1
        else _("Soft targets at T = 1 vs the hard label")
    )
    fig = compare_bars(digits, logits, T, log_y, title=title, x_title=_("digit"))
    one_hot = [1.0 if d == int(label) else 0.0 for d in range(len(digits))]
    return fig.add_bar(x=digits, y=one_hot, name=_("one-hot label"), marker_color=GREY)


def similarity_heatmap(sim, T: float, hide_diagonal: bool = True) -> go.Figure:
    """The teacher's class similarity (kdviz.dark.class_similarity) as a heatmap; the diagonal
    (the right answers) hidden so the wrong-class structure shows."""
    shown = np.array(sim, dtype=float)
    if hide_diagonal:
        np.fill_diagonal(shown, np.nan)
    digits = [str(d) for d in range(len(shown))]
    heat = go.Heatmap(
        z=shown,
        x=digits,
        y=digits,
        colorscale="Blues",
        texttemplate="%{z:.3f}",
        hovertemplate=_("a %{y}: %{z:.4g} on %{x}<extra></extra>"),  # plotly's placeholders
        colorbar=dict(title=_("mean p")),
    )
    return _figure(
        [heat],
        _("Class similarity at T = {T:g}").format(T=T),
        xaxis=class_axis(_("class the teacher gives probability to")),
        yaxis=dict(class_axis(_("true class")), autorange="reversed"),
        height=520,
    )


def curves(table: pd.DataFrame, current_T: float | None = None, log_y: bool = False) -> go.Figure:
    """The docs' figure: classes on x, one line per T (from temperature.softened_table)."""
    lines = []
    for i, (t, rows) in enumerate(table.groupby("T", sort=True)):
        current = current_T is not None and abs(t - current_T) < 1e-9
        lines.append(
            go.Scatter(
                x=rows["class"].tolist(),
                y=rows["probability"].tolist(),
                mode="lines+markers",
                name=f"T = {t:g}",
                line=dict(
                    color=HIGHLIGHT if current else (BLUE if t == 1 else COLORS[1 + i % 7]),
                    width=5 if current else 2,
                    dash="dash" if current else "solid",
                ),
                hovertemplate="%{x}: %{y:.6g}<extra>T = " + f"{t:g}</extra>",
            )
        )
    return _figure(
        lines,
        _("One curve per temperature: higher T, flatter curve"),
        xaxis=class_axis(),
        yaxis=probability_axis(log_y),
    )


def entropy_plot(curve: pd.DataFrame, current_T: float, current_value: float, n_classes: int) -> go.Figure:
    """Entropy in bits against T on a log axis, with the current T marked."""
    hover = _("T = %{x:.3g}: %{y:.4f} bits<extra></extra>")  # plotly's placeholders, not Python's
    traces = [
        go.Scatter(
            x=curve["T"].tolist(),
            y=curve["entropy_bits"].tolist(),
            mode="lines",
            name=_("entropy"),
            line=dict(color=BLUE),
            hovertemplate=hover,
        ),
        go.Scatter(
            x=[current_T],
            y=[current_value],
            mode="markers",
            name=f"T = {current_T:g}",
            marker=dict(color=HIGHLIGHT, size=13),
            hovertemplate=hover,
        ),
    ]
    return _figure(
        traces,
        _("Entropy of the softened distribution"),
        xaxis=dict(type="log", title=_("temperature T (log scale)")),
        yaxis=dict(title=_("entropy (bits)"), rangemode="tozero"),
        **_hlines({_("uniform"): math.log2(n_classes)}),
    )


def temperature_figures(
    classes: tuple[str, ...], logits: tuple[float, ...], T: float, log_y: bool
) -> tuple[go.Figure, go.Figure, go.Figure]:
    """The Temperature page's three charts of one distribution at one T: the distribution beside
    T = 1, one curve per temperature (the docs' ones and T), and entropy against T. Its arguments
    are hashable values, so a server builds them once for every session at the same stop of the
    slider (pages.ui.layout.shared_figures): a class moving T on one example asks for the same
    few dozen sets."""
    temps = sorted(set(DOC_TEMPERATURES) | {T})
    grid = np.logspace(-1, 2, 121).tolist()
    now = float(entropy(softmax_t(logits, T)))
    return (
        compare_bars(classes, logits, T, log_y),
        curves(softened_table(logits, classes, temps), T, log_y),
        entropy_plot(entropy_curve(logits, grid), T, now, len(classes)),
    )


def training_curves(
    epochs: Sequence[int],
    series: dict[str, Sequence[float]],
    title: str,
    y: str,
    reference: dict[str, float] | None = None,
    earlier: dict[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    owners: Sequence[int] | None = None,
    partial_first: bool = False,
) -> go.Figure:
    """One line per model (e.g. test errors per epoch), optional horizontal references, and
    `earlier` runs (name -> (epochs, values)) as thin dotted lines to compare against.

    `owners`: the model each series belongs to (its colour, the same as in another chart of the
    same models); a model's second series is dashed. `partial_first`: the first point is a test
    before its epoch ended (kdviz.train's "partial" event), drawn hollow."""
    owners = list(range(len(series))) if owners is None else list(owners)
    symbols = ["circle-open" if partial_first and i == 0 else "circle" for i in range(len(epochs))]
    lines = [
        go.Scatter(
            x=list(epochs),
            y=list(values),
            mode="lines+markers",
            marker=dict(symbol=symbols, size=[11 if s == "circle-open" else 6 for s in symbols]),
            name=name,
            line=dict(color=COLORS[k % len(COLORS)], width=3, dash="dash" if k in owners[:i] else None),
        )
        for i, ((name, values), k) in enumerate(zip(series.items(), owners, strict=True))
    ]
    lines += [
        go.Scatter(
            x=list(xs),
            y=list(ys),
            mode="lines",
            name=name,
            line=dict(color=COLORS[(len(series) + i) % len(COLORS)], width=1.5, dash="dot"),
        )
        for i, (name, (xs, ys)) in enumerate((earlier or {}).items())
    ]
    epochs = sorted({*epochs, *(x for xs, _ys in (earlier or {}).values() for x in xs)})
    return _figure(
        lines,
        title,
        xaxis=dict(title=_("epoch"), dtick=1 if len(epochs) <= 10 else None),  # whole epochs, uncrowded
        yaxis=dict(title=y),
        **_hlines(reference or {}),
    )


def bias_sweep(curve: pd.DataFrame, n_test: int) -> go.Figure:
    """Test errors, overall and on the shifted classes, against the bias added to their logits."""
    lines = [
        go.Scatter(x=curve["shift"].tolist(), y=curve[col].tolist(), mode="lines+markers", name=name)
        for col, name in (("errors", _("all test errors")), ("class_errors", _("errors on those classes")))
    ]
    return _figure(
        lines,
        _("Test errors vs bias shift"),
        xaxis=dict(title=_("bias shift added to the class logit(s)")),
        yaxis=dict(title=_("test errors (of {n:,})").format(n=n_test)),
    )


def grouped_lines(
    df: pd.DataFrame, x: str, y: str, by: str, title: str, xtitle: str, ytitle: str, log_x=False, spread=None
):
    """One line per value of `by`; on a log x axis only the values that were run are labelled
    (plotly's minor log ticks crowd a narrow chart). `spread`: a column of +- error bars (a
    standard deviation over seeds), drawn where it is in `df` and not 0 (older results lack it)."""
    lines = [
        go.Scatter(
            x=part[x].tolist(),
            y=part[y].tolist(),
            mode="lines+markers",
            name=str(name),
            line=dict(color=COLORS[i % len(COLORS)]),
            error_y=dict(type="data", array=part[spread].tolist(), visible=True)
            if spread in part and part[spread].any()
            else None,
        )
        for i, (name, part) in enumerate(df.groupby(by, sort=False))
    ]
    xaxis = dict(title=xtitle, type="log" if log_x else "linear")
    if log_x:
        values = spaced_ticks(df[x].unique())
        xaxis |= dict(tickvals=values, ticktext=[f"{v:g}" for v in values], tickangle=0)
    return _figure(lines, title, xaxis=xaxis, yaxis=dict(title=ytitle))


def experiment_figure(name: str, curve: pd.DataFrame | None, test_total: int) -> go.Figure | None:
    """The chart for one experiment's curve (kdviz.experiments), or None when it has none."""
    if curve is None:
        return None
    if name in ("omit3", "only78"):
        return bias_sweep(curve, test_total)
    if name == "main":
        return grouped_lines(
            curve,
            "epoch",
            "errors",
            "student",
            _("Test errors after each epoch (mean over seeds), beside the teacher's"),
            _("epoch"),
            _("test errors"),
        )
    if name == "temperature":
        return grouped_lines(
            curve,
            "T",
            "errors",
            "student",
            _("Test errors vs T (bars: spread over seeds)")
            if "sd" in curve and curve["sd"].any()
            else _("Test errors vs T"),
            _("T (log scale)"),
            _("test errors"),
            True,
            spread="sd",
        )
    if name == "ensemble":
        return ensemble_bars(curve, test_total)
    if name == "matching":
        return grouped_lines(
            curve,
            "T",
            "cosine",
            "student",
            _("Soft-loss gradient vs logit matching"),
            _("T (log scale)"),
            _("cosine"),
            True,
        )
    return grouped_lines(
        curve, "images", "errors", "student", _("Few labels"), _("labelled images"), _("test errors"), True
    )


def ensemble_bars(curve: pd.DataFrame, n_test: int) -> go.Figure:
    """Test errors of each member, their ensemble and the students (columns model, kind, errors),
    one bar each, coloured by kind, with the members' mean as a dotted line."""
    colors = {"member": GREY, "ensemble": HIGHLIGHT, "student": BLUE}
    bars = [
        go.Bar(
            x=part["model"].tolist(),
            y=part["errors"].tolist(),
            name=_(KINDS[kind]) if kind in KINDS else kind,
            marker_color=colors.get(kind, COLORS[4]),
            hovertemplate=_("%{x}: %{y} errors<extra></extra>"),
        )
        for kind, part in curve.groupby("kind", sort=False)
    ]
    members = curve.loc[curve["kind"] == "member", "errors"]
    return _figure(
        bars,
        _("Members, their ensemble, and the students"),
        xaxis=dict(type="category"),
        yaxis=dict(title=_("test errors (of {n:,})").format(n=n_test)),
        barmode="relative",  # one bar per model: no empty slots for the other kinds
        **(_hlines({_("mean member"): float(members.mean())}) if len(members) else {}),
    )


def size_tradeoff(points: pd.DataFrame) -> go.Figure:
    """Test errors against size on disk (log scale): one marker per trained model, named in the
    legend below the chart (labels beside the markers overlap: a race's students share a size)."""
    traces = [
        go.Scatter(
            x=[row["fp32 MB"]],
            y=[row["test errors"]],
            mode="markers",
            name=row["model"],
            marker=dict(size=12, color=COLORS[i % len(COLORS)], symbol="diamond" if i == 0 else "circle"),
            hovertemplate=_("%{fullData.name}: %{y} errors, %{x:.2f} MB<extra></extra>"),
        )
        for i, row in enumerate(points.to_dict("records"))
    ]
    return _figure(
        traces,
        _("Test errors against size"),
        xaxis=dict(type="log", title=_("size on disk, fp32 (MB, log scale)"), exponentformat="power"),
        yaxis=dict(title=_("test errors")),
        legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
        height=360 + 22 * ((len(traces) + 1) // 2),  # room for the legend's rows
        margin=dict(l=10, r=10, t=50, b=10),
    )


def tally_chart(
    labels: Sequence[str], counts: Sequence[int], correct=None, choices: bool = True
) -> go.Figure:
    """The class's answers as bars (A, B, C... or each number guessed); once revealed, the right
    choice is drawn in the highlight colour, the others grey."""
    colors = [BLUE] * len(labels)
    if correct is not None and choices:
        colors = [HIGHLIGHT if i == correct else GREY for i in range(len(labels))]
    bars = go.Bar(
        x=list(labels),
        y=list(counts),
        marker_color=colors,
        text=[str(c) for c in counts],
        textposition="outside",
        hovertemplate=_("%{x}: %{y} answers") + "<extra></extra>",
    )
    top = max([*counts, 1])
    return _figure(
        [bars],
        _("The class's answers"),
        xaxis=class_axis(_("answer") if choices else _("guess")),
        yaxis=dict(title=_("answers"), range=[0, top * 1.25], dtick=max(1, math.ceil(top / 5))),
        height=300,
    )
