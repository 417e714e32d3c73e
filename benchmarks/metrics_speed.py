"""How long the metrics engine takes on an experiment of the real benchmark's size.

Writes 9 window predictions files of 72,000 images each (36,000 real + 36,000 fake, 36
generators, 4 per window: the v1.0 validation set) with synthetic scores into a temporary
directory, then times ``evaluate_experiment`` on it: loading the files, fusing crops, every
subset of every window, every generator and the window x window matrix.

    .venv/bin/python benchmarks/metrics_speed.py [--repeats 3] [--crops 1] [--intervals]

The last line is ``seconds: <best of the repeats>``. ``--intervals`` also times the
confidence intervals of every subset, generator and matrix cell of every window and of the
averages: DeLong's (AUROC) and the stratified bootstrap's (every metric, ``--resamples``),
on the files already loaded, and reports the bootstrap's time per part. The bootstrap's
compiled kernel is loaded (or, the first time on a machine, compiled) before the timings,
and that time is reported on its own line.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from aigenbench.evaluation.binary import SortedScores
from aigenbench.evaluation.experiment import discover_predictions, evaluate_experiment
from aigenbench.evaluation.intervals import (
    IntervalOptions,
    bootstrap_run_intervals,
    bootstrap_subset,
    delong_run_intervals,
)
from aigenbench.evaluation.metrics import load_scored
from aigenbench.evaluation.predictions import build_predictions, save_predictions

N_WINDOWS = 9
PER_WINDOW = 4
PER_GENERATOR = 1000


def write_experiment(root: Path, crops: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    windows = [[f"gen_{w}_{i}" for i in range(PER_WINDOW)] for w in range(N_WINDOWS)]
    names = sorted({"", *(g for w in windows for g in w)})
    window_of = {names.index(g): w for w, gs in enumerate(windows) for g in gs}
    fakes = np.repeat(np.arange(1, len(names)), PER_GENERATOR)
    generator_ids = np.concatenate([fakes, np.zeros(len(fakes), dtype=np.int64)])
    order = rng.permutation(len(generator_ids))
    generator_ids = generator_ids[order]
    ids = np.arange(len(generator_ids)) * 3 + 1
    real_ids = ids[generator_ids == 0].copy()
    rng.shuffle(real_ids)
    pairing = dict(zip(real_ids.tolist(), generator_ids[generator_ids != 0].tolist(), strict=True))
    seen_window = np.array([window_of.get(g, -1) for g in range(len(names))])
    for step in range(N_WINDOWS):
        known = (generator_ids != 0) & (seen_window[generator_ids] <= step)
        centre = np.where(generator_ids == 0, -1.5, np.where(known, 2.0, 0.5))
        logits = centre[:, None] + rng.standard_normal((len(ids), crops))
        scores = (1 / (1 + np.exp(-logits))).astype(np.float32).ravel()
        predictions = build_predictions(
            scores,
            np.repeat((generator_ids != 0).astype(np.int64), crops),
            np.repeat(generator_ids, crops),
            np.repeat(ids, crops),
            generator_names=names,
            windows=windows,
            pairing=pairing,
        )
        save_predictions(root / f"window_{step}" / "predictions_validate.npz", predictions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--crops", type=int, default=1, help="crops per image (5 = multicrop)")
    parser.add_argument("--intervals", action="store_true", help="also time the intervals")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        write_experiment(root, args.crops)
        timings = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            evaluation = evaluate_experiment(root)
            timings.append(time.perf_counter() - start)
        next_auroc = evaluation.averages["next"]["auroc"]
        print(
            f"windows: {len(evaluation.windows)}, images per window: "
            f"{evaluation.windows[0].n_images}, crops per image: {args.crops}"
        )
        print(f"average Next AUROC of the synthetic scores: {next_auroc:.4f}")
        print("timings: " + ", ".join(f"{t:.3f}" for t in timings))
        if args.intervals:
            time_intervals(root, args.resamples, args.repeats)
        print(f"seconds: {min(timings):.3f}")


def warm_up_bootstrap_kernel() -> None:
    scores = np.array([0.9, 0.6, 0.6, 0.2], dtype=np.float32)
    fake = np.array([True, True, False, False])
    bootstrap_subset(SortedScores(scores, fake), np.array([0, 1, 0, 1]), np.ones((2, 2), np.uint16))


def time_intervals(root: Path, resamples: int, repeats: int) -> None:
    images = load_scored(discover_predictions(root))
    delong = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = delong_run_intervals(images, IntervalOptions("delong"))
        delong.append(time.perf_counter() - start)
    low, high = result.averages["next"]["auroc"]
    print(f"DeLong: averaged Next AUROC 95% interval [{low:.4f}, {high:.4f}]")
    print("DeLong intervals, every subset/generator/cell: " + ", ".join(f"{t:.3f}" for t in delong))
    start = time.perf_counter()
    warm_up_bootstrap_kernel()
    print(
        f"bootstrap kernel loaded/compiled: {time.perf_counter() - start:.3f} s "
        "(compiled once per machine, then loaded from __pycache__)"
    )
    options = IntervalOptions("bootstrap", resamples=resamples)
    parts = {
        "subsets + averages": {"per_generator": False, "matrix": False},
        "everything (+ generators, matrix)": {},
    }
    for label, switches in parts.items():
        start, cpu = time.perf_counter(), time.process_time()
        result = bootstrap_run_intervals(images, options, **switches)
        print(
            f"bootstrap {resamples} resamples, {label}: {time.perf_counter() - start:.3f} s "
            f"(CPU time of all threads: {time.process_time() - cpu:.3f} s)"
        )
    low, high = result.averages["next"]["auroc"]
    print(f"bootstrap: averaged Next AUROC 95% interval [{low:.4f}, {high:.4f}]")


if __name__ == "__main__":
    main()
