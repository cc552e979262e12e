"""How long a run takes, said before it starts and in words a person reads.

The table holds seconds each experiment took on this project's 2-core laptop-class CPU (x86-64,
AVX-512) with the shipped teacher, measured with `kdviz reproduce`: a run on another CPU differs,
so a page words it as "about". No table for a GPU: there it says nothing rather than guess.

A Lab race's seconds come from a cost model fitted to seven races on the same CPU (30-30 to
800-800 students, 2 to 6 of them, 1,000 to 60,000 images; within 11%, but six 30-30 students on
60,000 images, 18% under): a fixed cost per optimizer step, Adam's pass over every student's
weights per step (fused: measured, not fitted), the training FLOPs (6 per weight per image) and
the test passes (2 per weight per test image).
The job queue scales it by how this server's finished runs compared with it (kdviz.jobs).
"""

from __future__ import annotations

from collections.abc import Sequence

from kdviz.i18n import _

# Quick: one run on the idle 2-core Intel CPU with issue 22's engine (2026-12-03): the paper's six
# in 143 s, the ensemble 116 s and the kinds of knowledge 43 s. Full: measured before that engine,
# the ensemble's and the kinds of knowledge's on one thread beside another run: upper bounds.
CPU_SECONDS = {
    "quick": {
        "main": 32,
        "omit3": 17,
        "only78": 14,
        "few_labels": 9,
        "temperature": 70,
        "matching": 1,
        "ensemble": 116,
        "knowledge": 43,
    },
    "full": {
        "main": 1350,
        "omit3": 132,
        "only78": 109,
        "few_labels": 158,
        "temperature": 1065,
        "matching": 6,
        "ensemble": 2600,
        "knowledge": 1250,
    },
}


def estimated_seconds(preset: str, names: Sequence[str], device: str) -> float | None:
    """Roughly how long these experiments take on a CPU like ours; None where we have not measured."""
    table = CPU_SECONDS.get(preset)
    if str(device) != "cpu" or table is None:
        return None
    return 5 + sum(table.get(n, 0) for n in names)


STEP_SECONDS = 1.24e-3  # per optimizer step, whatever the students
ADAM_SECONDS = 4.3e-10  # per step, per weight of every student (fused: 0.55 ms for an 800-800)
TRAIN_FLOPS, TEST_FLOPS = 278e9, 187e9  # per second, fp32, at the Lab's batch sizes


def race_seconds(
    parameters: int, students: int, seen: int, steps: int, tested: int, device: str
) -> float | None:
    """Roughly how long a race of `students` models of `parameters` weights each takes on a CPU
    like ours: `steps` optimizer steps on `seen` images in all (every epoch's), and `tested`
    test images (every test pass's). None off the CPU (not measured)."""
    if str(device) != "cpu":
        return None
    work = parameters * students
    return (
        steps * (STEP_SECONDS + ADAM_SECONDS * work)
        + 6 * work * seen / TRAIN_FLOPS
        + 2 * work * tested / TEST_FLOPS
    )


def describe_seconds(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return _("{seconds:.0f} s").format(seconds=seconds)
    if seconds < 5400:
        return _("{minutes:.0f} min").format(minutes=seconds / 60)
    return _("{hours:.0f} h {minutes:.0f} min").format(hours=seconds // 3600, minutes=seconds % 3600 / 60)
