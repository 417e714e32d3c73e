"""``aigenbench predict``: fake scores for image files and folders with a trained detector."""

from __future__ import annotations

import sys
from pathlib import Path

from aigenbench.commands._args import command_parser, parse_command, positive_int
from aigenbench.files import atomic_open

SHORTHANDS = {"--import": "--imports+"}


def main(argv: list[str], command: str = "predict") -> int:
    parser = command_parser(
        command,
        "Score images with a trained detector: the model's own evaluation transform, no benchmark\n"
        "degradations. Writes CSV rows path,score,label (score = probability of being generated;\n"
        "label fake/real at the threshold, or 'unreadable' for a file that cannot be decoded).",
    )
    parser.add_argument(
        "model", help="a .ckpt, a window folder (runs/<id>/window_<k>) or an experiment folder"
    )
    parser.add_argument(
        "paths", nargs="+", help="image files and/or folders (searched recursively)"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=str | None,
        default=None,
        help="CSV file to write (default: standard output)",
    )
    parser.add_argument(
        "--batch_size", type=positive_int, default=32, metavar="N", help="images per batch"
    )
    parser.add_argument("--workers", type=int, default=0, metavar="N", help="loader processes (0)")
    parser.add_argument(
        "--trainer.accelerator", type=str, default="auto", help="cpu, gpu, auto, ... (auto)"
    )
    parser.add_argument(
        "--trainer.devices",
        type=int | str,
        default=1,
        help="devices to score on (1); several with --trainer.strategy ddp",
    )
    parser.add_argument("--trainer.strategy", type=str, default="auto", help="auto, ddp, ...")
    parser.add_argument(
        "--trainer.precision", type=str, default="32-true", help="32-true, bf16-mixed, ..."
    )
    parser.add_argument(
        "--threshold",
        type=float | None,
        default=None,
        help="fake above this (default: the model's)",
    )
    parser.add_argument(
        "--no_progress",
        action="store_true",
        help="hide the progress bar (never drawn when stderr is not a terminal, e.g. a log file)",
    )
    parser.add_argument(
        "--imports",
        type=list[str],
        default=[],
        metavar="MODULE",
        help="modules to import first (ones that register the model's backbone family); "
        "--import MODULE adds one",
    )
    args = parse_command(parser, argv, SHORTHANDS)

    from aigenbench.classpath import import_modules
    from aigenbench.export.folder import is_export_folder
    from aigenbench.inference import find_images, resolve_checkpoint, score_files, write_scores_csv

    if not is_export_folder(args.model):  # an exported detector records no experiment imports
        import_modules(recorded_imports(resolve_checkpoint(args.model)), "the experiment's imports")
    import_modules(args.imports, "--import")

    files = find_images(args.paths)
    scoring = score_files(
        args.model,
        files,
        batch_size=args.batch_size,
        workers=args.workers,
        trainer=args.trainer.as_dict(),
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    if scoring is None:  # another process of a distributed run: rank 0 writes
        return 0
    rows, config = scoring.rows, scoring.config
    threshold = config.classification_threshold if args.threshold is None else args.threshold
    if args.output:
        with atomic_open(Path(args.output), "w") as handle:
            write_scores_csv(rows, threshold, handle)
    else:
        write_scores_csv(rows, threshold, sys.stdout)

    unreadable = [row for row in rows if row.score is None]
    fakes = sum(1 for row in rows if row.label(threshold) == "fake")
    print(
        f"scored {len(rows) - len(unreadable)} image(s) with {scoring.checkpoint} "
        f"({config.backbone}, {config.task}): {fakes} fake, "
        f"{len(rows) - len(unreadable) - fakes} real (threshold {threshold})"
        + (f"; wrote {args.output}" if args.output else ""),
        file=sys.stderr,
    )
    if unreadable:
        print(f"{len(unreadable)} file(s) could not be read:", file=sys.stderr)
        for row in unreadable:
            print(f"  {row.path}: {row.error}", file=sys.stderr)
    return 0


def recorded_imports(checkpoint: Path) -> list[str]:
    """The ``experiment.imports`` recorded in the config.yaml of the experiment that wrote
    ``checkpoint`` (``runs/<id>/window_<k>/checkpoints/final.ckpt``): the modules that define
    its backbone family or method. None when the checkpoint lies outside an experiment."""
    from aigenbench.config import load_yaml

    for folder in list(checkpoint.resolve().parents)[:3]:
        if (folder / "config.yaml").is_file():
            experiment = load_yaml(folder / "config.yaml").get("experiment") or {}
            return [str(module) for module in experiment.get("imports") or []]
    return []
