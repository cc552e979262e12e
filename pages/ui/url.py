"""Every page's settings live in its URL (parsed by kdviz.links), and the log-spaced T control."""

from __future__ import annotations

import streamlit as st

from kdviz.i18n import _
from kdviz.links import T_OPTIONS

RECENT = 20  # URLs a page wrote that a browser may still echo back (url_state)


def t_control(key: str, label: str | None = None, disabled: bool = False) -> float:
    """A T control usable over 0.1-100: log-spaced stops, current value shown."""
    return st.select_slider(
        label or _("Temperature T (logarithmic)"),
        options=T_OPTIONS,
        key=key,
        disabled=disabled,
        format_func=lambda t: f"{t:g}",
        help=_(
            "Stops are spaced logarithmically so T = 1-5, where most of the change happens, "
            "gets as much room as T = 10-100."
        ),
    )


def url_state(page: str, fields: dict) -> bool:
    """Keep a page's settings in its URL and in this session's memory of that URL.

    `fields` maps a widget key to (default, parse); parse raises ValueError on a bad value, which
    falls back to the default with a notice on the page. Streamlit forgets a widget's value when
    another page is shown, so each page's last URL is remembered (write_url) and re-applied when
    the page comes back with none (the menu's links carry no settings). A URL this page did not
    write itself (a first visit, a shared link, a lesson step) is applied as it is. One it wrote
    a moment ago is not: a browser that sends a rerun before the last run's URL reached it (a T
    slid through four stops) echoes an older URL, which must not undo the newer widget values.
    Returns True when settings were (re)applied, so a page can rebuild what it derived from them.
    """
    st.session_state["_url_page"] = page
    remembered = st.session_state.setdefault("_url_memory", {}).get(page)
    written = st.session_state.setdefault("_url_written", {}).get(page, [])
    link = {k: st.query_params[k] for k in fields if k in st.query_params}
    if remembered is not None and (link == {} or link in written):
        if all(k in st.session_state for k in fields):
            return False  # a rerun of the same view: the widgets hold their values
        _apply(page, fields, remembered)  # back from another page: as it was left
        return True
    _apply(page, fields, link)
    return True


def _apply(page: str, fields: dict, values: dict) -> None:
    bad, rounded = [], []
    for key, (default, parse) in fields.items():
        raw = values.get(key)
        value = default
        if raw is not None:
            try:
                value = parse(raw)
            except (TypeError, ValueError):
                bad.append((key, raw))
            else:
                if isinstance(value, float) and f"{value:g}" != f"{float(raw):g}":  # snapped to a stop
                    shown = f"{value:g}"
                    rounded.append(_("{key} = {raw} became {value}").format(key=key, raw=raw, value=shown))
        st.session_state[key] = value
    if bad:
        st.session_state[f"_url_bad_{page}"] = bad
    if rounded:
        st.session_state[f"_url_rounded_{page}"] = rounded


def url_notice(page: str, labels: dict[str, str] | None = None) -> None:
    """Say what of the link was not used, by the names the page shows (`labels`: key -> the
    control's label), not the link's keys."""
    labels = labels or {}
    rounded = st.session_state.pop(f"_url_rounded_{page}", None)
    if rounded:
        st.info(
            _("The link's {changes}: the nearest stop of the control.").format(changes="; ".join(rounded))
        )
    bad = st.session_state.pop(f"_url_bad_{page}", None)
    if bad:
        st.warning(
            _("The link had values this page cannot use ({names}); showing defaults for those.").format(
                names="; ".join(f"{labels.get(key, key)} = {str(raw)[:40]}" for key, raw in bad)
            )
        )


def write_url(values: dict) -> None:
    """Mirror the current settings into the URL so the link reproduces this view, and remember
    them as this page's view (url_state)."""
    text = {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in values.items()}
    if {k: st.query_params.get(k) for k in text} != text:
        st.query_params.update(text)
    page = st.session_state.get("_url_page")
    if page is not None:
        st.session_state.setdefault("_url_memory", {})[page] = text
        written = st.session_state.setdefault("_url_written", {}).setdefault(page, [])
        if text not in written:
            written[:] = [*written[-(RECENT - 1) :], text]
    from pages.ui.layout import language_links

    language_links()  # its links carry these settings to the other language
