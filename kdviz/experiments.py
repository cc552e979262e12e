"""The paper's MNIST experiments (Hinton, Vinyals & Dean 2015, section 3), one function each.

Every experiment is `fn(bench) -> Findings`: its rows (this run's numbers next to the paper's),
its setup, a curve to plot where there is one, notes, and the paper's effects as checks.
`run_experiment` is the shared opening and closing (the clock, the recipe's notes, `Result`);
`run_all` runs the chosen ones in the paper's order on one bench. The paper's test errors
(of 10,000):

    teacher 1200-1200 (dropout, jitter)          67
    student 800-800 on hard labels              146
    same student distilled at T = 20             74
    no 3s in the transfer set                   206 (133 of the 1,010 threes)
      ... class-3 bias raised by 3.5            109 (14 on threes)
    transfer set = only 7s and 8s             47.3% error; 13.2% after lowering the 7/8 biases by 7.6
    T sweep: >= 300 units: all T > 8 alike; 30 units: T = 2.5-4 best
    high-T limit: distillation = matching (zero-meaned) logits
    ensemble (the title; shown on speech): 10 models 61.1% frame accuracy vs 58.9% for one,
      one model distilled from them 60.8%; the paper gives no MNIST number

Students of one experiment train together as one StackedMLP (same init, same batches). The
bias shifts are kdviz.probes'; the recipes (quick, full, tiny) kdviz.recipes'; the ensemble
experiment lives with the ensemble teacher, in kdviz.ensemble.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from kdviz import distill, ensemble, shifts
from kdviz.bench import Bench, Findings
from kdviz.control import ignore
from kdviz.i18n import N_, _
from kdviz.models import StackedMLP, predict_logits, shape_name
from kdviz.probes import best_shift, bias_sweep, matching_logits_cosine
from kdviz.recipes import JITTER, NOTE_VALUES
from kdviz.result import Result, check, row, seeds_row
from kdviz.targets import Live, PerShift
from kdviz.train import TrainConfig, run_to_end


# --- the experiments -------------------------------------------------------------------------------
def main_table(bench: Bench) -> Findings:
    """Teacher, 800-800 student on labels, same student distilled at T = 20 (paper: 67 / 146 / 74).

    As in the paper the transfer set has no translations. Beyond the paper, each of the recipe's
    `views` adds a pair of students that see the same augmented images (2-px jitter, plus elastic
    distortions of that strength when it is not 0): one learns from the labels, the other is
    taught consistently, from the teacher's logits for the very view it sees (Beyer et al. 2022).

    Why pairs: the shipped teacher learnt on elastic distortions and jitter. A distilled student
    against a labels-only one, both on plain images, credits the teacher's logits with what its
    augmentation taught it too. Only the pair on the teacher's own views compares like with like,
    so every student row carries its views and its schedule (optimizer, rate, epochs, batch): a
    reader checks a comparison from the result itself. Over `seeds` > 1 each row is the mean,
    with every seed's number beside it.
    """
    data, teacher, s = bench.data, bench.teacher, bench.recipe
    per_seed, seconds, shift_seconds, curves = _main_students(bench)
    hid = shape_name(s.student)
    plain = _("plain images")
    students = [  # (row, short name, paper, views, config)
        (_("student {hidden}, labels only: test errors").format(hidden=hid), _("student, labels only"), 146),
        (_("same student distilled, T = {T:g}: test errors").format(T=s.T), _("student, distilled"), 74),
    ]
    views, configs = [plain, plain], [s.main_config()] * 2
    for strength in s.views:
        seen = view_name(strength)
        students += [
            (
                _("beyond the paper: student {hidden} on {views}, labels only").format(
                    hidden=hid, views=seen
                ),
                _("student, on {views}, labels only").format(views=seen),
                None,
            ),
            (
                _("beyond the paper: same, on {views}, taught consistently, T = {T:g}").format(
                    views=seen, T=s.T
                ),
                _("student, on {views}, consistent teaching").format(views=seen),
                None,
            ),
        ]
        views += [seen, seen]
        configs += [view_config(s, strength)] * 2
    teacher_row = _("teacher {hidden}: test errors").format(hidden=shape_name(teacher.spec.hidden))
    rows = [row(teacher_row, teacher.test_errors, 67)]
    rows += [
        seeds_row(what, [r[j] for r in per_seed], paper) | {"views": seen, "schedule": schedule_name(cfg)}
        for j, ((what, _short, paper), seen, cfg) in enumerate(zip(students, views, configs, strict=True))
    ]
    # The setup's keys are JSON keys (kdviz reproduce --json); the page shows _(key).
    info = {
        N_("teacher"): teacher.spec.english_label,
        N_("student"): hid,
        "T": s.T,
        N_("alpha"): s.alpha,
        N_("epochs"): s.epochs,
    }
    info |= {
        N_("train_size"): s.train_size or len(data.train_y),
        N_("seeds"): s.seeds,
        N_("batch"): s.batch_size,
    }
    main_cfg = s.main_config()
    info[N_("optimizer")] = f"{main_cfg.optimizer} {main_cfg.lr:g}"
    info[N_("seconds per seed")] = seconds
    if 0.0 in s.views:
        info[N_("seconds for the teacher's logits of all 25 shifts")] = shift_seconds
    mean = [float(np.mean([r[j] for r in per_seed])) for j in range(len(students))]
    checks = [
        check(_("the distilled student makes fewer errors than the labels-only one"), mean[1] < mean[0])
    ]
    notes = []
    if s.views:
        notes.append(
            _(
                "Consistent teaching: the student sees each image augmented and learns from the "
                "teacher's outputs for that same view (Beyer et al. 2022); not in the paper."
            )
        )
    for i, strength in enumerate(s.views):
        seen, labels, taught = views[2 + 2 * i], mean[2 + 2 * i], mean[3 + 2 * i]
        effect = _("consistent teaching beats labels on the same views ({views})").format(views=seen)
        checks.append(check(effect, taught < labels))
        if strength:
            notes.append(fair_note(seen, labels, taught, mean[0], mean[1]))
    models = [{"model": _("teacher"), "hidden": teacher.spec.hidden, "test errors": teacher.test_errors}]
    models += [
        {"model": short, "hidden": s.student, "test errors": round(m, 1)}
        for (_what, short, _paper), m in zip(students, mean, strict=True)
    ]
    # the students' test errors epoch by epoch, the mean over seeds, beside the teacher's
    curve = [
        (short, epoch, float(np.mean([c[epoch][j] for c in curves])))
        for j, (_what, short, _paper) in enumerate(students)
        for epoch in curves[0]
    ]
    curve += [(_("teacher"), epoch, float(teacher.test_errors)) for epoch in curves[0]]
    curve = pd.DataFrame(curve, columns=["student", "epoch", "errors"])
    return Findings(rows, info, curve, notes=notes, checks=checks, models=models)


def view_name(strength: float) -> str:
    """The views a main-table pair trains on, in words."""
    if not strength:
        return _("2-px jitter")
    return _("2-px jitter + elastic {strength:g}").format(strength=strength)


def view_config(recipe, strength: float) -> TrainConfig:
    """A view pair's config: the main table's schedule, on jitter (and distortions)."""
    return replace(recipe.main_config(jitter=JITTER), elastic=float(strength))


def schedule_name(cfg: TrainConfig) -> str:
    """How a student was trained, in words: what both students of a fair pair share."""
    return _("{optimizer} {lr:g}, {epochs} epochs, batch {batch}").format(
        optimizer=cfg.optimizer, lr=cfg.lr, epochs=cfg.epochs, batch=cfg.batch_size or _("auto")
    )


def fair_note(views: str, labels: float, taught: float, plain_labels: float, plain_taught: float) -> str:
    """What the pair on the teacher's own views shows against the plain pair, whichever way."""
    if taught < labels:
        return _(
            "The fair comparison, on the teacher's own views ({views}): labels alone {labels:.1f} "
            "errors, consistent teaching {taught:.1f}. The teacher's logits are worth {gain:.1f} "
            "errors there, against {plain:.1f} on plain images, where the labels-only student also "
            "lacks the augmentation."
        ).format(
            views=views, labels=labels, taught=taught, gain=labels - taught, plain=plain_labels - plain_taught
        )
    return _(
        "The fair comparison, on the teacher's own views ({views}): labels alone {labels:.1f} errors, "
        "consistent teaching {taught:.1f}: no gain from the teacher there. The {plain:.1f} errors "
        "distillation saves on plain images are what the teacher's augmentation taught it."
    ).format(views=views, labels=labels, taught=taught, plain=plain_labels - plain_taught)


def _main_students(bench: Bench) -> tuple[list[list[int]], list[float], float, list[dict]]:
    """The main table's students over the recipe's seeds: (test errors per seed, seconds per
    seed, seconds spent on the teacher's logits for every shift, per seed every student's test
    errors after each epoch)."""
    data, teacher, s = bench.data, bench.teacher, bench.recipe
    began = time.perf_counter()
    per_shift = None
    if 0.0 in s.views:
        per_shift = PerShift(shifts.logits_per_shift(teacher.logits, data.train_x, JITTER))
    shift_seconds = round(time.perf_counter() - began, 1)
    per_seed, seconds = [], []  # one list of student errors per seed; seconds per seed
    curves = []  # per seed: {epoch: every student's test errors}
    for i in range(s.seeds):
        began = time.perf_counter()
        si = replace(s, seed=s.seed + i)
        pair = (si.T, si.T), (0.0, si.alpha)
        fits = [[]]
        _model, last = bench.fit(si.student, *pair, si.main_config(), curve=fits[0])
        errors = list(last.test_errors)
        for strength in s.views:
            targets = Live(teacher.logits) if strength else per_shift  # too many distortions to cache
            fits.append([])
            _model, last = bench.fit(si.student, *pair, view_config(si, strength), targets, curve=fits[-1])
            errors += last.test_errors
        per_seed.append(errors)
        curves.append({epoch: [e for fit in fits for e in dict(fit)[epoch]] for epoch, _e in fits[0]})
        seconds.append(round(time.perf_counter() - began, 1))
    return per_seed, seconds, shift_seconds, curves


def omit_threes(bench: Bench) -> Findings:
    """No 3s in the transfer set; then raise the 3 bias (paper: 206, 133 on threes -> +3.5: 109, 14)."""
    data, s = bench.data, bench.recipe
    cfg = s.config(s.epochs, s.train_size, omit=(3,))
    model, _last = bench.fit(s.student, (s.T,), (s.alpha,), cfg)
    logits = predict_logits(model, data.test_x)[0]
    sweep = bias_sweep(logits, data.test_y, 3, np.arange(0.0, 10.01, 0.25))
    best = best_shift(sweep)
    at0, atb = sweep.iloc[0], sweep[sweep["shift"] == best].iloc[0]
    n3 = int(at0["class_total"])
    rows = [
        row(_("distilled without 3s: test errors"), int(at0["errors"]), 206),
        row(_("... of which on the {n} threes").format(n=n3), int(at0["class_errors"]), 133),
        row(_("best class-3 bias shift"), best, 3.5),
        row(_("after the shift: test errors"), int(atb["errors"]), 109),
        row(_("... of which on the threes"), int(atb["class_errors"]), 14),
    ]
    info = {N_("student"): shape_name(s.student), "T": s.T, N_("alpha"): s.alpha, N_("epochs"): s.epochs}
    info[N_("omit")] = "3"
    cut = check(
        _("raising the 3 bias more than halves the errors on threes"),
        2 * atb["class_errors"] < at0["class_errors"],
    )
    return Findings(rows, info, sweep, checks=[cut])


def only_sevens_eights(bench: Bench) -> Findings:
    """Transfer set = only 7s and 8s; then lower both biases (paper: 47.3% -> 13.2% at -7.6)."""
    data, s = bench.data, bench.recipe
    others = tuple(d for d in range(10) if d not in (7, 8))
    cfg = s.config(s.only78_epochs, s.train_size, omit=others)
    model, _last = bench.fit(s.student, (s.T,), (s.alpha,), cfg)
    logits = predict_logits(model, data.test_x)[0]
    sweep = bias_sweep(logits, data.test_y, (7, 8), np.arange(0.0, -20.01, -0.25))
    best = best_shift(sweep)
    n = len(data.test_y)
    pct = lambda e: round(100 * float(e) / n, 2)
    before, after = sweep.iloc[0]["errors"], sweep[sweep["shift"] == best].iloc[0]["errors"]
    rows = [
        row(_("only 7s and 8s: test error %"), pct(before), 47.3),
        row(_("best shift of the 7 and 8 biases"), best, -7.6),
        row(_("after the shift: test error %"), pct(after), 13.2),
    ]
    info = {
        N_("student"): shape_name(s.student),
        "T": s.T,
        N_("alpha"): s.alpha,
        N_("epochs"): s.only78_epochs,
    }
    info[N_("transfer")] = "7, 8"
    cut = check(_("lowering the 7 and 8 biases more than halves the error rate"), 2 * after < before)
    return Findings(rows, info, sweep, checks=[cut])


def few_labels(bench: Bench) -> Findings:
    """A few labelled images, with and without the teacher (soft targets as a regulariser).

    The paper shows it on speech (3% of the data: 44.5% hard vs 57.0% soft frame accuracy);
    it gives no MNIST number. Measured here: 1,000 images, 20 epochs: ~1020 vs ~590 errors.
    """
    s = bench.recipe
    rows, curve = [], []
    alone, taught = _("labels only"), _("with the teacher")  # the chart's legend
    for n in s.few_sizes:
        cfg = replace(s.config(s.few_epochs, n), batch_size=None)  # ~16+ steps an epoch on few images
        _model, last = bench.fit(s.student, (s.T, s.T), (0.0, s.alpha), cfg)
        rows += [row(_("{n} images, labels only: test errors").format(n=n), last.test_errors[0])]
        rows += [row(_("{n} images, with the teacher: test errors").format(n=n), last.test_errors[1])]
        curve += [(n, alone, last.test_errors[0]), (n, taught, last.test_errors[1])]
    info = {N_("student"): shape_name(s.student), "T": s.T, N_("alpha"): s.alpha, N_("epochs"): s.few_epochs}
    info[N_("sizes")] = list(s.few_sizes)
    curve = pd.DataFrame(curve, columns=["images", "student", "errors"])
    wide = curve.pivot(index="images", columns="student", values="errors")
    helps = check(_("the teacher helps at every size"), (wide[taught] < wide[alone]).all())
    return Findings(rows, info, curve, checks=[helps])


def temperature_sweep(bench: Bench) -> Findings:
    """Test errors vs T for a big and a small student; all Ts of one size train as one StackedMLP.

    Paper: with 300+ units per layer all T > 8 gave similar results; with 30, T = 2.5-4 was best.
    Small students need many steps to fit the teacher at high T (there the soft loss is logit
    regression), hence their longer training. A 30-30 student's errors move by 20-30 from one
    seed to the next, as much as T moves them: the small student runs over `small_seeds` seeds at
    every T (one stack: same batches, different initial weights), and its best T counts as shown
    only when its lead over T = 1 is larger than the seeds' spread (standard deviation).
    """
    data, s = bench.data, bench.recipe
    Ts, curve, rows, found = tuple(s.sweep_Ts), [], [], {}
    for hidden, epochs, n, batch in (
        (s.big, s.sweep_epochs, 1, s.batch_size),
        (s.small, s.small_epochs, s.small_seeds, s.small_batch_size),
    ):
        cfg = replace(s.config(epochs, s.sweep_size), batch_size=batch)
        inits = [s.seed + j for _t in Ts for j in range(n)]
        _model, last = bench.fit(hidden, _each(Ts, n), (s.alpha,) * len(Ts) * n, cfg, inits=inits)
        errs = {t: last.test_errors[i * n : (i + 1) * n] for i, t in enumerate(Ts)}
        mean = {t: float(np.mean(e)) for t, e in errs.items()}
        sd = {t: float(np.std(e, ddof=1)) if n > 1 else 0.0 for t, e in errs.items()}
        found[hidden] = mean, sd
        curve += [(shape_name(hidden), t, mean[t], sd[t]) for t in Ts]
        best = min(mean, key=mean.get)
        h = shape_name(hidden)
        if hidden == s.small:
            rows.append(row(_("student {hidden}: best T").format(hidden=h), best, "2.5-4"))
            what = _("student {hidden}: errors at the best T / at T = 1 (mean over {n} seeds, sd)")
            at_1 = f"{mean[1.0]:.1f} ({sd[1.0]:.1f})" if 1.0 in mean else "-"
            rows.append(row(what.format(hidden=h, n=n), f"{mean[best]:.1f} ({sd[best]:.1f}) / {at_1}"))
        hi = [e for t, e in mean.items() if t > 8]
        if hidden == s.big and hi:
            what = _("student {hidden}: errors over T > 8 (min-max)").format(hidden=h)
            rows.append(row(what, f"{min(hi):g}-{max(hi):g}", _("all alike")))
            rows.append(row(_("student {hidden}: best T").format(hidden=h), best))
    info = {
        N_("students"): f"{shape_name(s.big)}, {shape_name(s.small)}",
        "Ts": list(Ts),
        N_("alpha"): s.alpha,
    }
    info |= {N_("small epochs"): s.small_epochs, N_("small seeds"): s.small_seeds}
    info |= {N_("epochs"): s.sweep_epochs, N_("train_size"): s.sweep_size or len(data.train_y)}
    curve = pd.DataFrame(curve, columns=["student", "T", "errors", "sd"])
    (small, small_sd), (big, _big_sd) = found[s.small], found[s.big]
    best = min(small, key=small.get)
    hot = min((t for t in small if t >= 8), key=small.get, default=None)  # the best of the high Ts
    lead_hot, spread_hot = _lead(small, small_sd, best, hot)
    lead_cold, spread_cold = _lead(small, small_sd, best, 1.0 if 1.0 in small else None)
    checks = [  # the paper: for 30 units, T above 8 gave considerably worse results than T = 2.5-4
        check(
            _("the small student's best T is 2-4, ahead of every T >= 8 by more than the seeds' spread"),
            2 <= best <= 4 and lead_hot > spread_hot,
        )
    ]
    notes = []
    if s.small_seeds > 1:
        text = _(
            "The {hidden} student's best T (T = {best:g}) leads {other} by {lead:.1f} errors; the "
            "spread over {n} seeds (sd) is {spread:.1f}: {verdict}."
        )
        for other, lead, spread in (
            (_("every T >= 8"), lead_hot, spread_hot),
            ("T = 1", lead_cold, spread_cold),
        ):
            if lead == lead:  # there was such a T
                verdict = (
                    _("larger than the spread, an effect")
                    if lead > spread
                    else _("within the spread, no effect")
                )
                notes.append(
                    text.format(
                        hidden=shape_name(s.small),
                        best=best,
                        other=other,
                        lead=lead,
                        n=s.small_seeds,
                        spread=spread,
                        verdict=verdict,
                    )
                )
    hi = [e for t, e in big.items() if t > 8]
    if hi:
        checks.append(
            check(
                _("the big student's errors over T > 8 stay within {share} of their mean").format(
                    share="20%"
                ),
                max(hi) - min(hi) <= 0.2 * np.mean(hi),
            )
        )
    return Findings(rows, info, curve, notes=notes, checks=checks)


def _lead(mean: dict, sd: dict, best, other) -> tuple[float, float]:
    """How many errors `best` saves against `other` on average, and the larger of their seed
    spreads; NaN and 0 when there is no `other`."""
    if other is None or other == best:
        return float("nan"), 0.0
    return mean[other] - mean[best], max(sd[best], sd[other])


def _each(values, n: int) -> tuple:
    """Every value n times in a row: (1, 2), 2 -> (1, 1, 2, 2)."""
    return tuple(v for v in values for _i in range(n))


# The race of kinds: the paper's distilled student, and the survey's others at their papers' usual
# weights (FitNets and RKD add their term to the labels' at equal weight; DML: CE + KL at T = 1)
KINDS = (
    distill.Student(20.0, 0.0),
    distill.Student(20.0, 0.9),
    distill.Student(1.0, 0.5, knowledge="hint"),
    distill.Student(1.0, 0.5, knowledge="relation"),
    distill.Student(1.0, 0.5, knowledge="mutual"),
)


def knowledge_kinds(bench: Bench) -> Findings:
    """Beyond the paper: what each of the survey's kinds of knowledge buys an MLP on MNIST.

    The Lab's race (kdviz.distill) of five students of the main table's shape, one stack, same
    initial weights and batches: labels only, the teacher's logits (T = 20, alpha 0.9), a hint
    from its last hidden layer, its relations between images, and a peer (mutual learning, no
    teacher). Repeated over `knowledge_seeds` seeds; each kind's gain against labels only and
    against the logits is called an effect only when it is larger than the seeds' spread. The
    hint's projection (the student's units x the teacher's) trains with it and is thrown away;
    hint and relation run the teacher's hidden layer on every batch; a peer is a second student.
    """
    data, teacher, s = bench.data, bench.teacher, bench.recipe
    per_seed, seconds = [], []
    for i in range(s.knowledge_seeds):
        # the Lab's own settings: its batch (auto) and learning rate (DistillConfig's)
        cfg = distill.DistillConfig(
            s.student, KINDS, s.knowledge_epochs, seed=s.seed + i, train_size=s.knowledge_size
        )
        _models, events = distill.race(
            data, bench.logits, cfg, bench.should_stop, teacher_hidden=teacher.hidden
        )
        last = run_to_end(events, bench.on_progress, whole=True)
        per_seed.append(last.test_errors)
        seconds.append(round(last.elapsed, 1))
    errors = np.array(per_seed, dtype=float)  # (seeds, kinds)
    mean = errors.mean(0)
    sd = errors.std(0, ddof=1) if len(errors) > 1 else np.zeros(len(KINDS))
    names = distill.student_names(KINDS)
    rows = [
        seeds_row(
            _("{kind}: test errors").format(kind=distill.knowledge_name(k.knowledge) if k.alpha else n),
            list(col),
            None,
        )
        for k, n, col in zip(KINDS, names, errors.T, strict=True)
    ]
    checks = [  # beyond the paper: a claim for each kind, which the numbers confirm or not
        check(
            _("{kind} beats labels only by more than the seeds' spread").format(kind=names[j]),
            mean[0] - mean[j] > max(sd[0], sd[j]),
        )
        for j in range(1, len(KINDS))
    ]
    notes = []
    for j in range(2, len(KINDS)):  # hint, relation, mutual against labels only and the logits
        for other, k in ((_("labels only"), 0), (_("the teacher's logits"), 1)):
            lead, spread = mean[k] - mean[j], max(sd[j], sd[k])
            verdict = (
                _("larger than the spread, an effect")
                if abs(lead) > spread
                else _("within the spread, no effect")
            )
            notes.append(
                _(
                    "{kind}: {errors:.1f} errors, {lead:+.1f} against {other} "
                    "(spread {spread:.1f}): {verdict}."
                ).format(
                    kind=names[j], errors=mean[j], lead=-lead, other=other, spread=spread, verdict=verdict
                )
            )
    info = {
        N_("student"): shape_name(s.student),
        N_("train_size"): s.knowledge_size or len(data.train_y),
        N_("epochs"): s.knowledge_epochs,
        N_("seeds"): s.knowledge_seeds,
        N_("hint projection (training only)"): f"{s.student[-1]} x {teacher.spec.hidden[-1]}",
        N_("seconds per seed (the five in one stack)"): seconds,
    }
    return Findings(rows, info, notes=notes, checks=checks)


def matching_logits(bench: Bench) -> Findings:
    """Cosine between the soft loss's gradient and logit matching's, vs T, on the test images:
    an untrained student and one trained one epoch on labels. Paper: equal in the high-T limit."""
    data, teacher, s = bench.data, bench.teacher, bench.recipe
    v = teacher.logits(data.test_x)
    untrained = StackedMLP(s.student, 1, seed=s.seed).to(data.device)
    cfg = s.config(1, min(s.matching_size, len(data.train_y)))
    trained, _last = bench.fit(s.student, (1.0,), (0.0,), cfg)
    curve, rows = [], []
    once = _("1 epoch on labels")  # the chart's legend
    students = (
        (_("untrained"), untrained, _("untrained student: cosine at T = {T:g}")),
        (once, trained, _("1 epoch on labels student: cosine at T = {T:g}")),
    )
    for label, model, what in students:
        df = matching_logits_cosine(predict_logits(model, data.test_x)[0], v, s.matching_Ts)
        curve.append(df.assign(student=label))
        for t in (s.matching_Ts[0], s.matching_Ts[-1]):
            c = float(df.loc[df["T"] == t, "cosine"].iloc[0])
            rows.append(row(what.format(T=t), round(c, 4), 1.0 if t > 50 else None))
    info = {N_("student"): shape_name(s.student), "Ts": list(s.matching_Ts), N_("images"): len(data.test_y)}
    curve = pd.concat(curve, ignore_index=True)
    trained_cos = curve[curve["student"] == once]["cosine"]
    climbs = check(
        _("the cosine climbs towards 1 as T grows (> 0.99 at the highest T)"),
        trained_cos.iloc[0] < trained_cos.iloc[-1] and trained_cos.iloc[-1] > 0.99,
    )
    return Findings(rows, info, curve, checks=[climbs])


class Experiment(NamedTuple):
    title: str  # numbered, as the page lists it (marked for translation)
    short: str  # the Result's title (English: the CLI prints it, JSON keeps it)
    run: Callable[[Bench], Findings]


EXPERIMENTS: dict[str, Experiment] = {
    "main": Experiment(N_("1. Main table: teacher, student, distilled student"), "Main table", main_table),
    "omit3": Experiment(
        N_("2. No 3s in the transfer set, then a bias shift"), "No 3s in the transfer set", omit_threes
    ),
    "only78": Experiment(N_("3. Transfer set of only 7s and 8s"), "Only 7s and 8s", only_sevens_eights),
    "few_labels": Experiment(N_("4. Few labels, with and without the teacher"), "Few labels", few_labels),
    "temperature": Experiment(
        N_("5. Temperature sweep, big and small students"), "Temperature sweep", temperature_sweep
    ),
    "matching": Experiment(N_("6. High T = matching logits"), "Matching logits", matching_logits),
    "ensemble": Experiment(
        N_("7. An ensemble teacher distilled into one student"), "Ensemble teacher", ensemble.experiment
    ),
    "knowledge": Experiment(
        N_("8. Beyond the paper: hints, relations and a peer against the logits"),
        "Kinds of knowledge",
        knowledge_kinds,
    ),
}
# What runs unless asked otherwise: the paper's six MNIST experiments. The ensemble (beyond them,
# and longer than the six together on a CPU) runs when chosen: a box on the page, --only ensemble.
DEFAULT = ("main", "omit3", "only78", "few_labels", "temperature", "matching")


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """The chosen experiments in the paper's order; ValueError naming any unknown (or none)."""
    unknown = set(names) - set(EXPERIMENTS)
    if unknown or not names:
        raise ValueError(
            _("unknown experiments: {unknown}; known: {known}").format(
                unknown=", ".join(sorted(unknown)) or _("none chosen"), known=", ".join(EXPERIMENTS)
            )
        )
    return tuple(n for n in EXPERIMENTS if n in names)


def run_experiment(name: str, bench: Bench) -> Result:
    """One experiment, timed, with its recipe's notes on why its numbers differ from the paper's."""
    start = time.perf_counter()
    found = EXPERIMENTS[name].run(bench)
    notes = found.notes + [
        _(line).format(**NOTE_VALUES) for about, line in bench.recipe.notes if about == name
    ]
    seconds = time.perf_counter() - start
    return Result(
        name, EXPERIMENTS[name].short, found.rows, found.setup, bench.recipe.seed, seconds, found.curve,
        notes, found.checks, found.models,
    )  # fmt: skip


def run_all(
    bench: Bench, names: Sequence[str] = DEFAULT, on_start: Callable[[str], None] = ignore
) -> Iterator[Result]:
    """Each chosen experiment's Result, in the paper's order; `on_start(name)` before each.
    Stopped (kdviz.control) when asked to stop: the results yielded so far stand."""
    names = check_names(names)
    for name in names:
        on_start(name)
        result = run_experiment(name, bench)
        if bench.teacher.note and name == names[0]:  # e.g. why the shipped teacher was not used
            result.notes.insert(0, bench.teacher.note)
        yield result
