"""``aigenbench robustness``: a window's detector under one controlled degradation at a time."""

from __future__ import annotations

import json
import sys

from jsonargparse import Namespace
from rich.console import Console
from rich.table import Table

from aigenbench.commands._args import command_parser, parse_command, split_overrides
from aigenbench.errors import ConfigError

DESCRIPTION = """\
Score a window's detector (the last finished one by default) on the evaluation set under one
controlled degradation at a time, with the protocol's own degradations off:
  jpeg    Pillow re-encoding at quality Q          (default 95 85 75 65 50 30)
  resize  scaled by a factor F, bilinear           (default 1 0.75 0.5 0.25; 1 = identity)
  blur    Gaussian blur of sigma S pixels          (default 0 0.5 1 2 3; 0 = identity)
  noise   Gaussian noise of std N x 255            (default 0 0.01 0.02 0.05 0.1; 0 = identity)
plus a clean point (no degradation). Each point runs through the Lightning Trainer and writes
an official-format predictions file to RUN_DIR/robustness/window_<k>/; the table gives AUROC
and AP on every evaluation image and on the Next window's; robustness.json and a PNG of the
curves go beside them. Extra --key value pairs override how it runs (e.g. --trainer.devices 2,
--data.num_workers 8, --data.source PATH when the dataset moved)."""


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def main(argv: list[str], command: str = "robustness") -> int:
    from aigenbench.data.controlled import DEFAULT_STRENGTHS, KINDS

    parser = command_parser(command, DESCRIPTION)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="experiment directory")
    parser.add_argument(
        "--window",
        type=int | None,
        default=None,
        metavar="K",
        help="whose detector (the last finished window)",
    )
    parser.add_argument(
        "--kind",
        nargs="+",
        type=str,
        choices=KINDS,
        default=list(KINDS),
        metavar="KIND",
        help=f"which degradations: one or more of {', '.join(KINDS)} (all)",
    )
    parser.add_argument(
        "--strengths",
        nargs="+",
        type=float,
        default=None,
        metavar="S",
        help="strengths to sweep (with a single --kind; default: the kind's list above)",
    )
    parser.add_argument("--json", action="store_true", help="print robustness.json")
    parser.add_argument("--csv", action="store_true", help="print a CSV (kind, strength, ...)")
    own, overrides = split_overrides(argv)
    args = parse_command(parser, own)
    if args.json and args.csv:
        raise ConfigError("--json and --csv exclude each other: choose one output format")
    if args.strengths is not None and len(args.kind) != 1:
        raise ConfigError(
            "--strengths needs exactly one --kind (each kind has its own scale), e.g. "
            "--kind jpeg --strengths 90 70 50"
        )
    sweeps = {
        kind: args.strengths if args.strengths is not None else DEFAULT_STRENGTHS[kind]
        for kind in dict.fromkeys(args.kind)
    }
    return run(args, overrides, sweeps, command)


def run(args: Namespace, overrides: list[str], sweeps: dict, command: str) -> int:
    from aigenbench.commands._run import open_experiment
    from aigenbench.evaluation.robustness import csv_text, write_curves
    from aigenbench.training.robustness import run_robustness

    runner = open_experiment(args.run_dir, overrides, f"aigenbench {command}")
    runner.quiet = bool(args.json or args.csv)
    with runner.flag:
        document = run_robustness(runner, sweeps, args.window)
    if not runner.rank_zero:
        return 0
    png = write_curves(runner.dir.root, document)
    if args.json:
        print(json.dumps(document, indent=2, allow_nan=False))
    elif args.csv:
        sys.stdout.write(csv_text(document))
    else:
        print_table(document)
        print(f"curves: {png}")
    return 0


def print_table(document: dict) -> None:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    title = f"Window {document['window']}'s detector under one degradation at a time (%)"
    table = Table(title=title, title_justify="left", min_width=len(title) + 2)
    for column in ("degradation", "strength", "AUROC all", "AP all", "AUROC next", "AP next"):
        table.add_column(column, justify="left" if column == "degradation" else "right")
    points = [document["clean"], *document["points"]]
    previous = None
    for point in points:
        if point is None:
            continue
        if previous is not None and point["kind"] != previous:
            table.add_section()
        previous = point["kind"]
        strength = "" if point["strength"] is None else f"{point['strength']:g}"
        table.add_row(
            point["kind"],
            strength,
            _percent(point["all"]["auroc"]),
            _percent(point["all"]["ap"]),
            _percent(point["next"]["auroc"]),
            _percent(point["next"]["ap"]),
        )
    console.print(table)
