"""How much the frozen-feature cache saves on a 9-window probe experiment, and that it is exact.

Runs the same probe experiment (frozen backbone, head trained) on the synthetic benchmark twice,
with ``experiment.feature_cache`` off and on, compares every window's predictions file, and
prints the wall times; the last line is ``speedup: <time without / time with>``.

The 16 synthetic generators are given a timeline whose dates come in pairs, so that one
generator per window (with same-date grouping) makes 9 windows, as in the real benchmark.

    python benchmarks/probe_cache.py [--work DIR] [--backbone timm:resnet18] [--size 64]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from aigenbench.commands._config import parse_config
from aigenbench.data.synth import SynthConfig, build_synthetic
from aigenbench.protocol import Timeline
from aigenbench.training.runner import ExperimentRunner, quiet_lightning

# Window sizes 2,2,2,2,2,2,2,1,1 -> 9 windows of the 16 generators.
GROUPS = [2, 2, 2, 2, 2, 2, 2, 1, 1]


def nine_window_timeline(dataset: Path, out: Path) -> Path:
    names = list(Timeline.from_csv(dataset / "timeline.csv"))
    dates: dict[str, dt.date] = {}
    position = 0
    for group, size in enumerate(GROUPS):
        for name in names[position : position + size]:
            dates[name] = dt.date(2017, 1, 1) + dt.timedelta(days=100 * group)
        position += size
    Timeline(dates, source=str(out)).to_csv(out)
    return out


def run(dataset: Path, timeline: Path, runs: Path, name: str, cache: str, args) -> float:
    config = parse_config(
        [
            "--dataset",
            str(dataset),
            "--timeline",
            str(timeline),
            "--runs-dir",
            str(runs),
            "--experiment-id",
            name,
            "--protocol.generators_per_window",
            "1",
            "--model.backbone",
            args.backbone,
            "--model.pretrained",
            "false",
            "--model.freezing",
            "probe",
            "--model.input_size",
            str(args.size),
            "--data.stochastic_augmentation",
            "false",
            "--data.augmentation_factor",
            str(args.factor),
            "--data.train_batch_size",
            "64",
            "--data.eval_batch_size",
            "128",
            "--data.num_workers",
            str(args.workers),
            "--trainer.accelerator",
            "cpu",
            "--trainer.devices",
            "1",
            "--trainer.enable_progress_bar",
            "false",
            "--experiment.loggers",
            "[csv]",
            "--experiment.feature_cache",
            cache,
        ]
    )
    started = time.perf_counter()
    ExperimentRunner(config, quiet=True).fit()
    return time.perf_counter() - started


def same_predictions(a: Path, b: Path, windows: int) -> bool:
    for window in range(windows):
        with (
            np.load(a / f"window_{window}" / "predictions_validate.npz") as left,
            np.load(b / f"window_{window}" / "predictions_validate.npz") as right,
        ):
            if left.files != right.files:
                return False
            if not all(np.array_equal(left[key], right[key]) for key in left.files):
                return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--backbone", default="timm:resnet18")
    parser.add_argument("--size", type=int, default=64, help="model input size (64)")
    parser.add_argument("--factor", type=int, default=1, help="augmentation copies (1)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    quiet_lightning()

    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        dataset = work / "synth"
        build_synthetic(dataset, SynthConfig())
        timeline = nine_window_timeline(dataset, work / "timeline_9_windows.csv")
        runs = work / "runs"
        shutil.rmtree(runs, ignore_errors=True)  # a fresh experiment each time, never a resume
        print(f"probe experiment, {len(GROUPS)} windows, {args.backbone} at {args.size} px")
        without = run(dataset, timeline, runs, "no_cache", "off", args)
        print(f"without cache: {without:.1f} s")
        with_cache = run(dataset, timeline, runs, "cache", "auto", args)
        print(f"with cache:    {with_cache:.1f} s")
        identical = same_predictions(runs / "no_cache", runs / "cache", len(GROUPS))
        print(f"identical predictions in every window: {identical}")
        print(f"speedup: {without / with_cache:.2f}")
        return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
