"""Experiments results kept across restarts, so a lesson shows a run made before class at once.

The paper's table takes minutes on a CPU: more than a lesson can wait. Every finished main-table
result is written to `experiments-main.json` in the cache folder (a temp file, then a rename: a
reader never sees half a file), with when and on what machine it ran, so the lesson's reveal says
both beside the numbers.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

FILE = "experiments-main.json"


def save_main(result, preset: str, cache_dir, machine: str) -> Path:
    """Keep a main-table Result (kdviz.experiments.main_table): rows 1 and 2 are the labels-only
    and the distilled student (each a mean over the preset's seeds)."""
    record = {
        "plain": float(result.rows[1]["this run"]),
        "distilled": float(result.rows[2]["this run"]),
        "preset": preset,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine,
    }
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".experiments-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f, ensure_ascii=False)
    os.replace(tmp, folder / FILE)
    return folder / FILE


def latest_main(cache_dir) -> dict | None:
    """The kept main-table run ({distilled, plain, when, machine, preset}), or None if there is
    none or the file is not one of ours (it is then ignored, never trusted)."""
    try:
        record = json.loads((Path(cache_dir) / FILE).read_text(encoding="utf-8"))
        out = {
            "distilled": float(record["distilled"]),
            "plain": float(record["plain"]),
            "when": str(record["when"]),
            "machine": str(record["machine"]),
            "preset": str(record["preset"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return out
