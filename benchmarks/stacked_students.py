"""Benchmark: k students trained together as one StackedMLP vs one after another.

Same epochs, same batches, same transfer set; distilled (T = 20, alpha = 0.9) from a fixed
set of teacher logits (random here: the cost does not depend on their values).
Run: KDVIZ_DATA_DIR=../shared/data/mnist python benchmarks/stacked_students.py [--train-size 10000]
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdviz.data import load_mnist  # noqa: E402
from kdviz.device import pick_device  # noqa: E402
from kdviz.models import StackedMLP  # noqa: E402
from kdviz.targets import Cached  # noqa: E402
from kdviz.train import TrainConfig, run_to_end, train  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds(data, hidden, k, cfg, logits) -> float:
    model = StackedMLP(hidden, k=k).to(data.device)
    sync(data.device)
    start = time.perf_counter()
    run_to_end(train(model, data, cfg, T=(20.0,) * k, alpha=(0.9,) * k, teacher=Cached(logits)))
    sync(data.device)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-size", type=int, default=60000)
    p.add_argument("--hidden", nargs="+", default=["800,800", "100,100"])
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=2, help="best of this many (a shared machine is noisy)")
    a = p.parse_args()
    device = pick_device(a.device)
    data = load_mnist(None, device)
    logits = torch.randn(len(data.train_y), 10, generator=torch.Generator().manual_seed(0)).to(device) * 5
    cfg = TrainConfig(epochs=a.epochs, train_size=a.train_size)
    n = min(a.train_size, len(data.train_y))
    print(
        f"device {device}, threads {torch.get_num_threads()}, {a.epochs} epoch(s) on {n:,} images, k = {a.k}"
    )
    seconds(data, (64,), 2, TrainConfig(epochs=1, train_size=2000), logits)  # warm-up
    for text in a.hidden:
        hidden = tuple(int(h) for h in text.split(","))
        stacked = min(seconds(data, hidden, a.k, cfg, logits) for _ in range(a.repeats))
        one_by_one = min(
            sum(seconds(data, hidden, 1, cfg, logits) for _ in range(a.k)) for _ in range(a.repeats)
        )
        name = "-".join(map(str, hidden))
        print(f"{name:>8}: stacked {stacked:6.1f} s, one after another {one_by_one:6.1f} s, ", end="")
        print(f"ratio {one_by_one / stacked:.2f}x")


if __name__ == "__main__":
    main()
