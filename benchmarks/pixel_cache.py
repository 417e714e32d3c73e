"""Decode once per experiment: the pixel cache on the cumulative 9-window protocol.

Runs the same experiment (a small CNN trained from scratch, cumulative windows) on the synthetic
benchmark with ``data.pixel_cache`` off and on, counts the image decodes of each run, compares
every window's predictions file bit for bit and prints the wall times. By default the training
augmentation is the per-epoch one: the cache keeps each (image, copy)'s deterministic part and
runs rot90/flip/resize on the fly. ``--fixed-augmentation`` sets
``data.stochastic_augmentation: false`` (a training sample fixed per image and copy: the cache
keeps it at the input size).

The loaders run in the main process (``--workers 0``, the default) so that the decodes can be
counted; the 16 synthetic generators get a timeline that makes 9 windows, as in the real
benchmark.

It ends with one training epoch of the last window's loader alone (no model), from images and
from the cache (``--loader-only --work DIR``: that measurement alone, on an earlier run's DIR).

    python benchmarks/pixel_cache.py [--fixed-augmentation] [--per-generator 24] [--epochs 1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aigenbench.commands._config import parse_config
from aigenbench.data import decode, loading
from aigenbench.data.synth import SynthConfig, build_synthetic
from aigenbench.training.runner import ExperimentRunner, quiet_lightning
from probe_cache import GROUPS, nine_window_timeline, same_predictions


class Decodes:
    """Counts the data package's decodes (the loaders run in this process): whole images
    (loading) and the regions crop-if-large keeps of a still-encoded image (decode)."""

    def __init__(self) -> None:
        self.count = 0
        self._decode = decode.decode_image
        loading.decode_image = self._counted  # type: ignore[assignment]
        decode.decode_image = self._counted  # type: ignore[assignment]

    def _counted(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return self._decode(*args, **kwargs)


def experiment_config(
    dataset: Path, timeline: Path, runs: Path, name: str, cache: bool, args: argparse.Namespace
) -> Any:
    return parse_config(
        [
            "--dataset",
            str(dataset),
            "--timeline",
            str(timeline),
            "--runs-dir",
            str(runs),
            "--experiment-id",
            name,
            "--protocol.benchmark_type",
            "cumulative",
            "--protocol.generators_per_window",
            "1",
            "--model.backbone",
            "small:cnn",
            "--model.pretrained",
            "false",
            "--model.freezing",
            "tune",
            "--model.input_size",
            str(args.size),
            "--data.stochastic_augmentation",
            str(not args.fixed_augmentation).lower(),
            "--data.augmentation_factor",
            str(args.factor),
            "--data.train_batch_size",
            "32",
            "--data.eval_batch_size",
            "64",
            "--data.num_workers",
            str(args.workers),
            "--data.pixel_cache",
            str(cache).lower(),
            "--trainer.accelerator",
            "cpu",
            "--trainer.devices",
            "1",
            "--trainer.max_epochs",
            str(args.epochs),
            "--trainer.enable_progress_bar",
            "false",
            "--experiment.loggers",
            "[csv]",
        ]
    )


def run(
    dataset: Path, timeline: Path, runs: Path, name: str, cache: bool, args: argparse.Namespace
) -> float:
    config = experiment_config(dataset, timeline, runs, name, cache, args)
    started = time.perf_counter()
    ExperimentRunner(config, quiet=True).fit()
    return time.perf_counter() - started


def loader_epochs(dataset: Path, timeline: Path, runs: Path, args: argparse.Namespace) -> None:
    """One training epoch of the last window's loader (every generator, cumulative), from images
    and from the pixel cache the cached run filled: the loader's own time, without the model."""
    import lightning as L

    from aigenbench.data.datamodule import WindowDataModule
    from aigenbench.data.sources import open_source
    from aigenbench.training.pixel_cache import PixelCache, PixelDataModule

    config = experiment_config(dataset, timeline, runs, "pixel_cache", True, args)
    plan = ExperimentRunner(config, quiet=True).plan
    source = open_source(config.data)
    window = plan.n_windows - 1

    def window_data() -> WindowDataModule:
        return WindowDataModule(source, plan, window, config.data, input_size=args.size)

    started = time.perf_counter()
    samples = sum(len(batch["id"]) for batch in window_data().train_dataloader())
    plain = time.perf_counter() - started
    cache = PixelCache(runs / "pixel_cache" / "pixels", config.raw, plan)
    cached = PixelDataModule(window_data(), cache)
    cached.trainer = L.Trainer(accelerator="cpu", devices=1, logger=False)
    started = time.perf_counter()
    loader = cached.train_dataloader()  # opens and verifies the store (all filled by the run)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    sum(len(batch["id"]) for batch in loader)
    served = time.perf_counter() - started
    print(
        f"last window's training epoch ({samples} samples), loader alone: {plain:.2f} s from "
        f"images, {served:.2f} s from the cache ({plain / served:.1f}x; opening and checking "
        f"the store {opened:.2f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--size", type=int, default=64, help="image and model input size (64)")
    parser.add_argument("--per-generator", type=int, default=24, help="training images (24)")
    parser.add_argument("--factor", type=int, default=2, help="augmentation copies (2)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--fixed-augmentation", action="store_true")
    parser.add_argument(
        "--loader-only",
        action="store_true",
        help="only time the last window's loader, on the runs an earlier call left in --work",
    )
    args = parser.parse_args()
    quiet_lightning()
    decodes = Decodes()

    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        dataset = work / "synth"
        if args.loader_only:
            if args.work is None or not (work / "runs" / "pixel_cache").is_dir():
                parser.error("--loader-only needs the --work folder of an earlier full run")
            loader_epochs(dataset, work / "timeline_9_windows.csv", work / "runs", args)
            return 0
        shutil.rmtree(dataset, ignore_errors=True)
        synth = SynthConfig(
            size=args.size,
            per_generator=args.per_generator,
            validation_per_generator=max(2, args.per_generator // 3),
        )
        build_synthetic(dataset, synth)
        timeline = nine_window_timeline(dataset, work / "timeline_9_windows.csv")
        runs = work / "runs"
        shutil.rmtree(runs, ignore_errors=True)  # fresh experiments, never a resume
        mode = "fixed per (image, copy)" if args.fixed_augmentation else "rot90/flip per epoch"
        print(
            f"cumulative protocol, {len(GROUPS)} windows, synthetic {args.size} px, "
            f"{args.per_generator} training images per generator x {args.factor} copies, "
            f"{args.epochs} epoch(s), training augmentation {mode}, {args.workers} workers"
        )
        results = {}
        for name, cache in (("no_cache", False), ("pixel_cache", True)):
            decodes.count = 0
            seconds = run(dataset, timeline, runs, name, cache, args)
            results[name] = (seconds, decodes.count)
            print(f"{name:12s} {seconds:7.1f} s  {decodes.count:7d} decodes")
        identical = same_predictions(runs / "no_cache", runs / "pixel_cache", len(GROUPS))
        (plain_s, plain_n), (cached_s, cached_n) = results["no_cache"], results["pixel_cache"]
        print(f"bit-identical predictions in every window: {identical}")
        print(
            f"decodes: {plain_n / max(cached_n, 1):.2f}x fewer; "
            f"wall time: {plain_s / cached_s:.2f}x"
        )
        loader_epochs(dataset, timeline, runs, args)
        return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
