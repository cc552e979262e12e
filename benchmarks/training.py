"""Benchmark the training engine (numbers for the README and the issue notes).

Measured in one run, side by side:
  1. one student epoch on the full 60k: labels only vs distilled with cached teacher logits
     (target: distilled <= 1.1x labels only: no teacher forward passes);
  2. the same epoch with a torchvision-style DataLoader over a TensorDataset (what we avoid);
  3. classroom default: from "Train" to the first epoch of both students on screen, cached teacher;
  4. the engine against a bare loop of the same matmuls and optimizer on the same batches (the
     machine's practical limit; target >= 90%): an 800-800 student (Adam, batch 128) and the
     paper teacher's recipe (1200-1200, dropout, 2-px jitter, max-norm, Nesterov SGD); both sides
     evaluate the test set once, as an engine epoch does;
  5. consistent teaching: the teacher's logits for all 25 shifts of 60k images, computed once,
     against running the teacher live on every jittered batch of one epoch (batch 128);
  6. the default teacher: seconds until >= 98% test accuracy;
  7. peak resident memory of this process.
Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/training.py [--device cuda] [--quick]
"""

import argparse
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdviz import shifts  # noqa: E402
from kdviz.data import load_mnist  # noqa: E402
from kdviz.device import pick_device  # noqa: E402
from kdviz.distill import DistillConfig, race  # noqa: E402
from kdviz.losses import stacked_losses  # noqa: E402
from kdviz.models import StackedMLP, predict_logits  # noqa: E402
from kdviz.targets import Cached  # noqa: E402
from kdviz.teacher import PAPER, TeacherSpec, teacher_training  # noqa: E402
from kdviz.train import TrainConfig, run_to_end, train  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def epoch_seconds(data, hidden, batch, alpha, teacher_logits, repeats=2) -> float:
    best = float("inf")
    for _ in range(repeats):
        model = StackedMLP(hidden, 1, seed=0).to(data.device)
        cfg = TrainConfig(epochs=1, batch_size=batch)
        sync(data.device)
        start = time.perf_counter()
        run_to_end(train(model, data, cfg, (20.0,), (alpha,), Cached(teacher_logits) if alpha else None))
        sync(data.device)
        best = min(best, time.perf_counter() - start)
    return best


def dataloader_epoch_seconds(data, hidden, batch) -> float:
    """The usual loop: DataLoader over (x, y, teacher logits) tensors, same model and loss."""
    model = StackedMLP(hidden, 1, seed=0).to(data.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ds = TensorDataset(data.train_x.cpu(), data.train_y.cpu())
    loader = DataLoader(ds, batch_size=batch, shuffle=True)
    T, a = torch.tensor([1.0], device=data.device), torch.tensor([0.0], device=data.device)
    sync(data.device)
    start = time.perf_counter()
    for xb, yb in loader:
        xb, yb = xb.to(data.device), yb.to(data.device)
        loss, _, _ = stacked_losses(model(xb), None, yb, T, a)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync(data.device)
    return time.perf_counter() - start


def bare_epoch_seconds(data, hidden, batch, teacher_recipe: bool) -> float:
    """One epoch of a hand-written loop: addmm/relu (and the recipe's dropout, jitter, max-norm),
    cross-entropy, torch.optim; then one pass over the test set. No events, no stacking."""
    g = torch.Generator().manual_seed(0)
    sizes = [784, *hidden, 10]
    ws = [
        (torch.randn(i, o, generator=g) / i**0.5).to(data.device).requires_grad_()
        for i, o in zip(sizes, sizes[1:])
    ]
    bs = [torch.zeros(1, o, device=data.device, requires_grad=True) for o in sizes[1:]]
    params = ws + bs
    if teacher_recipe:
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)
    else:
        opt = torch.optim.Adam(params, lr=1e-3)

    def forward(x, training):
        h = (x - 0.1307) / 0.3081
        if training and teacher_recipe:
            h = torch.nn.functional.dropout(h, 0.2)
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = torch.addmm(b, h, w)
            if i < len(ws) - 1:
                h = h.relu()
                if training and teacher_recipe:
                    h = torch.nn.functional.dropout(h, 0.5)
        return h

    perm = torch.randperm(len(data.train_y), generator=g).to(data.device)
    sync(data.device)
    start = time.perf_counter()
    for i in range(0, len(perm), batch):
        idx = perm[i : i + batch]
        xb = data.train_x[idx]
        if teacher_recipe:
            xb = shifts.jitter(xb, 2, g)[0]
        loss = torch.nn.functional.cross_entropy(forward(xb, True), data.train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if teacher_recipe:
            with torch.no_grad():
                for w in ws[:-1]:
                    w.mul_((3.0 / w.norm(dim=0, keepdim=True)).clamp(max=1.0))
    with torch.no_grad():
        forward(data.test_x, False).argmax(-1)
    sync(data.device)
    return time.perf_counter() - start


def engine_epoch_seconds(data, spec_or_hidden, batch) -> float:
    if isinstance(spec_or_hidden, TeacherSpec):
        model, events = teacher_training(spec_or_hidden, data)
    else:
        model = StackedMLP(spec_or_hidden, 1, seed=0).to(data.device)
        events = train(model, data, TrainConfig(epochs=1, batch_size=batch))
    sync(data.device)
    start = time.perf_counter()
    next(ev for ev in events if ev.kind == "epoch")
    sync(data.device)
    return time.perf_counter() - start


def engine_vs_bare(data) -> None:
    paper_epoch = replace(PAPER, epochs=1, warmup=0)
    for name, what, hidden, teacher_recipe in (
        ("800-800 student, Adam, batch 128", (800, 800), (800, 800), False),
        ("paper teacher recipe, batch 128", paper_epoch, (1200, 1200), True),
    ):
        engine, bare = [], []
        for _ in range(2):  # interleaved, best of two: the machine is noisy
            bare.append(bare_epoch_seconds(data, hidden, 128, teacher_recipe))
            engine.append(engine_epoch_seconds(data, what, 128))
        print(
            f"{name}: engine {min(engine):.2f} s/epoch, bare loop {min(bare):.2f} s/epoch: "
            f"engine at {100 * min(bare) / min(engine):.0f}% of the bare loop's throughput (target >= 90%)"
        )


def consistent_teaching_cost(data) -> None:
    teacher = StackedMLP((1200, 1200), 1, seed=0).to(data.device).eval()
    logits = lambda x: predict_logits(teacher, x)[0]
    sync(data.device)
    start = time.perf_counter()
    table = shifts.logits_per_shift(logits, data.train_x, 2)
    sync(data.device)
    once = time.perf_counter() - start
    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for i in range(0, len(data.train_y), 128):
        with torch.no_grad():
            teacher(shifts.jitter(data.train_x[i : i + 128], 2, g)[0])
    sync(data.device)
    live = time.perf_counter() - start
    print(
        f"consistent teaching, 1200-1200 teacher: all 25 shifts of 60k once {once:.1f} s "
        f"({table.numel() * 4 / 1e6:.0f} MB), live on every batch {live:.1f} s per student epoch: "
        f"the cache pays for itself after {once / live:.1f} epochs"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--quick", action="store_true", help="skip the teacher-to-98%% run")
    args = ap.parse_args()
    device = pick_device(args.device)
    data = load_mnist(args.data_dir, device)
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    engine_vs_bare(data)
    consistent_teaching_cost(data)

    fake_teacher = torch.randn(len(data.train_y), 10, device=device) * 5
    for hidden in [(800, 800), (100, 100)]:
        name = "-".join(map(str, hidden))
        plain = epoch_seconds(data, hidden, 512, 0.0, None)
        kd = epoch_seconds(data, hidden, 512, 0.9, fake_teacher)
        loader = dataloader_epoch_seconds(data, hidden, 512)
        print(
            f"{name} student epoch (60k, batch 512): labels only {plain:.2f} s, distilled {kd:.2f} s "
            f"(ratio {kd / plain:.2f}), DataLoader loop {loader:.2f} s ({loader / plain:.1f}x slower)"
        )

    # Classroom: a cached teacher is loaded; its logits are computed once, then both students train.
    spec = TeacherSpec()
    teacher, _ = teacher_training(spec, data)  # untrained weights: same cost as a trained one
    start = time.perf_counter()
    with torch.no_grad():
        logits = teacher.eval()(data.train_x)[0]
    _, events = race(data, logits, DistillConfig(epochs=1, train_size=None))
    first = next(ev for ev in events if ev.kind == "epoch")
    print(
        f"classroom: Train -> first epoch of both 800-800 students on all 60k: "
        f"{time.perf_counter() - start:.1f} s (target < 10 s)"
    )
    _, events = race(data, logits, DistillConfig(epochs=1, train_size=1000))
    start = time.perf_counter()
    first = next(ev for ev in events if ev.kind == "epoch")
    print(f"classroom: the Lab default (1,000 images) first epoch: {time.perf_counter() - start:.2f} s")

    if not args.quick:
        start = time.perf_counter()
        _, events = teacher_training(spec, data)
        reached = None
        for ev in events:
            if ev.kind == "epoch":
                acc = 1 - ev.test_errors[0] / ev.test_total
                print(
                    f"  teacher epoch {ev.epoch}: {ev.test_errors[0]} errors "
                    f"({100 * acc:.2f}%) at {ev.elapsed:.1f} s"
                )
                if reached is None and acc >= 0.98:
                    reached = time.perf_counter() - start
        print(
            f"default teacher ({spec.label}): >= 98% after {reached:.1f} s (target < 60 s)"
            if reached
            else "default teacher never reached 98%"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB (target < 2048 MB)")
    del first


if __name__ == "__main__":
    main()
