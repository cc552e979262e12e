"""How long an experiments run takes, said before it starts and in words a person reads.

The table holds seconds each experiment took on this project's 2-core laptop-class CPU (x86-64,
AVX-512) with the shipped teacher, measured with `kdviz reproduce`: a run on another CPU differs,
so a page words it as "about". No table for a GPU: there it says nothing rather than guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from kdviz.i18n import _

# The ensemble's were measured on one thread while a teacher trained on the other core (an upper
# bound): quick 453 s (members 217, students 225); full extrapolated from its per-epoch times.
CPU_SECONDS = {
    "quick": {
        "main": 63,
        "omit3": 37,
        "only78": 35,
        "few_labels": 32,
        "temperature": 112,
        "matching": 2,
        "ensemble": 453,
    },
    "full": {
        "main": 1350,
        "omit3": 132,
        "only78": 109,
        "few_labels": 158,
        "temperature": 1065,
        "matching": 6,
        "ensemble": 2600,
    },
}


def estimated_seconds(preset: str, names: Sequence[str], device: str) -> float | None:
    """Roughly how long these experiments take on a CPU like ours; None where we have not measured."""
    table = CPU_SECONDS.get(preset)
    if str(device) != "cpu" or table is None:
        return None
    return 5 + sum(table.get(n, 0) for n in names)


def describe_seconds(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return _("{seconds:.0f} s").format(seconds=seconds)
    if seconds < 5400:
        return _("{minutes:.0f} min").format(minutes=seconds / 60)
    return _("{hours:.0f} h {minutes:.0f} min").format(hours=seconds // 3600, minutes=seconds % 3600 / 60)
