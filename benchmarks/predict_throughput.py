"""Images per second of ``aigenbench predict`` on this machine (CPU unless told otherwise).

Trains a detector for a few steps on the synthetic benchmark (the weights do not matter for
speed), writes ``--images`` JPEG files of ``--size`` px, then times the scoring of all of them
twice (the first pass warms the caches; the second is reported).

    python benchmarks/predict_throughput.py [--images 512] [--size 256] [--backbone timm:resnet18]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from aigenbench.commands._config import parse_config
from aigenbench.data.synth import SynthConfig, build_synthetic
from aigenbench.inference import find_images, score_files
from aigenbench.training.runner import ExperimentRunner, quiet_lightning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--backbone", default="timm:resnet18")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    quiet_lightning()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        data = root / "data"
        build_synthetic(data, SynthConfig(size=32, per_generator=8, validation_per_generator=4,
                                          generators=4))  # fmt: skip
        config = parse_config([
            "--dataset", str(data), "--runs-dir", str(root / "runs"), "--experiment-id", "x",
            "--model.backbone", args.backbone, "--model.pretrained", "false",
            "--model.input_size", "224", "--model.freezing", "probe",
            "--trainer.max_steps", "1", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--experiment.loggers", "[csv]",
            "--data.num_workers", "0", "--data.augmentation_factor", "1",
        ])  # fmt: skip
        ExperimentRunner(config, quiet=True).fit()
        photos = root / "photos"
        photos.mkdir()
        rng = np.random.default_rng(0)
        for index in range(args.images):
            pixels = rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(photos / f"{index:05d}.jpg", quality=90)
        files = find_images([photos])
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            result = score_files(
                root / "runs" / "x", files, batch_size=args.batch_size, workers=args.workers,
                progress=False,
            )  # fmt: skip
            # (rows, config) before predict ran through the Trainer; a Scoring since
            rows = result[0] if isinstance(result, tuple) else result.rows
            timings.append(time.perf_counter() - started)
        assert len(rows) == args.images
        print(
            f"predict {args.images} images of {args.size}px with {args.backbone} at 224 px, "
            f"batch {args.batch_size}, {args.workers} workers: {timings[-1]:.2f} s, "
            f"{args.images / timings[-1]:.1f} images/s (first pass {timings[0]:.2f} s)"
        )


if __name__ == "__main__":
    main()
