"""Patient teaching (issue 21, part 2): students taught consistently on the shipped teacher's own views.

Beyer et al. 2022: when the student and the teacher see the same augmented view, and the student
trains long enough, a student can match or beat its teacher. Here: the full preset's schedule
(Nesterov SGD 0.05, 1-epoch warm-up, cosine decay, batch 128, T = 20, alpha 0.9) on 2-px jitter
plus the elastic distortions (strength 34) the shipped 61-error teacher learnt on, the teacher run
live on every distorted batch. The seeds train as one stack (same batches, each its own initial
weights, kdviz.models). `--labels` trains the same students on the labels alone instead: the
baseline on the same views and schedule. `--hidden 1200,1200` is the teacher's own shape
("born-again", the survey's self-distillation).

Prints each epoch's test errors per seed as it goes and, at the end, one JSON line (the per-epoch
curve of the epochs this process trained, mean and spread). Resumable: a run cut off continues
from its last snapshot (kdviz.bench, `--saves`), bit for bit.

Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/patient.py [--hidden 800,800]
     [--seeds 3] [--epochs 30] [--labels] [--saves /tmp/kdviz-patient]
"""

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kdviz.bench import Bench  # noqa: E402
from kdviz.data import load_mnist  # noqa: E402
from kdviz.experiments import view_config  # noqa: E402
from kdviz.models import parse_hidden  # noqa: E402
from kdviz.recipes import FULL  # noqa: E402
from kdviz.shipped import load_shipped  # noqa: E402
from kdviz.targets import Live  # noqa: E402

ELASTIC = 34.0  # the shipped teacher's first stage (its card's spec)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", default="800,800")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=FULL.epochs)
    p.add_argument("--labels", action="store_true", help="labels only, on the same views and schedule")
    p.add_argument("--saves", default="/tmp/kdviz-patient")
    args = p.parse_args()
    data = load_mnist()
    teacher = load_shipped(data)
    recipe = replace(FULL, epochs=args.epochs)
    curve = []

    def report(ev) -> None:
        if ev.kind == "epoch":
            curve.append((ev.epoch, list(ev.test_errors)))
            print(f"epoch {ev.epoch}/{ev.epochs}: {ev.test_errors} ({ev.elapsed:.0f} s)", flush=True)

    bench = Bench.of(data, teacher, recipe, on_progress=report, saves=args.saves)
    n, alpha = args.seeds, 0.0 if args.labels else recipe.alpha
    cfg = replace(view_config(recipe, ELASTIC), eval_every=1)
    _model, last = bench.fit(
        parse_hidden(args.hidden), (recipe.T,) * n, (alpha,) * n, cfg, Live(teacher.logits), inits=range(n)
    )
    errors = list(last.test_errors)
    print(
        json.dumps(
            {
                "hidden": args.hidden,
                "taught": not args.labels,
                "teacher_errors": teacher.test_errors,
                "epochs": args.epochs,
                "errors": errors,
                "mean": statistics.mean(errors),
                "sd": statistics.stdev(errors) if n > 1 else 0.0,
                "seconds": round(last.elapsed, 1),
                "curve": curve,
            }
        )
    )


if __name__ == "__main__":
    main()
