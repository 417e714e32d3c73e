"""How long the metrics engine takes on an experiment of the real benchmark's size.

Writes 9 window predictions files of 72,000 images each (36,000 real + 36,000 fake, 36
generators, 4 per window: the v1.0 validation set) with synthetic scores into a temporary
directory, then times ``evaluate_experiment`` on it: loading the files, fusing crops, every
subset of every window, every generator and the window x window matrix.

    .venv/bin/python benchmarks/metrics_speed.py [--repeats 3] [--crops 1]

The last line is ``seconds: <best of the repeats>``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from aigenbench.evaluation.experiment import evaluate_experiment
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
        print(f"seconds: {min(timings):.3f}")


if __name__ == "__main__":
    main()
