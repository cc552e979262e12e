"""Benchmark the training engine (numbers for the README and the issue notes).

Measured in one run, side by side:
  1. one student epoch on the full 60k: labels only vs distilled with cached teacher logits
     (target: distilled <= 1.1x labels only: no teacher forward passes);
  2. the same epoch with a torchvision-style DataLoader over a TensorDataset (what we avoid);
  3. classroom default: from "Train" to the first epoch of both students on screen, cached teacher;
  4. the default teacher: seconds until >= 98% test accuracy;
  5. peak resident memory of this process.
Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/training.py [--device cuda] [--quick]
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdviz.data import load_mnist  # noqa: E402
from kdviz.device import pick_device  # noqa: E402
from kdviz.distill import DistillConfig, compare_students  # noqa: E402
from kdviz.losses import stacked_losses  # noqa: E402
from kdviz.models import StackedMLP  # noqa: E402
from kdviz.teacher import TeacherSpec, teacher_training  # noqa: E402
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
        run_to_end(train(model, data, cfg, (20.0,), (alpha,), teacher_logits if alpha else None))
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--quick", action="store_true", help="skip the teacher-to-98%% run")
    args = ap.parse_args()
    device = pick_device(args.device)
    data = load_mnist(args.data_dir, device)
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")

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
    _, events = compare_students(data, logits, DistillConfig(epochs=1, train_size=None))
    first = next(ev for ev in events if ev.kind == "epoch")
    print(
        f"classroom: Train -> first epoch of both 800-800 students on all 60k: "
        f"{time.perf_counter() - start:.1f} s (target < 10 s)"
    )
    _, events = compare_students(data, logits, DistillConfig(epochs=1, train_size=1000))
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
