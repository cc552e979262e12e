"""The `kdviz` command: start the app, download MNIST, train teachers, distill, reproduce."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

from kdviz import env
from kdviz.control import Stopped
from kdviz.timing import describe_seconds

LONG_RUN = 60  # seconds: a distill run estimated longer is announced with its estimate

EXAMPLES = """examples:
  kdviz app                                   start the web app
  kdviz download                              fetch MNIST once, before class
  KDVIZ_DATA_DIR=/path/to/mnist kdviz distill --json
  kdviz distill --student 30,30 --T 4 --train-size 1000 --epochs 20
  kdviz distill --omit 3                      leave every 3 out of the transfer set
  kdviz train-teacher --epochs 10 --seed 1
  kdviz reproduce --quick                     the paper's six experiments, about 2 min on 2 cores
  kdviz train-teacher --preset paper          the shipped teacher's recipe (hours on a CPU; resumable)
  kdviz reproduce --only main,omit3 --json
  kdviz reproduce --only ensemble             an ensemble of teachers distilled into one student
"""


def _floats(kind):
    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be a number, got {text!r}") from None
        return v

    return parse


def _digits(text: str) -> tuple[int, ...]:
    try:
        ds = tuple(int(d) for d in text.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--omit takes digits like 3 or 3,5; got {text!r}") from None
    if any(not 0 <= d <= 9 for d in ds):
        raise argparse.ArgumentTypeError(f"--omit takes digits 0-9; got {text!r}")
    return ds


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder with the MNIST files (default: $KDVIZ_DATA_DIR or the cache)")
    p.add_argument(
        "--cache-dir", help="where teachers are cached (default: $KDVIZ_CACHE_DIR or ~/.cache/kdviz)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdviz",
        description="Teach knowledge distillation (Hinton, Vinyals & Dean 2015) on MNIST.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "app", help="start the Streamlit app (extra arguments such as --server.port go to streamlit)"
    )
    dl = sub.add_parser("download", help="download MNIST into the cache once")
    dl.add_argument("--data-dir", help="where to put it (default: the cache directory)")

    tt = sub.add_parser("train-teacher", help="train (and cache) a teacher")
    _common(tt)
    tt.add_argument(
        "--preset",
        choices=env.TEACHER_PRESETS,
        default="quick",
        help="quick: ~1 min on a CPU; paper: the paper's recipe, hours on a CPU (resumable)",
    )
    tt.add_argument("--hidden", default=None, help="hidden sizes, e.g. 1200,1200 (default: the preset's)")
    tt.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    tt.add_argument("--retrain", action="store_true", help="train even if cached; discards a stopped run")
    tt.add_argument(
        "--export",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="also write it as the shipped teacher (fp16 safetensors + card; default kdviz/weights/)",
    )

    ds = sub.add_parser("distill", help="train a labels-only and a distilled student side by side")
    _common(ds)
    ds.add_argument("--T", type=_floats("T"), default=20.0, help="temperature (default 20)")
    ds.add_argument("--alpha", type=_floats("alpha"), default=0.9, help="weight of the soft targets (0-1)")
    ds.add_argument("--epochs", type=int, default=3)
    ds.add_argument("--student", default="800,800", help="hidden sizes, e.g. 100,100")
    ds.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    ds.add_argument("--omit", type=_digits, default=(), help="digits left out of the transfer set, e.g. 3")
    ds.add_argument("--batch-size", type=int, default=None, help="default: 512, smaller for few images")
    ds.add_argument("--lr", type=_floats("lr"), default=1e-3)
    rp = sub.add_parser(
        "reproduce", help="the paper's MNIST experiments, this run next to the paper's numbers"
    )
    _common(rp)
    speed = rp.add_mutually_exclusive_group()
    speed.add_argument(
        "--quick",
        dest="preset",
        action="store_const",
        const="quick",
        help="short training: the paper's six in minutes on a 2-core CPU (the examples below say how many), "
        "the ensemble about 2 min more (default)",
    )
    speed.add_argument(
        "--full",
        dest="preset",
        action="store_const",
        const="full",
        help="paper-like student training; main table over 3 seeds, with consistent teaching",
    )
    speed.add_argument("--preset", choices=env.EXPERIMENT_PRESETS, help=argparse.SUPPRESS)
    rp.add_argument(
        "--only",
        default=None,
        # kdviz.experiments.EXPERIMENTS, written out: importing it costs 3 s (torch) on every command;
        # a test keeps the two the same
        help="comma-separated: main,omit3,only78,few_labels,temperature,matching,ensemble,knowledge",
    )
    rp.set_defaults(preset="quick")
    return parser


class Bar:
    """A one-line progress bar on stderr."""

    def __init__(self, label: str, quiet: bool = False):
        self.label, self.quiet = label, quiet or not sys.stderr.isatty()

    def __call__(self, ev) -> None:
        if ev.kind == "epoch":
            errs = " / ".join(map(str, ev.test_errors))
            print(
                f"{self.label} epoch {ev.epoch}/{ev.epochs}: test errors {errs} ({ev.elapsed:.1f}s)",
                file=sys.stderr,
            )
        elif not self.quiet:
            n = int(30 * ev.fraction)
            eta = f"{ev.eta:.0f}s left" if math.isfinite(ev.eta) else ""
            print(f"\r{self.label} [{'#' * n}{'.' * (30 - n)}] {eta}   ", end="\r", file=sys.stderr)


def _setup(args):
    from kdviz.data import load_mnist
    from kdviz.device import pick_device

    device = pick_device(args.device)
    return device, load_mnist(args.data_dir, device)


def cmd_train_teacher(args) -> dict:
    from kdviz import runs

    changes = {"seed": args.seed}
    if args.hidden is not None:
        changes["hidden"] = runs.parse_hidden(args.hidden)
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    device, data = _setup(args)
    start = time.perf_counter()
    teacher = runs.teacher(
        data, args.preset, args.cache_dir, on_progress=Bar("teacher"), retrain=args.retrain, **changes
    )
    exported = {}
    if args.export is not None:
        target = args.export or runs.SHIPPED
        card = runs.export_teacher(teacher, data, target, device=str(device))
        exported = {"exported": str(target), "exported_test_errors": card["test_errors"]}
    return {
        "teacher_errors": teacher.test_errors,
        "test_total": teacher.test_total,
        "seconds": round(time.perf_counter() - start, 2),
        "device": str(device),
        "teacher": teacher.spec.english_label,
        "key": teacher.spec.key,
        "note": teacher.note,
        **exported,
    }


def cmd_distill(args) -> dict:
    from kdviz import runs

    cfg = runs.DistillConfig(
        hidden=runs.parse_hidden(args.student),
        students=(runs.Student(args.T, 0.0), runs.Student(args.T, args.alpha)),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        train_size=args.train_size,
        omit=args.omit,
    )
    device, data = _setup(args)
    seconds = runs.lab_seconds(data, [cfg])
    if seconds is not None and seconds > LONG_RUN:  # said before a run that outlasts patience
        print(
            f"kdviz: these two {runs.shape_name(cfg.hidden)} students take about "
            f"{describe_seconds(seconds)} on a 2-core CPU like ours (Ctrl-C stops them).",
            file=sys.stderr,
        )
    start = time.perf_counter()
    teacher = runs.default_teacher(data, args.cache_dir, on_progress=Bar("teacher"))
    if teacher.note:
        print(f"kdviz: {teacher.note}", file=sys.stderr)
    result = runs.lab(
        data,
        teacher.logits(data.train_x),
        teacher.test_errors,
        cfg,
        Bar("students"),
        teacher_hidden=teacher.hidden,
    )
    return {
        "teacher_errors": teacher.test_errors,
        "labels_only_errors": result.labels_only,
        "distilled_errors": result.errors[1],
        "test_total": result.last.test_total,
        "seconds": round(time.perf_counter() - start, 2),
        "student_seconds": round(result.last.elapsed, 2),
        "device": str(device),
        "student_parameters": runs.student_parameters(cfg.hidden),
        "options": {
            "T": args.T,
            "alpha": args.alpha,
            "epochs": cfg.epochs,
            "student": list(cfg.hidden),
            "train_size": cfg.train_size,
            "images": result.images,
            "omit": list(cfg.omit),
            "seed": cfg.seed,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "teacher": teacher.spec.english_label,
        },
    }


def cmd_reproduce(args) -> dict:
    from kdviz import runs

    only = tuple(n.strip() for n in args.only.split(",")) if args.only else runs.DEFAULT
    run = runs.ExperimentsRun(args.preset, only)  # checks the names before any work
    device, data = _setup(args)
    bar, shown = Bar(""), []

    def step(run):
        if run.current and run.current != bar.label:
            bar.label = run.current
            print(f"-- {run.current}", file=sys.stderr)
        for result in run.results[len(shown) :]:
            shown.append(result)
            if not args.json:
                print(f"\n{result.title} ({result.seconds:.0f} s, seed {result.seed})")
                print(result.table().to_string(index=False))
                for check in result.checks:
                    print(f"  [{'yes' if check['holds'] else 'NO '}] {check['effect']}")
                for note in result.notes:
                    print(f"  note: {note}")

    runs.experiments(run, data, args.cache_dir, on_progress=bar, on_step=step, seed=args.seed)
    return {
        "preset": args.preset,
        "device": str(device),
        "seconds": round(run.seconds, 1),
        "experiments": [r.to_dict() for r in run.results],
    }


def cmd_app(args) -> int:
    """Streamlit in a child process. A SIGTERM or SIGHUP sent to kdviz (a service manager, `kill`)
    is passed on and kdviz waits for the server to exit, so none is left holding the port."""
    import signal

    from kdviz.poll import new_key
    from kdviz.serve import APP, app_command

    child_env = dict(os.environ)
    if not env.current().teacher_key:  # as a notebook server does: a key for this run, printed
        child_env["KDVIZ_TEACHER_KEY"] = new_key()
        print(f"Teacher's key for this server: {child_env['KDVIZ_TEACHER_KEY']}")
        extra = args.streamlit_args
        port = next((extra[i + 1] for i, a in enumerate(extra[:-1]) if a == "--server.port"), "8501")
        print(
            f"Open the lesson as the teacher: http://localhost:{port}/Lesson?key={child_env['KDVIZ_TEACHER_KEY']}"
        )
    # run from the app's folder so Streamlit reads its .streamlit/config.toml
    proc = subprocess.Popen(app_command(*args.streamlit_args), cwd=APP.parent, env=child_env)

    def forward(signum, _frame):
        proc.send_signal(signum)

    signals = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    before = {sig: signal.signal(sig, forward) for sig in signals}
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C reaches the server too (same process group), but a SIGINT sent to kdviz alone
        # does not: pass it on, or the server would run on until killed
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(15)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            return 130
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "app":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.streamlit_args = extra
    from kdviz.data import DataError

    try:
        env.current()  # a malformed KDVIZ_* variable is reported before any work
        if args.command == "app":
            return cmd_app(args)
        if args.command == "download":
            from kdviz.data import download_mnist

            print(f"MNIST is ready in {download_mnist(args.data_dir)}", file=sys.stderr)
            return 0
        commands = {"train-teacher": cmd_train_teacher, "distill": cmd_distill, "reproduce": cmd_reproduce}
        result = commands[args.command](args)
    except (ValueError, DataError) as e:
        print(f"kdviz: error: {e}", file=sys.stderr)
        return 2
    except Stopped:
        print("kdviz: stopped; run the same command again to continue where it stopped", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("kdviz: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, default=str))
    elif args.command == "reproduce":
        print(f"\nall done in {result['seconds']} s on {result['device']}")
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0
