"""Can the loader keep a GPU busy? aigenbench's real DataLoaders against a simulated consumer.

Without a GPU, the consumer is simulated: it takes a fixed time per batch (batch size / its
rate, slept: a GPU's work occupies no CPU core), at the rates of the real benchmark's models on
one H100 at 224 px (defaults: training a ResNet-50 ~2,500 img/s, a ViT-L/14 ~1,300 img/s;
scoring ~5,000 img/s; all flags). The loaders are the WindowDataModule's own (the training and
the evaluation loader of window 0), over a real-size image mix (``real_size_mixes.py``: the
training split's proportions by default, generated once into the user cache) listed in a
manifest, read from the images (decoding) and from the pixel cache (``data.pixel_cache``, filled
first and timed on its own).

Per loader, number of workers (``--workers``, default 0 1 2) and
consumer rate it prints the delivered img/s, the share of the time the consumer waited for data
(the measure of ``training/loader_wait.py``: the wait between two batches against the consumer's
time, the first batches not timed) and which side is the bottleneck (the loader when the
consumer waited a quarter of its time or more: the threshold of the window's summary line).
The loader alone (no consumer) at 0 workers gives its img/s per core, extrapolated to 16 workers
(16 cores, linear: an upper bound) against each consumer rate.

    python benchmarks/loader_consumer.py [--mix heavy_tail] [--repeat 2] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning as L
import torch

from aigenbench.data.config import DataConfig
from aigenbench.data.datamodule import WindowDataModule
from aigenbench.data.sources import open_source
from aigenbench.protocol import make_plan
from aigenbench.training.loader_wait import WARM_UP, WaitTotals
from aigenbench.training.pixel_cache import PixelCache, PixelDataModule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_size_mixes import MIXES, default_folder, ensure_mix

GENERATORS = ("gen_a", "gen_b", "gen_c", "gen_d")  # one window of four
SEED = 18
INPUT_SIZE = 224


def write_manifest(files: list[Path], folder: Path, repeat: int) -> Path:
    """Every file of the mix ``repeat`` times in each split: reals as reals, the rest spread
    over four generators (the decode work is per row, whatever the label)."""
    rows = []
    for split in ("train", "validation"):
        for copy in range(repeat):
            for index, path in enumerate(files):
                real = "coco_laion" in path.name or "raise" in path.name
                generator = "" if real else GENERATORS[(index + copy) % len(GENERATORS)]
                rows.append((str(path), int(not real), generator, split))
    manifest = folder / "mix.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", "label", "generator", "split"))
        writer.writerows(rows)
    with open(folder / "timeline.csv", "w", encoding="utf-8") as handle:
        handle.write("generator,release_date\n")
        handle.writelines(f"{g},202{i}-01-01\n" for i, g in enumerate(GENERATORS))
    return manifest


def datamodule(
    manifest: Path, workers: int, batch: int, copies: int
) -> tuple[WindowDataModule, dict]:
    source = open_source(manifest)
    plan = make_plan(
        source.generators("train"), source.generators("validation"), None, source.timeline
    )
    options: dict[str, Any] = {
        "augmentation_seed": SEED,
        "stochastic_augmentation": False,  # a training sample fixed per copy: cacheable
        "num_workers": workers,
        "train_batch_size": batch,
        "eval_batch_size": batch,
        "persistent_workers": False,
        "augmentation_factor": copies,
    }
    data = DataConfig(source=str(manifest), **options)
    raw = {"data": options, "model": {"input_size": INPUT_SIZE}}
    return WindowDataModule(source, plan, 0, data, input_size=INPUT_SIZE), raw


def consume(batches: Iterable[dict[str, Any]], seconds_per_image: float) -> tuple[WaitTotals, int]:
    """Feed ``batches`` to a consumer that takes ``seconds_per_image`` per image; the waits
    and the consumer's time of the batches after the first :data:`WARM_UP`, and their images.

    The consumer sleeps until a deadline that advances by each batch's time from when the batch
    arrived (or from the previous deadline when it arrived early): a sleep that overshoots on a
    loaded machine is made up by the next one, so the consumer keeps its rate on average."""
    totals, images = WaitTotals(), 0
    iterator = iter(batches)
    index, deadline = 0, 0.0
    while True:
        asked = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            return totals, images
        got = time.perf_counter()
        n = len(batch["image"])
        deadline = max(deadline, got) + n * seconds_per_image
        if seconds_per_image > 0:
            time.sleep(max(deadline - time.perf_counter(), 0.0))
        done = time.perf_counter()
        if index >= WARM_UP:
            totals.wait += got - asked
            totals.compute += done - got
            totals.batches += 1
            images += n
        index += 1


def trainer() -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", choices=MIXES, default="proportions")
    parser.add_argument("--folder", type=Path, default=None, help="the mix's files")
    parser.add_argument("--repeat", type=int, default=2, help="rows per file in each split")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--copies", type=int, default=1, help="data.augmentation_factor")
    parser.add_argument("--train-rates", type=float, nargs="+", default=[2500.0, 1300.0])
    parser.add_argument("--eval-rate", type=float, default=5000.0)
    parser.add_argument("--extrapolate-to", type=int, default=16, help="workers (cores)")
    args = parser.parse_args()

    files = ensure_mix(args.mix, args.folder or default_folder(args.mix))
    scratch = Path(tempfile.mkdtemp(prefix="loader_consumer_"))
    try:
        manifest = write_manifest(files, scratch, args.repeat)
        run(args, manifest, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace, manifest: Path, scratch: Path) -> None:
    print(
        f"mix {args.mix}: {args.repeat} x the mix's files per split, {args.copies} cop(ies), "
        f"batch {args.batch}, "
        f"input {INPUT_SIZE} px; {os.cpu_count()} CPU core(s) here (shared with other jobs: "
        f"load {os.getloadavg()[0]:.1f}); the consumer is simulated (sleeps per batch)"
    )
    data, raw = datamodule(manifest, 0, args.batch, args.copies)
    cache = PixelCache(scratch / "pixels", raw, data.plan)
    module = PixelDataModule(data, cache)
    module.trainer = trainer()
    start = time.perf_counter()
    module.train_dataloader()
    module._eval_loader("validate")
    fill = time.perf_counter() - start
    filled = sum(cache.computed.values())
    print(
        f"pixel cache filled once, 0 workers: {filled} items in {fill:.1f} s "
        f"({filled / fill:.1f} img/s)\n"
    )
    stages = [("training", rate) for rate in args.train_rates] + [("evaluation", args.eval_rate)]
    header = "| loader | workers | consumer | delivered img/s | waited | bottleneck |"
    print(header)
    print("|---|---|---|---|---|---|")
    alone: dict[tuple[str, str], float] = {}
    for workers in args.workers:
        for source in ("decode", "pixel cache"):
            data, raw = datamodule(manifest, workers, args.batch, args.copies)
            served: Any = data
            if source == "pixel cache":
                served = PixelDataModule(data, PixelCache(scratch / "pixels", raw, data.plan))
                served.trainer = trainer()
            loaders = {
                "training": served.train_dataloader(),
                "evaluation": (
                    served._eval_loader("validate")
                    if source == "pixel cache"
                    else data.val_dataloader()
                ),
            }
            for stage in ("training", "evaluation"):
                if workers == 0:  # the loader alone: its img/s per core
                    totals, images = consume(loaders[stage], 0.0)
                    alone[stage, source] = images / max(totals.wait + totals.compute, 1e-9)
            for stage, rate in stages:
                totals, images = consume(loaders[stage], 1.0 / rate)
                delivered = images / (totals.wait + totals.compute)
                side = "loader" if totals.held_back() else "consumer"
                print(
                    f"| {stage} from {source} | {workers} | {rate:,.0f} img/s | "
                    f"{delivered:,.0f} | {totals.fraction:.0%} | {side} |"
                )
    print(f"(load average at the end: {os.getloadavg()[0]:.1f})")
    if not alone:
        return
    n = args.extrapolate_to
    print(f"\nthe loader alone, 0 workers (one core), and {n} workers extrapolated (x{n}):")
    for (stage, source), per_core in alone.items():
        rates = [r for s, r in stages if s == stage]
        verdict = ", ".join(
            f"{'keeps up with' if per_core * n >= r else 'holds back'} {r:,.0f} img/s"
            for r in rates
        )
        print(
            f"  {stage:10s} from {source:11s}: {per_core:8,.0f} img/s per core -> "
            f"{per_core * n:9,.0f} img/s with {n} workers: {verdict}"
        )


if __name__ == "__main__":
    # One thread in this process, as in a DataLoader worker: "per core" means it, and with 0
    # workers on a loaded machine torch's intra-op threads made batch collation 90x slower.
    torch.set_num_threads(1)
    main()
