"""The lesson: eight questions through the four pages, each predicted by the class, then measured.

Predict, run, reveal: a step asks the class a question (choices, or a number to guess), opens the
page that answers it in exactly the state it needs (the pages keep their state in the URL), and its
reveal is what this machine measures now, with one line of why. Nothing here is a scripted answer:
each `reveal_*` computes its answer from what it is given (the docs' example, the shipped teacher's
outputs on the test set, a Lab run of the class's history, a stored Experiments run), and says how
far to trust it (a stopped or short run says so beside its verdict).

Steps are data (questions and notes are marked for translation, kdviz.i18n); reveals are pure
functions, so every answer is tested without Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from kdviz.dark import class_similarity
from kdviz.distill import caveats
from kdviz.history import Record
from kdviz.i18n import N_, _
from kdviz.temperature import probs_to_logits, softmax_t

DOCS_PROBS = (0.6, 0.3, 0.08, 0.02)  # dog, cat, horse, car: the docs' example


@dataclass(frozen=True)
class Step:
    id: str
    page: str  # the page file that answers it
    params: dict  # that page's URL state for this step
    question: str  # marked with N_: shown with _()
    choices: tuple[str, ...] = ()  # empty: the class guesses a number
    notes: str = ""  # teacher's notes: what to say, what classes usually get wrong
    needs: str = ""  # "", "teacher", "race" or "experiments": what the reveal measures
    seconds: int = 0  # training it needs on a 2-core CPU (0: none), as measured for the README


# The races (the Lab's students as T:alpha), measured on a 2-core CPU with the shipped teacher:
# 800-800 on 1,000 labelled images, 20 epochs: 16 s; four 30-30 students on 3,000, 20 epochs: 4 s.
# Both fit classroom mode's caps (kdviz.env.CLASSROOM).
RACE = {"student": "800,800", "students": "20:0,20:0.9", "n": "1000", "epochs": "20", "omit": "none"}
SMALL = RACE | {"student": "30,30", "students": "1:0.9,2.5:0.9,5:0.9,20:0.9", "n": "3000"}

STEPS = (
    Step(
        "car",
        "pages/1_Temperature.py",
        {"preset": "docs", "mode": "probabilities", "T": "100"},
        N_("At T = 100, what happens to p(car), which is 0.02 at T = 1?"),
        (
            N_("It falls to almost 0"),
            N_("It stays about 0.02"),
            N_("It rises to almost 0.25"),
            N_("It becomes the largest"),
        ),
        N_(
            "Let the class commit before anyone moves the slider. Many expect the top class to grow "
            "with T; in fact a high T pushes every class towards 1/4. Ask why 1/4."
        ),
    ),
    Step(
        "wrong",
        "pages/1_Temperature.py",
        {"preset": "docs", "mode": "probabilities", "T": "5"},
        N_("At T = 5, what share of the probability (in %) do the three wrong classes hold together?"),
        notes=N_(
            "At T = 1 they hold 40%. Students often guess a little more; it is far more. This mass is "
            "what the student learns from: the soft targets."
        ),
    ),
    Step(
        "four",
        "pages/2_Dark_Knowledge.py",
        {"cls": "4", "T": "4"},
        N_("Which digit does the teacher find a 4 most like?"),
        tuple(str(d) for d in range(10)),
        N_(
            "Ask the class to draw a 4 on paper first. The open-topped 4 looks like a 9: that is "
            "'dark knowledge', learnt from images, never from labels."
        ),
        needs="teacher",
    ),
    Step(
        "teacher",
        "pages/2_Dark_Knowledge.py",
        {"cls": "all", "T": "1"},
        N_("How many of the 10,000 test digits does the shipped teacher get wrong?"),
        notes=N_(
            "The paper's teacher made 67 errors. Guesses are usually far too high: the teacher "
            "gets more than 99 digits in 100 right, and still its wrong answers carry information."
        ),
        needs="teacher",
    ),
    Step(
        "race",
        "pages/3_Distillation_Lab.py",
        RACE,
        N_(
            "With 1,000 labelled images, will the student that listens to the teacher beat the one "
            "that reads only labels?"
        ),
        (N_("Yes, clearly"), N_("About the same"), N_("No, the labels-only one wins")),
        N_(
            "Press Train in the Lab and let the class watch the two curves. Both students start from "
            "the same weights and see the same batches: only the loss differs."
        ),
        needs="race",
        seconds=16,
    ),
    Step(
        "small",
        "pages/3_Distillation_Lab.py",
        SMALL,
        N_("Which T is best for a student with only 30 units per layer?"),
        ("T = 1", "T = 2.5", "T = 5", "T = 20"),
        N_(
            "The paper found that very small students prefer a lower T (2.5-4 of those it tried): "
            "they cannot copy all the teacher's fine detail. One run is one seed; say so."
        ),
        needs="race",
        seconds=4,
    ),
    Step(
        "omit",
        "pages/4_Experiments.py",
        {"preset": "quick", "only": "omit3"},
        N_(
            "A student never sees a 3: its transfer set has none, only the teacher's soft targets on "
            "other digits. How many of the test set's 1,010 threes will it get right?"
        ),
        notes=N_(
            "Most classes guess close to zero. The soft targets of other digits (a 3 in an 8, in a 5) "
            "teach what a 3 looks like; what it still lacks is a large enough bias for class 3, "
            "which the reveal adds by hand, as the paper did."
        ),
        needs="experiments",
        seconds=40,  # kdviz.experiments.CPU_SECONDS, quick preset, plus the teacher's logits
    ),
    Step(
        "paper",
        "pages/4_Experiments.py",
        {"preset": "quick", "only": "main"},
        N_(
            "The paper's distilled 800-800 student made 74 test errors (146 from labels alone). "
            "How many will ours make?"
        ),
        notes=N_(
            "Run it before class (the quick preset: about a minute on a laptop) and it is shown at once. "
            "The quick preset trains for fewer epochs: expect the effect, not the paper's digits."
        ),
        needs="experiments",
        seconds=70,  # kdviz.experiments.CPU_SECONDS, quick preset, plus the teacher's logits
    ),
)
STEP_IDS = tuple(s.id for s in STEPS)


def marks(step: Step) -> tuple[str, ...]:
    """What a choice is called on the bars and the phones: itself when every choice is short (the
    digits, "T = 2.5"), else a letter (A, B, C...) beside the choice's text."""
    if all(len(c) <= 8 for c in step.choices):
        return step.choices
    return tuple(chr(65 + i) for i in range(len(step.choices)))


@dataclass(frozen=True)
class Reveal:
    """What was measured: the answer in words, the right choice (or the measured number) and why."""

    answer: str
    correct: int | float | None  # the index of the right choice, or the number to compare guesses with
    why: str
    context: list[str] = field(default_factory=list)  # when, where, how long; warnings


def reveal_car(T: float = 100.0) -> Reveal:
    q1 = softmax_t(probs_to_logits(DOCS_PROBS), 1.0)
    q = softmax_t(probs_to_logits(DOCS_PROBS), T)
    car, C = float(q[3]), len(DOCS_PROBS)
    if int(q.argmax()) == 3:
        correct = 3
    else:  # the nearest of "almost 0", "about 0.02" and "almost 1/C"
        correct = min(range(3), key=lambda i: abs(car - (0.0, float(q1[3]), 1 / C)[i]))
    return Reveal(
        _("p(car) = {p:.3f} at T = {T:g} (it was {p1:.3f} at T = 1).").format(p=car, T=T, p1=float(q1[3])),
        correct,
        _(
            "A high T divides every logit by a large number: they all get close, "
            "so all {C} classes tend to 1/{C}."
        ).format(C=C),
    )


def reveal_wrong(T: float = 5.0) -> Reveal:
    q1 = softmax_t(probs_to_logits(DOCS_PROBS), 1.0)
    q = softmax_t(probs_to_logits(DOCS_PROBS), T)
    share, share1 = 100 * (1 - float(q[0])), 100 * (1 - float(q1[0]))
    return Reveal(
        _("{share:.0f}% at T = {T:g} (it was {share1:.0f}% at T = 1).").format(
            share=share, T=T, share1=share1
        ),
        round(share, 1),
        _("Softening moves mass from the top class to the wrong ones: their ranking becomes visible."),
    )


def reveal_four(logits: torch.Tensor, labels: torch.Tensor, T: float = 4.0) -> Reveal:
    row = class_similarity(logits, labels, T)[4].clone()
    row[4] = -1.0
    like = int(row.argmax())
    return Reveal(
        _(
            "The digit {like}: at T = {T:g} the teacher gives it {p:.1%} of its mass on the test set's "
            "fours, more than any other wrong digit."
        ).format(like=like, p=float(row[like]), T=T),
        like,
        _("The teacher learnt that from images alone: the labels only ever say '4'."),
    )


def reveal_teacher(errors: int, total: int, label: str) -> Reveal:
    return Reveal(
        _("{errors} of {total:,} ({accuracy:.2%} right), measured just now on this machine.").format(
            errors=errors, total=total, accuracy=1 - errors / total
        ),
        errors,
        _("The paper's teacher made 67. Even a teacher this good ranks its wrong answers."),
        [label],
    )


def latest_race(records: list[Record], step: Step) -> list[Record]:
    """The newest run of the class's history with this step's settings (its students, oldest
    first), or [] if none has been run yet."""
    p = step.params
    want = sorted(tuple(map(float, s.split(":"))) for s in p["students"].split(","))
    shape = p["student"].replace(",", "-")
    omit = "-" if p["omit"] == "none" else p["omit"]
    runs: dict[str, list[Record]] = {}
    for r in records:
        if r.student == shape and r.images == int(p["n"]) and r.omit == omit and not r.anneal:
            runs.setdefault(r.run, []).append(r)
    matching = [rs for rs in runs.values() if sorted((r.T, r.alpha) for r in rs) == want]
    return matching[-1] if matching else []


def race_context(rs: list[Record]) -> list[str]:
    r = rs[0]
    lines = [
        _("Run at {when} UTC on {device}: {epochs} of {total} epochs, {seconds:.0f} s.").format(
            when=r.created.replace("T", " ").rstrip("Z"),
            device=r.device.upper(),
            epochs=r.epochs_done,
            total=r.epochs,
            seconds=r.seconds,
        )
    ]
    lines += caveats(r.epochs_done, r.epochs)
    return lines


def reveal_race(rs: list[Record]) -> Reveal:
    plain = next(r for r in rs if r.alpha == 0)
    taught = next(r for r in rs if r.alpha > 0)
    margin = max(3, round(0.03 * plain.errors))  # within 3%: one seed could turn it round
    gain = plain.errors - taught.errors
    correct = 0 if gain > margin else 2 if gain < -margin else 1
    return Reveal(
        _("Listening to the teacher: {taught} test errors; labels only: {plain}.").format(
            taught=taught.errors, plain=plain.errors
        ),
        correct,
        _(
            "The soft targets tell the student how each image resembles the other digits: "
            "more per image than a label."
        ),
        race_context(rs),
    )


def reveal_small(rs: list[Record]) -> Reveal:
    best = min(rs, key=lambda r: r.errors)
    order = [float(c.split("=")[1]) for c in STEPS[STEP_IDS.index("small")].choices]
    results = ", ".join(f"T = {r.T:g}: {r.errors}" for r in sorted(rs, key=lambda r: r.T))
    return Reveal(
        _("T = {T:g} did best ({results}).").format(T=best.T, results=results),
        order.index(best.T) if best.T in order else None,
        _(
            "A small student cannot copy every detail of a very soft target: "
            "a lower T keeps the part it can use."
        ),
        race_context(rs),
    )


def reveal_omit(values: list[float], threes: int, when: str, machine: str, preset: str) -> Reveal:
    """From the omit-3 experiment's rows: errors, errors on threes, best bias shift, and both again
    after the shift (kdviz.experiments.omit_threes)."""
    _errors, wrong, shift, _after, wrong_after = values[:5]
    right = threes - int(wrong)
    return Reveal(
        _(
            "{right} of {threes:,} threes right without ever seeing one; with the 3 bias raised by "
            "{shift:g}: {right_after}."
        ).format(right=right, threes=threes, shift=shift, right_after=threes - int(wrong_after)),
        right,
        _(
            "The teacher's soft targets on other digits say how much each looks like a 3: enough to "
            "learn threes from. The paper: 877 right, 996 after the bias shift."
        ),
        [
            _("{preset} preset, run at {when} on {machine}.").format(
                preset=_(preset), when=when, machine=machine
            )
        ],
    )


def reveal_paper(values: list[float], when: str, machine: str, preset: str) -> Reveal:
    """From the main table's rows: teacher, labels-only student, distilled student (means over seeds)."""
    plain, distilled = values[1], values[2]
    return Reveal(
        _("Distilled: {distilled:g} test errors; labels only: {plain:g} (the paper: 74 and 146).").format(
            distilled=distilled, plain=plain
        ),
        distilled,
        _(
            "Our students train for fewer epochs than the paper's in the quick preset: "
            "the effect, not the digits."
        )
        if preset != "full"
        else _("The full preset trains the students to convergence, over 3 seeds: these are means."),
        [
            _("{preset} preset, run at {when} on {machine}.").format(
                preset=_(preset), when=when, machine=machine
            )
        ],
    )
