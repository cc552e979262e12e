"""Recipes of the paper's experiments: how long and on what each experiments run trains.

A `Recipe` holds everything an experiments run depends on but the data and the teacher it is
given: the students' shapes, T and alpha, epochs, optimizers, seeds, which rows go beyond the
paper, and per experiment a note on why its numbers differ from the paper's. Three presets:
QUICK (minutes on a 2-core CPU: the same effects, not the same digits), FULL (the paper's
students trained to convergence over 3 seeds, plus fair pairs: labels only against consistent
teaching on the same views, the teacher's own among them) and TINY (seconds, for
tests on the synthetic 600-image set). `recipe_table` writes a recipe for a person to read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from kdviz.env import EXPERIMENT_PRESETS
from kdviz.i18n import N_, _
from kdviz.models import shape_name
from kdviz.teacher import TeacherSpec
from kdviz.train import TrainConfig


@dataclass(frozen=True)
class Recipe:
    """Everything an experiments run depends on; QUICK, FULL and TINY are the presets' recipes."""

    teacher: TeacherSpec | None = None  # None: the shipped paper teacher (kdviz.shipped)
    student: tuple[int, ...] = (800, 800)  # the paper's student
    small: tuple[int, ...] = (30, 30)  # the paper's small student (T sweep)
    big: tuple[int, ...] = (300, 300)  # the T sweep's big student (paper: "300 or more units")
    T: float = 20.0
    alpha: float = 0.9
    epochs: int = 8  # main table, omitted 3s
    # Only 7s and 8s is a fifth of the images: more epochs for as many steps (20 epochs: 56% error,
    # 27% after the bias shift; 8 epochs: 73% and 39%)
    only78_epochs: int = 30
    batch_size: int | None = 128  # None = auto (kdviz.train.auto_batch)
    # Adam's peak rate (linear decay to 0: good in a few epochs): at T = 20 the soft term is logit
    # regression, which converges slowly at 1e-3 (4 epochs: distilled 193 errors vs labels only
    # 148; at 3e-3, 8 epochs: 123 vs 140)
    lr: float = 3e-3
    # The main table's students, and the ensemble's (the same 800-800 on all 60,000 images):
    # "adam" at `lr`, or "sgd" (Nesterov, one epoch of warm-up, cosine decay) at `main_lr`, which
    # settles better over long runs (see FULL). Only there: with fewer images an epoch's warm-up
    # is a few steps and SGD at 0.05 diverged (few labels, only 7s and 8s), where Adam does not.
    main_optimizer: str = "adam"
    main_lr: float = 0.05
    seeds: int = 1  # the main table is repeated over this many seeds: mean and spread
    # Main table, beyond the paper: per entry two more students on the same views, one on the
    # labels, one taught consistently (the teacher's logits for each student's view): 2-px jitter
    # plus elastic distortions of this strength (kdviz.elastic; 0 = jitter only, the teacher's
    # logits cached per shift; > 0: the teacher run on each batch, too many views to cache).
    # The shipped teacher learnt on elastic 34 + 2-px jitter: only that pair is a fair baseline.
    views: tuple[float, ...] = ()
    train_size: int | None = None  # None = all 60,000
    few_sizes: tuple[int, ...] = (300, 1000, 3000)
    few_epochs: int = 20
    sweep_Ts: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 40.0)
    sweep_size: int | None = None
    sweep_epochs: int = 4
    # 30-unit students are cheap and need many steps to fit the teacher: more epochs. Measured
    # (alpha 0.9, 3e-3): after 20 epochs T = 1 and 2 were level (312 / 305 errors); from 30 on,
    # T = 2 led (274 vs 304 at 60; labels only 300). At 1e-2, T = 1 stayed best (270 vs 281).
    small_epochs: int = 40
    # Batch 256 halves the steps of the quick preset's longest fit (27 small students, 40 epochs:
    # 71 -> 45 s on a 2-core CPU). Measured over 3 seeds, alpha 0.9, 3e-3: T = 1, 2, 3, 4, 8, 20
    # made 278, 267, 258, 263, 300, 335 errors at batch 256 (sd 8-12) against 270, 255, 257, 261,
    # 321, 334 at 128 (sd 12-28): the best T is still 2-4, ahead of T = 8 by more than the spread.
    small_batch_size: int | None = 256
    # Seeds of the small student at each T (one stack: same batches, different initial weights).
    # One seed is an anecdote: a 30-30 sweep's dips of 20-30 errors are inside the seed-to-seed spread.
    small_seeds: int = 3
    # Beyond the paper: the Lab's race of the survey's kinds of knowledge (kdviz.losses), on this
    # many images (None = all) for this many epochs, over `knowledge_seeds` seeds
    knowledge_size: int | None = 1000  # the Lab's default
    knowledge_epochs: int = 20  # the Lab's default
    knowledge_seeds: int = 3
    matching_Ts: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 300.0)
    matching_size: int = 10000  # images the partly trained student of experiment 6 sees once
    seed: int = 0
    # (experiment, one line): why this preset's numbers differ from the paper's, shown with them
    notes: tuple[tuple[str, str], ...] = ()
    # The ensemble teacher (kdviz.ensemble): this many members that differ only by seed (the recipe's
    # seed, + 1, ...), each trained with this recipe (its seed field is ignored); the students
    # distilled from it are the main table's (student, T, alpha, epochs)
    ensemble_members: int = 4
    # Quick: members shaped and trained like the labels-only student (800-800, Adam 3e-3, batch 128,
    # 8 epochs, no dropout or jitter), as in the paper's speech ensemble, where the members and the
    # distilled model had the baseline's architecture: member 1 *is* the labels-only student.
    # Measured: 4 such members 141 errors on average, their ensemble 126. Four 400-400 members
    # with the quick teacher's dropout and 1-px jitter for 5 epochs (half the time) made 166 and 156,
    # worse than the student alone (140): teachers worse than the student teach nothing.
    ensemble: TeacherSpec = TeacherSpec(
        hidden=(800, 800), dropout=0.0, input_dropout=0.0, jitter=0, epochs=8, batch_size=128, lr=3e-3
    )

    def config(self, epochs: int, train_size: int | None = None, omit=(), jitter=0) -> TrainConfig:
        """Adam at `lr`: every experiment's students but the main table's (`main_config`), tested
        on the test set at most TESTS times: these experiments read only the last test, and a
        pass costs as much as many steps (few labels, quick preset: 60 passes, 11 of its 18 s)."""
        return TrainConfig(
            epochs,
            self.batch_size,
            self.lr,
            self.seed,
            jitter,
            train_size=train_size,
            omit=tuple(omit),
            eval_every=-(-int(epochs) // TESTS),
        )

    def main_config(self, jitter=0) -> TrainConfig:
        """The main table's students (and the ensemble's): `epochs`, `main_optimizer`; tested
        after every epoch (the main table's curve)."""
        cfg = replace(self.config(self.epochs, self.train_size, jitter=jitter), eval_every=1)
        if self.main_optimizer == "adam":
            return cfg
        # TrainConfig refuses an optimizer it does not know
        return replace(cfg, optimizer=self.main_optimizer, lr=self.main_lr, warmup=min(1, self.epochs - 1))


TESTS = 4  # test passes in a fit (Recipe.config): its last, and snapshots to resume from (kdviz.bench)
# Values of the notes' placeholders. A percentage is a value, not the message's own text: in a message,
# "3% of" reads as a printf placeholder ("% o") to Babel, whose checks then refuse the translation.
NOTE_VALUES = {"share": "3%"}
QUICK = Recipe(  # 2-core CPU: the paper's six in about 2.5 min (shipped teacher), the ensemble 2 min more
    notes=(
        ("main", N_("Quick: the students train 8 epochs (the paper: to convergence; full: 30).")),
        ("omit3", N_("Quick: 8 epochs, not training to convergence: the counts differ, the effect stays.")),
        ("only78", N_("Quick: 30 epochs, not training to convergence: the rates differ, the effect stays.")),
        ("few_labels", N_("The paper shows this on speech ({share} of the data); it gives no MNIST number.")),
        (
            "temperature",
            N_("Quick: 4 epochs for the 300-300 student (paper: 300+ units), 40 at batch 256 for the 30-30."),
        ),
        (
            "ensemble",
            N_(
                "Quick: 4 members shaped and trained like the labels-only student (member 1 is that "
                "student); full: 5 members of the paper's teacher shape, with dropout and jitter."
            ),
        ),
    )
)
# Full preset's students: SGD, measured with the shipped 61-error teacher (batch 128, T = 20,
# alpha 0.9; labels only / distilled). Adam 3e-3 over 20 epochs gave 145 / 81 on seed 0 but 140 /
# 88 over 3 seeds, and over 40 epochs 165 / 90: its curves swing by 10 errors an epoch to the
# end. Nesterov SGD 0.05 with a cosine decay settles (flat from about epoch 20; at 0.1 the
# distilled student diverges). 30 epochs, 3 seeds: 139.3 / 81.7; on 2-px jitter, labels only /
# consistent teaching: 84.7 / 66.3 (Adam, 20 epochs: 102.3 / 71.7). 7.2 min a seed. With the pair on the
# teacher's own views (jitter + elastic 34; 2026-12-03, Intel, one thread): 138.0 / 79.7, jitter 87.0 /
# 67.3, elastic 73.3 / 57.0: consistent teaching on those views beats the 61-error teacher.
FULL = Recipe(  # the paper's main table over 3 seeds, plus consistent teaching on two kinds of view
    main_optimizer="sgd",
    epochs=30,
    seeds=3,
    views=(0.0, 34.0),
    only78_epochs=100,
    few_epochs=100,
    sweep_epochs=20,
    small_epochs=60,
    small_batch_size=128,  # measured so (the T sweep over 3 seeds in the README)
    big=(800, 800),
    matching_size=60000,
    knowledge_size=None,
    knowledge_epochs=10,
    ensemble_members=5,  # one epoch of the 5 stacked members: 59 s on one core of a busy 2-core CPU
    ensemble=TeacherSpec(hidden=(1200, 1200), jitter=2, epochs=30),  # the quick teacher's regularisers
)
TINY = Recipe(  # for tests on the synthetic 600-image set
    teacher=TeacherSpec(hidden=(32,), dropout=0.0, input_dropout=0.0, jitter=0, epochs=2, batch_size=64),
    student=(16,),
    small=(8,),
    big=(16,),
    epochs=1,
    only78_epochs=1,
    batch_size=64,
    seeds=2,
    views=(0.0,),
    few_sizes=(100, 300),
    few_epochs=2,
    sweep_Ts=(1.0, 4.0, 20.0),
    sweep_size=None,
    sweep_epochs=1,
    small_epochs=1,
    small_batch_size=64,
    small_seeds=2,
    knowledge_size=300,
    knowledge_epochs=1,
    knowledge_seeds=2,
    matching_Ts=(1.0, 10.0, 100.0),
    matching_size=300,
    ensemble_members=3,
    ensemble=TeacherSpec(hidden=(24,), dropout=0.0, input_dropout=0.0, jitter=0, epochs=2, batch_size=64),
)
# The presets by name (kdviz.env.EXPERIMENT_PRESETS: the names links and the CLI use)
RECIPES = dict(zip(EXPERIMENT_PRESETS, (QUICK, FULL, TINY), strict=True))
JITTER = 2  # pixels: the paper teacher's augmentation, and the consistent students'


# What each field means, in the order a reader wants them (Recipe field -> label).
RECIPE_LABELS = {
    "teacher": N_("teacher"),
    "student": N_("student (main table, no 3s, only 7s and 8s, few labels, ensemble)"),
    "epochs": N_("student epochs (main table, no 3s, ensemble)"),
    "only78_epochs": N_("student epochs (only 7s and 8s)"),
    "batch_size": N_("batch size"),
    "lr": N_("Adam's peak learning rate (decays linearly to 0)"),
    "main_optimizer": N_("main table's students: optimizer (sgd: Nesterov, 1-epoch warm-up, cosine decay)"),
    "main_lr": N_("main table's students: SGD's peak learning rate"),
    "T": N_("temperature T"),
    "alpha": N_("alpha: weight of the teacher's soft targets"),
    "seeds": N_("seeds of the main table"),
    "views": N_("beyond the paper: pairs on 2-px jitter plus elastic distortions of strength (0 = none)"),
    "train_size": N_("training images"),
    "few_sizes": N_("few labels: labelled images"),
    "few_epochs": N_("few labels: epochs"),
    "big": N_("T sweep: big student"),
    "small": N_("T sweep: small student"),
    "sweep_Ts": N_("T sweep: temperatures"),
    "sweep_size": N_("T sweep: training images"),
    "sweep_epochs": N_("T sweep: big student's epochs"),
    "small_epochs": N_("T sweep: small student's epochs"),
    "small_batch_size": N_("T sweep: small student's batch size"),
    "small_seeds": N_("T sweep: small student's seeds at each T"),
    "knowledge_size": N_("kinds of knowledge: training images"),
    "knowledge_epochs": N_("kinds of knowledge: epochs"),
    "knowledge_seeds": N_("kinds of knowledge: seeds"),
    "matching_Ts": N_("matching logits: temperatures"),
    "matching_size": N_("matching logits: images the trained student saw"),
    "ensemble_members": N_("ensemble: members (differ only by seed)"),
    "ensemble": N_("ensemble: each member"),
    "seed": N_("first seed"),
}


def recipe_table(recipe: Recipe) -> pd.DataFrame:
    """The preset as a two-column table a person can read."""

    def text(name, v):
        if name == "teacher":
            return _("the paper teacher shipped with kdviz") if v is None else v.label
        if name == "ensemble":
            return _(
                "MLP {hidden}, {epochs} epochs, batch {batch}, {optimizer} {lr:g}, "
                "dropout {dropout:g} (pixels {input_dropout:g}), jitter {jitter} px"
            ).format(
                hidden=shape_name(v.hidden),
                epochs=v.epochs,
                batch=v.batch_size,
                optimizer=v.optimizer,
                lr=v.lr,
                dropout=v.dropout,
                input_dropout=v.input_dropout,
                jitter=v.jitter,
            )
        if v is None:
            return _("all") if name.endswith("size") else _("auto")
        if name in ("student", "big", "small"):
            return shape_name(v)
        if isinstance(v, bool):
            return _("yes") if v else _("no")
        if isinstance(v, tuple):
            if not v:
                return "-"
            return ", ".join(f"{x:g}" if isinstance(x, float) else f"{x:,}" for x in v)
        return f"{v:g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)

    return pd.DataFrame(
        [(_(label), text(name, getattr(recipe, name))) for name, label in RECIPE_LABELS.items()],
        columns=[_("setting"), _("value")],
    )
