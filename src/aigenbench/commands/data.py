"""``aigenbench data``: build the synthetic benchmark (``synth``) or audit a dataset (``check``)."""

from __future__ import annotations

import time
from typing import Literal

from jsonargparse import ArgumentParser, Namespace

from aigenbench.commands._args import command_parser, parse_command, positive_int

SYNTH_HELP = """\
Write the built-in synthetic benchmark to OUT in the official on-disk format (a datasets
DatasetDict with splits train and validation, plus OUT/timeline.csv). Reals are patches of the
photographs shipped with scikit-image and scikit-learn; fakes come from 16 procedural generators
released 2017-2024 (4 windows of 4). Same parameters, same bytes; a second call reuses OUT."""

CHECK_HELP = """\
Decode every image of a dataset and compare its generators with the timeline. Lists every
unreadable image (ID, path, reason), every generator missing from the timeline and every label
that contradicts its generator. Exit status 1 when anything is listed, 0 when the dataset is clean.
Timeline: --timeline, else the dataset's own timeline.csv, else the built-in v1.0 one."""


def _build_parser(command: str) -> ArgumentParser:
    parser = command_parser(
        command, "Build the synthetic benchmark or audit a dataset.", settings=False
    )
    subcommands = parser.add_subcommands(dest="subcommand", required=True)

    synth = command_parser(f"{command} synth", SYNTH_HELP)
    synth.add_argument("out", metavar="OUT", help="output folder (created; reused if up to date)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (0)")
    synth.add_argument(
        "--size", type=positive_int, default=64, metavar="PX", help="image side (64)"
    )
    synth.add_argument(
        "--per_generator", type=positive_int, default=200, metavar="N",
        help="training images per generator (200; as many reals as fakes)",
    )  # fmt: skip
    synth.add_argument(
        "--validation_per_generator", type=positive_int, default=50, metavar="N",
        help="validation images per generator (50; as many reals as fakes)",
    )  # fmt: skip
    synth.add_argument(
        "--generators", type=positive_int, default=16, metavar="N",
        help="how many generators, in release order (16 = 4 windows of 4)",
    )  # fmt: skip
    synth.add_argument(
        "--strength", type=float, default=1.0, metavar="X",
        help="amplitude of the generators' traces (1.0; lower makes the benchmark harder)",
    )  # fmt: skip
    synth.add_argument("--force", action="store_true", help="rebuild even if OUT is up to date")
    subcommands.add_subcommand("synth", synth, help="write the built-in synthetic benchmark")

    check = command_parser(f"{command} check", CHECK_HELP)
    check.add_argument(
        "path", metavar="PATH", help="dataset: DatasetDict folder, image folder, manifest"
    )
    check.add_argument(
        "--timeline", type=str | None, default=None, metavar="CSV",
        help="generator,release_date CSV",
    )  # fmt: skip
    check.add_argument(
        "--kind", type=Literal["auto", "hf", "folder", "manifest"], default="auto",
        help="dataset layout (auto-detected)",
    )  # fmt: skip
    check.add_argument(
        "--workers", type=positive_int | None, default=None, metavar="N",
        help="decoding processes (default: the CPU count, at most 8)",
    )  # fmt: skip
    check.add_argument(
        "--max_pixels", type=positive_int | None, default=None, metavar="N",
        help="refuse images above N pixels (default 134,217,728)",
    )  # fmt: skip
    subcommands.add_subcommand("check", check, help="audit a dataset")
    return parser


def main(argv: list[str], command: str = "data") -> int:
    args = parse_command(_build_parser(command), argv)
    if args.subcommand == "synth":
        return _synth(args.synth)
    return _check(args.check)


def _synth(args: Namespace) -> int:
    from aigenbench.data.synth import SynthConfig, build_synthetic, synthetic_timeline
    from aigenbench.protocol import make_windows

    config = SynthConfig(
        seed=args.seed,
        size=args.size,
        per_generator=args.per_generator,
        validation_per_generator=args.validation_per_generator,
        generators=args.generators,
        strength=args.strength,
    )
    started = time.perf_counter()
    built = build_synthetic(args.out, config, force=args.force)
    seconds = time.perf_counter() - started
    timeline = synthetic_timeline(config.generators)
    windows = make_windows(timeline, timeline, 4)
    n_train = 2 * config.per_generator * config.generators
    n_val = 2 * config.validation_per_generator * config.generators
    state = f"built in {seconds:.1f} s" if built else "up to date, reused"
    print(f"synthetic benchmark {args.out}: {state}")
    print(
        f"  {config.generators} generators, {len(windows)} windows of 4; "
        f"{config.size}x{config.size} px; train {n_train} images, validation {n_val} "
        f"(half real); seed {config.seed}"
    )
    print(f"  timeline: {args.out}/timeline.csv; next: aigenbench data check {args.out}")
    return 0


def _check(args: Namespace) -> int:
    from aigenbench.data.check import check_source, default_workers
    from aigenbench.data.decode import DEFAULT_MAX_PIXELS
    from aigenbench.data.sources import SPLITS, open_source
    from aigenbench.protocol import Timeline, load_timeline

    source = open_source(args.path, kind=args.kind)
    timeline: Timeline = (
        load_timeline(args.timeline) if args.timeline else (source.timeline or Timeline.builtin())
    )
    total = sum(source.num_rows(split) for split in SPLITS)
    workers = args.workers or default_workers()
    started = time.perf_counter()
    report = _with_progress(
        total,
        lambda progress: check_source(
            source, timeline, workers, args.max_pixels or DEFAULT_MAX_PIXELS, progress
        ),
    )
    seconds = time.perf_counter() - started

    if report.unreadable:
        print(f"unreadable images ({len(report.unreadable)}):")
        for problem in report.unreadable:
            print(f"  {problem.split:<10} ID {problem.row_id:<8} {problem.where}: {problem.reason}")
    if report.unknown_generators:
        print(f"generators not in the timeline ({timeline.source}):")
        for name, counts in sorted(report.unknown_generators.items()):
            per_split = ", ".join(f"{counts[split]} {split}" for split in SPLITS if counts[split])
            print(f"  {name!r}: {per_split} rows")
        print(
            "  fix: add them to a timeline CSV (aigenbench windows --export_timeline my.csv) and "
            "pass --timeline my.csv, or set protocol.unknown_generators=drop"
        )
    if report.label_mismatches:
        print(f"labels that contradict the generator ({len(report.label_mismatches)}):")
        for problem in report.label_mismatches[:50]:
            print(f"  {problem.split:<10} ID {problem.row_id:<8} {problem.where}: {problem.reason}")
        if len(report.label_mismatches) > 50:
            print(f"  ... and {len(report.label_mismatches) - 50} more")

    rows = ", ".join(f"{report.rows[split]} {split}" for split in SPLITS)
    verdict = (
        "clean"
        if report.ok
        else f"{len(report.unreadable)} unreadable, {len(report.unknown_generators)} unknown "
        f"generator(s), {len(report.label_mismatches)} label mismatch(es)"
    )
    print(
        f"checked {args.path} ({source.kind}; {rows} rows) against timeline {timeline.source} "
        f"in {seconds:.1f} s with {workers} process(es): {verdict}"
    )
    return 0 if report.ok else 1


def _with_progress(total: int, run):
    """Run ``run(progress)`` with a progress bar on stderr when it is a terminal."""
    import sys

    if not sys.stderr.isatty():
        return run(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("decoding", total=total)
        return run(lambda n: bar.advance(task, n))
