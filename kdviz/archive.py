"""Experiments results kept across restarts, so a lesson shows a run made before class at once.

The paper's experiments take minutes on a CPU: more than a lesson can wait. Every finished result
is written to `experiments-<name>.json` in the cache folder (a temp file, then a rename: a reader
never sees half a file) with its numbers ("this run" of each row, in the experiment's row order),
the preset, and when and on what machine it ran, so the lesson's reveal says both beside them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from kdviz.files import atomic_write, write_bytes


def path(cache_dir, name: str) -> Path:
    return Path(cache_dir) / f"experiments-{name}.json"


def save(result, preset: str, cache_dir, machine: str) -> Path:
    """Keep a kdviz.experiments.Result: its rows' numbers, and for the omit-3 experiment the
    number of threes in the test set (its curve's class_total)."""
    record = {
        "name": result.name,
        "values": [_number(row["this run"]) for row in result.rows],
        "preset": preset,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine,
    }
    if result.name == "omit3":
        record["threes"] = int(result.curve["class_total"].iloc[0])
    text = json.dumps(record, ensure_ascii=False).encode("utf-8")
    return atomic_write(path(cache_dir, result.name), text, write_bytes)


def _number(value):
    """A row's number as JSON keeps it; text (a row such as "0-0") as it is."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None if value is None else str(value)


def latest(cache_dir, name: str) -> dict | None:
    """The kept result of experiment `name` ({values, preset, when, machine, ...}), or None when
    there is none or the file is not one of ours (then it is ignored, never trusted)."""
    try:
        record = json.loads(path(cache_dir, name).read_text(encoding="utf-8"))
        if record["name"] != name or not isinstance(record["values"], list):
            return None
        for key in ("preset", "when", "machine"):
            record[key] = str(record[key])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record
