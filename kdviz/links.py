"""Lists in a link's query string, so every page's settings survive the URL round trip.

A list is written comma-separated when no item holds a comma ("dog,cat,horse": what a
person types), else as JSON (["a, b","c"]), which any item survives. Reading accepts both.
"""

from __future__ import annotations

import json


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
