"""Links: every page's settings live in its URL, and the log-spaced T control."""

from __future__ import annotations

import math

import streamlit as st

from kdviz.temperature import log_grid

T_OPTIONS = log_grid(0.1, 100.0)


def nearest_t(value: float) -> float:
    """Snap any T to the control's grid (log distance)."""
    return min(T_OPTIONS, key=lambda t: abs(math.log(t) - math.log(value)))


def t_control(key: str, label: str = "Temperature T (logarithmic)", disabled: bool = False) -> float:
    """A T control usable over 0.1-100: log-spaced stops, current value shown."""
    return st.select_slider(
        label,
        options=T_OPTIONS,
        key=key,
        disabled=disabled,
        format_func=lambda t: f"{t:g}",
        help="Stops are spaced logarithmically so T = 1-5, where most of the change happens, "
        "gets as much room as T = 10-100.",
    )


def url_state(page: str, fields: dict) -> None:
    """Seed widget state from the URL once per page visit.

    `fields` maps a widget key to (default, parse); parse raises ValueError on a bad
    value, which falls back to the default with a notice on the page.
    """
    flag = f"_url_loaded_{page}"
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    bad, rounded = [], []
    for key, (default, parse) in fields.items():
        raw = st.query_params.get(key)
        value = default
        if raw is not None:
            try:
                value = parse(raw)
            except (TypeError, ValueError):
                bad.append(key)
            else:
                if isinstance(value, float) and f"{value:g}" != f"{float(raw):g}":
                    rounded.append(f"{key} = {raw} became {value:g}")  # snapped to a control's stop
        st.session_state[key] = value
    if bad:
        st.session_state[f"_url_bad_{page}"] = bad
    if rounded:
        st.session_state[f"_url_rounded_{page}"] = rounded


def url_notice(page: str) -> None:
    rounded = st.session_state.pop(f"_url_rounded_{page}", None)
    if rounded:
        st.info(f"The link's {'; '.join(rounded)}: the nearest stop of the control.")
    bad = st.session_state.pop(f"_url_bad_{page}", None)
    if bad:
        st.warning(
            f"The link had values this page cannot use ({', '.join(bad)}); showing defaults for those."
        )


def write_url(values: dict) -> None:
    """Mirror the current settings into the URL so the link reproduces this view."""
    text = {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in values.items()}
    if {k: st.query_params.get(k) for k in text} != text:
        st.query_params.update(text)


def parse_choice(options, cast=str):
    """A URL parser accepting only `options` (after `cast`); anything else -> the default."""

    def parse(raw):
        value = cast(raw)
        if value not in options:
            raise ValueError(raw)
        return value

    return parse


def parse_t(raw: str) -> float:
    """A T from a link: a finite number in the control's range (else ValueError -> default)."""
    from kdviz.temperature import check_temperature

    t = check_temperature(float(raw))
    if not T_OPTIONS[0] <= t <= T_OPTIONS[-1]:
        raise ValueError(f"T = {t:g} is outside {T_OPTIONS[0]:g}-{T_OPTIONS[-1]:g}")
    return nearest_t(t)
