"""Benchmark the training engine against this CPU's own limit (numbers for the README and notes).

Printed from one run, on an idle CPU (never while another torch process trains: two processes on
two cores thrash, and section 4 measures by how much):
  1. the machine's limit: a large fp32 matmul's GFLOP/s on every core, and the memory bandwidth
     (a STREAM-style triad over three 256 MB arrays; and over three 8 MB ones, which stay in cache);
  2. the engine's epoch of an 800-800 student at batch 128 on all 60,000 images (Adam, one test
     pass, as a Lab or experiments epoch) against its limit: the FLOPs its matmuls must do at the
     matmul rate, plus Adam's pass over weights, gradients and both moments at the bandwidth;
     the engine's share of that limit (target >= 75%);
  3. the engine against a plain nn.Sequential + torch.optim.Adam loop, at every student size and
     batch size the app offers (one epoch on all 60,000 images and a test pass; target: never slower);
  4. threads: one process training on 1 core and on 2, and two processes training at once;
  5. the Lab: seconds from Train to its progress line and to its first point, through the job
     queue as the page does (target < 1 s), on its defaults and on all 60,000 images;
  6. the quick preset: its seconds (target <= 180) and whether every effect of the paper shows.
Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/training.py [--skip-preset]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdviz import runs  # noqa: E402
from kdviz.data import load_mnist  # noqa: E402
from kdviz.distill import DistillConfig  # noqa: E402
from kdviz.jobs import JobQueue  # noqa: E402
from kdviz.models import PIXEL_MEAN, PIXEL_STD, StackedMLP, shape_name  # noqa: E402
from kdviz.train import TrainConfig, run_to_end, train  # noqa: E402

SIZES = [(800, 800), (300, 300), (100, 100), (30, 30), (64,)]  # the Lab's students
# The batch sizes the app trains at: auto_batch on 300 and 1,000 images (few labels, the Lab's
# default), the experiments' 128, auto_batch on 60,000
BATCHES = [32, 62, 128, 512]


def best(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine_limit() -> tuple[float, float, float]:
    """(matmul FLOP/s, memory bandwidth in bytes/s, in-cache bandwidth in bytes/s)."""
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    flops = 2 * 4096**3 / best(lambda: a @ b)

    def triad(mb):
        n = mb * 2**20 // 4
        x, y, z = torch.randn(n), torch.randn(n), torch.empty(n)
        return 3 * 4 * n / best(lambda: torch.add(x, y, alpha=2.0, out=z), 5)

    return flops, triad(256), triad(8)


def epoch_work(hidden, images: int, batch: int, tests: int) -> tuple[float, float]:
    """(matmul FLOPs, Adam's bytes) of one epoch of a student: forward 2 FLOPs per weight per image,
    backward 2 for the weights' gradients and 2 for the activations' (none into the pixels);
    Adam reads weights, gradients and two moments and writes three of them, 4 bytes each."""
    sizes = [784, *hidden, 10]
    mats = [i * o for i, o in zip(sizes, sizes[1:])]
    weights = sum(mats) + sum(sizes[1:])
    flops = images * (6 * sum(mats) - 2 * mats[0]) + tests * 2 * sum(mats)
    steps = -(-images // batch)
    return flops, steps * weights * 7 * 4


def engine_epoch(data, hidden, batch: int, images: int | None = None) -> float:
    def run():
        model = StackedMLP(hidden, 1, seed=0)
        run_to_end(train(model, data, TrainConfig(epochs=1, batch_size=batch, train_size=images)))

    return best(run, 2)


def plain_epoch(data, hidden, batch: int, images: int) -> float:
    """The loop a tutorial writes: nn.Sequential, torch.optim.Adam's defaults, a random batch
    gathered each step; then the test set, as an engine epoch does."""
    x, y = data.train_x[:images], data.train_y[:images]

    def run():
        sizes = [784, *hidden, 10]
        layers = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(hidden) else [])
        model = nn.Sequential(*layers)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        perm = torch.randperm(images)
        for i in range(0, images, batch):
            rows = perm[i : i + batch]
            loss = F.cross_entropy(model((x[rows] - PIXEL_MEAN) / PIXEL_STD), y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            model((data.test_x - PIXEL_MEAN) / PIXEL_STD).argmax(-1)

    return best(run, 2)


def section_limit(data, rounds: int = 3) -> tuple[float, float, float]:
    """The limit and the engine's epoch, measured `rounds` times in turn (a shared machine's pace
    drifts within a minute): each round's share, then the median round's."""
    n = len(data.train_y)
    work, moved = epoch_work((800, 800), n, 128, len(data.test_y))
    shares = []
    for r in range(rounds):
        flops, bandwidth, cached = machine_limit()
        limit, cached_limit = work / flops + moved / bandwidth, work / flops + moved / cached
        seconds = engine_epoch(data, (800, 800), 128)
        shares.append((limit / seconds, flops, bandwidth, cached))
        print(
            f"   round {r + 1}: matmul {flops / 1e9:.0f} GFLOP/s, bandwidth {bandwidth / 1e9:.1f} GB/s "
            f"(in cache {cached / 1e9:.1f}); limit {limit:.2f} s ({work / 1e12:.2f} TFLOP at the matmul "
            f"rate {work / flops:.2f} s + Adam's {moved / 1e9:.1f} GB at the bandwidth "
            f"{moved / bandwidth:.2f} s), "
            f"engine {seconds:.2f} s: {100 * limit / seconds:.0f}% (with Adam's state in cache "
            f"{100 * cached_limit / seconds:.0f}%)"
        )
    share, flops, bandwidth, cached = sorted(shares)[len(shares) // 2]
    print(
        f"1. machine limit (median round): fp32 matmul {flops / 1e9:.0f} GFLOP/s ({torch.get_num_threads()} "
        f"threads, 4096 x 4096), memory bandwidth {bandwidth / 1e9:.1f} GB/s (triad, 3 x 256 MB; in "
        f"cache, 3 x 8 MB: {cached / 1e9:.1f} GB/s)"
    )
    print(
        f"2. 800-800 student, one epoch on {n:,} images at batch 128 (Adam, one test pass): the engine "
        f"at {100 * share:.0f}% of the limit (median of {rounds} rounds above; target >= 75%)"
    )
    return flops, bandwidth, cached


def section_plain(data, flops, bandwidth, images: int = 60_000) -> None:
    print(f"3. engine / plain nn.Sequential + Adam loop, one epoch on {images:,} images + a test pass:")
    print(
        "   student  | " + " | ".join(f"batch {b:>3}: engine, plain (ratio), share of limit" for b in BATCHES)
    )
    slowest = 0.0
    for hidden in SIZES:
        cells = []
        for batch in BATCHES:
            engine = engine_epoch(data, hidden, batch, images)
            plain = plain_epoch(data, hidden, batch, images)
            work, moved = epoch_work(hidden, images, batch, len(data.test_y))
            share = (work / flops + moved / bandwidth) / engine
            slowest = max(slowest, engine / plain)
            cells.append(f"{engine:5.2f} s, {plain:5.2f} s ({engine / plain:4.2f}), {100 * share:3.0f}%")
        print(f"   {shape_name(hidden):8s} | " + " | ".join(cells))
    print(f"   slowest engine / plain: {slowest:.2f} (target <= 1)")


def one_epoch_in_a_process(threads: int) -> None:
    """Section 4's worker: an 800-800 epoch on 10,000 images with `threads` threads."""
    torch.set_num_threads(threads)
    data = load_mnist(None, torch.device("cpu"))
    model = StackedMLP((800, 800), 1, seed=0)
    run_to_end(train(model, data, TrainConfig(epochs=1, batch_size=128, train_size=10_000)))


def section_threads(data) -> None:
    alone = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        alone[threads] = engine_epoch(data, (800, 800), 128, 10_000)
    torch.set_num_threads(os.cpu_count() or 2)

    def processes(threads: int, count: int) -> float:
        cmd = [sys.executable, __file__, "--epoch-in-process", str(threads)]
        start = time.perf_counter()
        workers = [subprocess.Popen(cmd) for _ in range(count)]
        for w in workers:
            w.wait()
        return time.perf_counter() - start

    solo = processes(2, 1)
    pair_2, pair_1 = processes(2, 2), processes(1, 2)
    print(
        f"4. threads, 800-800 epoch on 10,000 images: one process, 1 thread {alone[1]:.2f} s, "
        f"2 threads {alone[2]:.2f} s ({alone[1] / alone[2]:.2f}x). Whole processes (start-up, data "
        f"and all): one alone {solo:.1f} s; two at once with 2 threads each {pair_2:.1f} s, with 1 "
        f"thread each {pair_1:.1f} s (the two cores oversubscribed cost {pair_2 / pair_1:.2f}x)"
    )


def section_lab(data) -> None:
    teacher = runs.default_teacher(data, None)
    logits = teacher.logits(data.train_x)
    for label, cfg in (
        ("defaults (1,000 images, 20 epochs)", DistillConfig(epochs=20, train_size=1000)),
        ("all 60,000 images, 2 epochs", DistillConfig(epochs=2, train_size=None)),
    ):
        queue = JobQueue()
        together = runs.lab_together(data, logits, teacher.test_errors, cfg, teacher.hidden)
        pressed = time.perf_counter()
        job = queue.submit("bench", "students", lambda j: None, runs.Entry(cfg), together=together)
        progress = point = None
        while not job.finished:
            now = time.perf_counter() - pressed
            progress = progress if progress is not None or job.latest is None else now
            point = point if point is not None or not job.tested else now
            time.sleep(0.005)
        total = time.perf_counter() - pressed
        first = job.tested[0]
        kind = (
            f"a partial point at epoch {first.at:.2f}" if first.kind == "partial" else f"epoch {first.epoch}"
        )
        print(
            f"5. Lab, {label}: Train -> progress line {progress:.2f} s, first point {point:.2f} s "
            f"({kind}; target < 1 s), whole race {total:.1f} s, final test errors "
            f"{job.result.last.test_errors}"
        )


def section_preset(data) -> None:
    run = runs.ExperimentsRun("quick", runs.DEFAULT)
    start = time.perf_counter()
    runs.experiments(run, data)
    seconds = time.perf_counter() - start
    checks = [c for r in run.results for c in r.checks]
    failed = [c["effect"] for c in checks if not c["holds"]]
    print(
        f"6. quick preset, the paper's six: {seconds:.0f} s (target <= 180), "
        + ", ".join(f"{r.name} {r.seconds:.0f} s" for r in run.results)
        + f"; {len(checks) - len(failed)} of {len(checks)} effects shown"
        + ("" if not failed else ": missing " + "; ".join(failed))
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-preset", action="store_true", help="skip the quick preset (about 3 min)")
    ap.add_argument("--epoch-in-process", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.epoch_in_process:
        return one_epoch_in_a_process(args.epoch_in_process)
    data = load_mnist(None, torch.device("cpu"))
    print(f"CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    flops, bandwidth, _cached = section_limit(data)
    section_plain(data, flops, bandwidth)
    section_threads(data)
    section_lab(data)
    if not args.skip_preset:
        section_preset(data)


if __name__ == "__main__":
    main()
