"""The paper's MNIST experiments (Hinton, Vinyals & Dean 2015, section 3), one function each.

Every experiment is `fn(data, teacher, settings, ...) -> Result`: this run's numbers next to
the paper's, the settings, the seed and the seconds, plus a curve to plot where there is one.
The paper's test errors (of 10,000):

    teacher 1200-1200 (dropout, jitter)          67
    student 800-800 on hard labels              146
    same student distilled at T = 20             74
    no 3s in the transfer set                   206 (133 of the 1,010 threes)
      ... class-3 bias raised by 3.5            109 (14 on threes)
    transfer set = only 7s and 8s             47.3% error; 13.2% after lowering the 7/8 biases by 7.6
    T sweep: >= 300 units: all T > 8 alike; 30 units: T = 2.5-4 best
    high-T limit: distillation = matching (zero-meaned) logits

Students of one experiment train together as one StackedMLP (same init, same batches).
A bias shift is applied to the students' test logits, which is the same as adding it to the
output bias. As in the paper, the shift is chosen on the test set: it shows how much of the
damage is a mere bias, not a fair test error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from kdviz.data import MNIST
from kdviz.losses import soft_loss
from kdviz.models import StackedMLP, predict_logits
from kdviz.teacher import Teacher, TeacherSpec, ensure_teacher
from kdviz.train import Progress, TrainConfig, train

Never = lambda: False  # noqa: E731
Ignore = lambda ev: None  # noqa: E731


class Stopped(Exception):
    """Raised inside an experiment when `should_stop()` turned true."""


@dataclass(frozen=True)
class Settings:
    """Everything an experiment run depends on; QUICK, FULL and TINY are the presets."""

    teacher: TeacherSpec = TeacherSpec()
    student: tuple[int, ...] = (800, 800)  # the paper's student
    small: tuple[int, ...] = (30, 30)  # the paper's small student (T sweep)
    T: float = 20.0
    alpha: float = 0.9
    epochs: int = 6  # main table, omitted 3s, only 7s and 8s
    train_size: int | None = None  # None = all 60,000
    few_sizes: tuple[int, ...] = (300, 1000, 3000)
    few_epochs: int = 20
    sweep_Ts: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 40.0)
    sweep_size: int | None = 10000
    sweep_epochs: int = 5
    matching_Ts: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 300.0)
    matching_size: int = 10000  # images the partly trained student of experiment 6 sees once
    lr: float = 1e-3
    seed: int = 0

    def config(self, epochs: int, train_size: int | None = None, omit=()) -> TrainConfig:
        return TrainConfig(epochs, None, self.lr, self.seed, train_size=train_size, omit=tuple(omit))


QUICK = Settings()  # a 2-core CPU, all six in a few minutes (cached default teacher: ~146 errors)
FULL = Settings(  # paper-like; meant for a GPU
    teacher=TeacherSpec(dropout=0.5, input_dropout=0.2, jitter=2, epochs=60),
    epochs=40,
    few_epochs=100,
    sweep_size=None,
    sweep_epochs=20,
    matching_size=60000,
)
TINY = Settings(  # for tests on the synthetic 600-image set
    teacher=TeacherSpec(hidden=(32,), dropout=0.0, input_dropout=0.0, jitter=0, epochs=2, batch_size=64),
    student=(16,),
    small=(8,),
    epochs=1,
    few_sizes=(100, 300),
    few_epochs=2,
    sweep_Ts=(1.0, 4.0, 20.0),
    sweep_size=None,
    sweep_epochs=1,
    matching_Ts=(1.0, 10.0, 100.0),
    matching_size=300,
)
PRESETS = {"quick": QUICK, "full": FULL, "tiny": TINY}


@dataclass
class Result:
    name: str
    title: str
    rows: list[dict]  # {"what", "this run", "paper"}; paper None where it gives no number
    settings: dict
    seed: int
    seconds: float
    curve: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["what", "this run", "paper"])

    def to_dict(self) -> dict:
        """JSON-ready (for `kdviz reproduce --json`)."""
        out = asdict(replace(self, curve=None))
        out["curve"] = None if self.curve is None else self.curve.to_dict(orient="records")
        return out


def _row(what: str, this_run, paper=None) -> dict:
    return {"what": what, "this run": this_run, "paper": paper}


def _hid(hidden) -> str:
    return "-".join(map(str, hidden))


def _fit(data, hidden, T, alpha, cfg, teacher_logits, settings, should_stop, on_progress):
    """Train K = len(T) students together; (model, last epoch event); Stopped if asked."""
    model = StackedMLP(hidden, k=len(T), seed=settings.seed).to(data.device)
    tl = teacher_logits if any(a > 0 for a in alpha) else None
    last = None
    for ev in train(model, data, cfg, T, alpha, tl, should_stop=should_stop):
        on_progress(ev)
        last = ev if ev.kind == "epoch" else last
    if last is None or last.epoch < cfg.epochs:
        raise Stopped
    return model, last


def _tl(teacher: Teacher, data: MNIST, teacher_logits):
    return teacher.logits(data.train_x) if teacher_logits is None else teacher_logits


# --- pure helpers ----------------------------------------------------------------------------------
def bias_sweep(logits, labels, cls, shifts: Sequence[float]) -> pd.DataFrame:
    """Test errors after adding each shift to the logits of class(es) `cls` (= to their output bias).

    Columns: shift, errors (all images), class_errors (images of `cls`), class_total.
    """
    logits, labels = torch.as_tensor(logits), torch.as_tensor(labels)
    classes = [cls] if isinstance(cls, int) else list(cls)
    mask = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
    mask[classes] = 1
    of_cls = torch.isin(labels, torch.tensor(classes, device=labels.device))
    rows = []
    for s in shifts:
        wrong = (logits + float(s) * mask).argmax(-1) != labels
        rows.append((float(s), int(wrong.sum()), int((wrong & of_cls).sum()), int(of_cls.sum())))
    return pd.DataFrame(rows, columns=["shift", "errors", "class_errors", "class_total"])


def best_shift(sweep: pd.DataFrame) -> float:
    """The shift with the fewest errors; ties go to the smallest |shift|."""
    best = sweep[sweep["errors"] == sweep["errors"].min()]
    return float(best.loc[best["shift"].abs().idxmin(), "shift"])


def matching_logits_cosine(student_logits, teacher_logits, Ts: Sequence[float]) -> pd.DataFrame:
    """Per-example cosine between d(T^2 KL)/dz and d(0.5 ||z - v||^2)/dz, logits zero-meaned.

    The paper (section 2.1): for T large compared with the logits, T^2 KL's gradient is
    (z - v) / C, so distillation becomes matching logits; the cosine climbs to 1 and
    `scale` (|grad soft| / |(z - v) / C|) to 1.
    """
    z = torch.as_tensor(student_logits, dtype=torch.float64)
    v = torch.as_tensor(teacher_logits, dtype=torch.float64)
    z, v = z - z.mean(-1, keepdim=True), v - v.mean(-1, keepdim=True)
    mse = z - v  # gradient of 0.5 ||z - v||^2
    rows = []
    for t in Ts:
        zz = z.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(soft_loss(zz, v, t) * len(z), zz)  # undo batchmean
        cos = torch.nn.functional.cosine_similarity(g, mse, dim=-1)
        scale = g.norm(dim=-1) / (mse.norm(dim=-1) / z.shape[-1]).clamp_min(1e-12)
        rows.append((float(t), float(cos.mean()), float(cos.min()), float(scale.median())))
    return pd.DataFrame(rows, columns=["T", "cosine", "min_cosine", "scale"])


# --- the experiments -------------------------------------------------------------------------------
def main_table(data, teacher, settings=QUICK, should_stop=Never, on_progress=Ignore, teacher_logits=None):
    """Teacher, 800-800 student on labels, same student distilled at T = 20 (paper: 67 / 146 / 74)."""
    start, s = time.perf_counter(), settings
    cfg = s.config(s.epochs, s.train_size)
    tl = _tl(teacher, data, teacher_logits)
    _, last = _fit(data, s.student, (s.T, s.T), (0.0, s.alpha), cfg, tl, s, should_stop, on_progress)
    rows = [
        _row(f"teacher {_hid(teacher.spec.hidden)}: test errors", teacher.test_errors, 67),
        _row(f"student {_hid(s.student)}, labels only: test errors", last.test_errors[0], 146),
        _row(f"same student distilled, T = {s.T:g}: test errors", last.test_errors[1], 74),
    ]
    info = {"teacher": teacher.spec.label, "student": _hid(s.student), "T": s.T, "alpha": s.alpha}
    info |= {"epochs": s.epochs, "train_size": s.train_size or len(data.train_y)}
    return Result("main", "Main table", rows, info, s.seed, time.perf_counter() - start)


def omit_threes(data, teacher, settings=QUICK, should_stop=Never, on_progress=Ignore, teacher_logits=None):
    """No 3s in the transfer set; then raise the 3 bias (paper: 206, 133 on threes -> +3.5: 109, 14)."""
    start, s = time.perf_counter(), settings
    cfg = s.config(s.epochs, s.train_size, omit=(3,))
    tl = _tl(teacher, data, teacher_logits)
    model, _ = _fit(data, s.student, (s.T,), (s.alpha,), cfg, tl, s, should_stop, on_progress)
    logits = predict_logits(model, data.test_x)[0]
    sweep = bias_sweep(logits, data.test_y, 3, np.arange(0.0, 10.01, 0.25))
    best = best_shift(sweep)
    at0, atb = sweep.iloc[0], sweep[sweep["shift"] == best].iloc[0]
    n3 = int(at0["class_total"])
    rows = [
        _row("distilled without 3s: test errors", int(at0["errors"]), 206),
        _row(f"... of which on the {n3} threes", int(at0["class_errors"]), 133),
        _row("best class-3 bias shift", best, 3.5),
        _row("after the shift: test errors", int(atb["errors"]), 109),
        _row("... of which on the threes", int(atb["class_errors"]), 14),
    ]
    info = {"student": _hid(s.student), "T": s.T, "alpha": s.alpha, "epochs": s.epochs, "omit": "3"}
    return Result(
        "omit3", "No 3s in the transfer set", rows, info, s.seed, time.perf_counter() - start, sweep
    )


def only_sevens_eights(
    data, teacher, settings=QUICK, should_stop=Never, on_progress=Ignore, teacher_logits=None
):
    """Transfer set = only 7s and 8s; then lower both biases (paper: 47.3% -> 13.2% at -7.6)."""
    start, s = time.perf_counter(), settings
    others = tuple(d for d in range(10) if d not in (7, 8))
    cfg = s.config(s.epochs, s.train_size, omit=others)
    tl = _tl(teacher, data, teacher_logits)
    model, _ = _fit(data, s.student, (s.T,), (s.alpha,), cfg, tl, s, should_stop, on_progress)
    logits = predict_logits(model, data.test_x)[0]
    sweep = bias_sweep(logits, data.test_y, (7, 8), np.arange(0.0, -20.01, -0.25))
    best = best_shift(sweep)
    n = len(data.test_y)
    pct = lambda e: round(100 * float(e) / n, 2)
    rows = [
        _row("only 7s and 8s: test error %", pct(sweep.iloc[0]["errors"]), 47.3),
        _row("best shift of the 7 and 8 biases", best, -7.6),
        _row("after the shift: test error %", pct(sweep[sweep["shift"] == best].iloc[0]["errors"]), 13.2),
    ]
    info = {"student": _hid(s.student), "T": s.T, "alpha": s.alpha, "epochs": s.epochs, "transfer": "7, 8"}
    return Result("only78", "Only 7s and 8s", rows, info, s.seed, time.perf_counter() - start, sweep)


def few_labels(data, teacher, settings=QUICK, should_stop=Never, on_progress=Ignore, teacher_logits=None):
    """A few labelled images, with and without the teacher (soft targets as a regulariser).

    The paper shows it on speech (3% of the data: 44.5% hard vs 57.0% soft frame accuracy);
    it gives no MNIST number. Measured here: 1,000 images, 20 epochs: ~1020 vs ~590 errors.
    """
    start, s = time.perf_counter(), settings
    tl = _tl(teacher, data, teacher_logits)
    rows, curve = [], []
    for n in s.few_sizes:
        cfg = s.config(s.few_epochs, n)
        _, last = _fit(data, s.student, (s.T, s.T), (0.0, s.alpha), cfg, tl, s, should_stop, on_progress)
        rows += [_row(f"{n} images, labels only: test errors", last.test_errors[0])]
        rows += [_row(f"{n} images, with the teacher: test errors", last.test_errors[1])]
        curve += [(n, "labels only", last.test_errors[0]), (n, "with the teacher", last.test_errors[1])]
    info = {"student": _hid(s.student), "T": s.T, "alpha": s.alpha, "epochs": s.few_epochs}
    info["sizes"] = list(s.few_sizes)
    curve = pd.DataFrame(curve, columns=["images", "student", "errors"])
    return Result("few_labels", "Few labels", rows, info, s.seed, time.perf_counter() - start, curve)


def temperature_sweep(
    data, teacher, settings=QUICK, should_stop=Never, on_progress=Ignore, teacher_logits=None
):
    """Test errors vs T for a big and a small student; all Ts of one size train as one StackedMLP.

    Paper: with 300+ units per layer all T > 8 gave similar results; with 30, T = 2.5-4 was best.
    """
    start, s = time.perf_counter(), settings
    tl = _tl(teacher, data, teacher_logits)
    cfg = s.config(s.sweep_epochs, s.sweep_size)
    Ts, curve, rows = tuple(s.sweep_Ts), [], []
    for hidden, paper in ((s.student, "flat for T > 8"), (s.small, "best at T = 2.5-4")):
        _, last = _fit(data, hidden, Ts, (s.alpha,) * len(Ts), cfg, tl, s, should_stop, on_progress)
        curve += [(_hid(hidden), t, e) for t, e in zip(Ts, last.test_errors)]
        best = Ts[int(np.argmin(last.test_errors))]
        rows.append(_row(f"student {_hid(hidden)}: best T", best, paper))
        rows.append(_row(f"student {_hid(hidden)}: errors at best T", min(last.test_errors)))
        hi = [e for t, e in zip(Ts, last.test_errors) if t > 8]
        if hi:
            rows.append(_row(f"student {_hid(hidden)}: spread of errors over T > 8", max(hi) - min(hi)))
    info = {"students": f"{_hid(s.student)}, {_hid(s.small)}", "Ts": list(Ts), "alpha": s.alpha}
    info |= {"epochs": s.sweep_epochs, "train_size": s.sweep_size or len(data.train_y)}
    curve = pd.DataFrame(curve, columns=["student", "T", "errors"])
    return Result("temperature", "Temperature sweep", rows, info, s.seed, time.perf_counter() - start, curve)


def matching_logits(
    data, teacher, settings=QUICK, should_stop=Never, on_progress=Ignore, teacher_logits=None
):
    """Cosine between the soft loss's gradient and logit matching's, vs T, on the test images:
    an untrained student and one trained one epoch on labels. Paper: equal in the high-T limit."""
    start, s = time.perf_counter(), settings
    v = teacher.logits(data.test_x)
    untrained = StackedMLP(s.student, 1, seed=s.seed).to(data.device)
    cfg = s.config(1, min(s.matching_size, len(data.train_y)))
    trained, _ = _fit(data, s.student, (1.0,), (0.0,), cfg, None, s, should_stop, on_progress)
    curve, rows = [], []
    for label, model in (("untrained", untrained), ("1 epoch on labels", trained)):
        df = matching_logits_cosine(predict_logits(model, data.test_x)[0], v, s.matching_Ts)
        curve.append(df.assign(student=label))
        for t in (s.matching_Ts[0], s.matching_Ts[-1]):
            c = float(df.loc[df["T"] == t, "cosine"].iloc[0])
            rows.append(_row(f"{label} student: cosine at T = {t:g}", round(c, 4), 1.0 if t > 50 else None))
    info = {"student": _hid(s.student), "Ts": list(s.matching_Ts), "images": len(data.test_y)}
    curve = pd.concat(curve, ignore_index=True)
    return Result("matching", "Matching logits", rows, info, s.seed, time.perf_counter() - start, curve)


EXPERIMENTS: dict[str, tuple[str, Callable[..., Result]]] = {
    "main": ("1. Main table: teacher, student, distilled student", main_table),
    "omit3": ("2. No 3s in the transfer set, then a bias shift", omit_threes),
    "only78": ("3. Transfer set of only 7s and 8s", only_sevens_eights),
    "few_labels": ("4. Few labels, with and without the teacher", few_labels),
    "temperature": ("5. Temperature sweep, big and small students", temperature_sweep),
    "matching": ("6. High T = matching logits", matching_logits),
}


def run_all(
    data: MNIST,
    settings: Settings = QUICK,
    cache_dir=None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] = Never,
    only: Sequence[str] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> Iterator[Result]:
    """Yield each chosen experiment's Result in order (teacher from the cache, else trained).

    Stops quietly (no more results) when `should_stop()` turns true.
    """
    names = [n for n in EXPERIMENTS if only is None or n in only]
    unknown = set(only or ()) - set(EXPERIMENTS)
    if unknown:
        raise ValueError(
            f"unknown experiments: {', '.join(sorted(unknown))}; known: {', '.join(EXPERIMENTS)}"
        )
    report = on_progress or Ignore
    (on_start or Ignore)("teacher")
    teacher = ensure_teacher(settings.teacher, data, cache_dir, on_progress=report, should_stop=should_stop)
    if teacher is None:
        return
    tl = teacher.logits(data.train_x)
    for name in names:
        if should_stop():
            return
        (on_start or Ignore)(name)
        try:
            yield EXPERIMENTS[name][1](data, teacher, settings, should_stop, report, teacher_logits=tl)
        except Stopped:
            return
