"""A page's settings in its link: how each value is written into a query string and read back.

A list is written comma-separated when no item holds a comma ("dog,cat,horse": what a
person types), else as JSON (["a, b","c"]), which any item survives. Reading accepts both.
A parser raises ValueError on anything it does not accept, so a page falls back to its default
and says so (pages.ui.url) instead of showing a wrong value.
"""

from __future__ import annotations

import json
import math

from kdviz.temperature import check_temperature, log_grid

T_OPTIONS = log_grid(0.1, 100.0)  # the T control's stops: logarithmic over 0.1-100


def nearest_t(value: float) -> float:
    """Snap any T to the control's grid (log distance)."""
    return min(T_OPTIONS, key=lambda t: abs(math.log(t) - math.log(value)))


def parse_t(raw: str) -> float:
    """A T from a link: a finite number in the control's range, snapped to its grid."""
    t = check_temperature(float(raw))
    if not T_OPTIONS[0] <= t <= T_OPTIONS[-1]:
        raise ValueError(f"T = {t:g} is outside {T_OPTIONS[0]:g}-{T_OPTIONS[-1]:g}")
    return nearest_t(t)


def parse_choice(options, cast=str):
    """A parser accepting only `options` (after `cast`)."""

    def parse(raw):
        value = cast(raw)
        if value not in options:
            raise ValueError(raw)
        return value

    return parse


def encode_list(items: list[str]) -> str:
    items = [str(i) for i in items]
    if any("," in i for i in items) or (items and items[0].startswith("[")):
        return json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    return ",".join(items)


def decode_list(raw: str) -> list[str]:
    """The items of a link's list; ValueError when it is not one (e.g. broken JSON)."""
    raw = str(raw)
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"not a list: {raw!r}") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"not a list of names: {raw!r}")
        return items
    return [s.strip() for s in raw.split(",")]
