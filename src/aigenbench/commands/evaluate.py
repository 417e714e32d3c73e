"""``aigenbench evaluate``: the protocol's metrics of an experiment, per window and averaged."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Literal

from jsonargparse import Namespace
from rich.console import Console
from rich.table import Table

from aigenbench.commands._args import (
    command_parser,
    non_negative_int,
    open_unit_interval,
    parse_command,
    positive_int,
    unit_interval,
)
from aigenbench.errors import ConfigError
from aigenbench.evaluation.binary import METRIC_KEYS
from aigenbench.evaluation.calibration import FPR_TARGETS, fpr_key
from aigenbench.evaluation.experiment import (
    evaluate_experiment,
    write_summary,
    write_window_metrics,
)
from aigenbench.evaluation.intervals import METHODS, IntervalOptions
from aigenbench.evaluation.metrics import SUBSETS, EvaluationOptions, RunEvaluation

DESCRIPTION = """\
Metrics of an experiment's predictions: after each training step k, AUROC and friends on
  next     window k+1 (not defined at the last step; --official_last_next: the official rule)
  past     windows 0..k-1 (not defined at k=0)
  growing  windows 0..k
  whole    windows 0..k+1
  all      every window
each with the fakes of those windows' generators and the reals paired with them.
RUN_DIR is runs/<experiment-id> or an official experiment folder (window_<k>/ inside).
Tables show percentages (92.41); --json and --csv give fractions (0.9241)."""

COLUMN_TITLES = {
    "auroc": "AUROC",
    "ap": "AP",
    "accuracy": "Acc",
    "balanced_accuracy": "BalAcc",
    "precision": "Prec",
    "recall": "Rec",
    "f1": "F1",
    "tnr": "TNR",
    "eer": "EER",
    "best_f1_threshold": "best-F1 thr",
}
NOT_DEFINED = "—"


def _percent(value: float | None) -> str:
    return NOT_DEFINED if value is None else f"{100 * value:.2f}"


def with_interval(value: float | None, bounds: tuple[float, float] | None) -> str:
    """``92.41 (91.8–93.0)``: the estimate and its interval, in percent."""
    text = _percent(value)
    if value is None or not bounds:
        return text
    low, high = bounds
    return f"{text} ({100 * low:.1f}–{100 * high:.1f})"


def _subset_bounds(
    evaluation: RunEvaluation, step: int | None, subset: str, key: str
) -> tuple[float, float] | None:
    intervals = evaluation.intervals
    if intervals is None:
        return None
    values = intervals.averages if step is None else intervals.windows[step].subsets
    return values.get(subset, {}).get(key)


def _cell(key: str, value: float | int | None) -> str:
    if value is None:
        return NOT_DEFINED
    if key in ("n_real", "n_fake"):
        return (
            f"{value:.0f}"
            if isinstance(value, int) or float(value).is_integer()
            else f"{value:.1f}"
        )
    if key == "best_f1_threshold":
        return f"{value:.3f}"
    return _percent(float(value))


def _console() -> Console:
    # Not a terminal (a pipe, a file, a test): wide enough for the widest table.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def _table(title: str) -> Table:
    # Never narrower than its title, so the title stays on one line.
    return Table(title=title, title_justify="left", min_width=len(title) + 2)


def _auroc_table(evaluation: RunEvaluation) -> Table:
    table = _table("AUROC (%) after each training step")
    table.add_column("step", justify="right")
    for name in SUBSETS:
        table.add_column(name.capitalize(), justify="right")
    table.add_column("images", justify="right")
    for window in evaluation.windows:
        row = [str(window.window)]
        row += [
            with_interval(
                window.subsets[name].auroc,
                _subset_bounds(evaluation, window.window, name, "auroc"),
            )
            for name in SUBSETS
        ]
        flag = "" if window.n_invalid == 0 else f" ({window.n_invalid} unreadable)"
        table.add_row(*row, f"{window.n_images}{flag}")
    table.add_section()
    averages = evaluation.averages
    table.add_row(
        "average",
        *[
            with_interval(averages[name]["auroc"], _subset_bounds(evaluation, None, name, "auroc"))
            for name in SUBSETS
        ],
        "",
        style="bold",
    )
    return table


def _calibration_table(evaluation: RunEvaluation, subset: str) -> Table:
    table = _table(
        f"Operating points and calibration of '{subset}' (%, Brier 0–1; Brier, ECE: 0 is best)"
    )
    table.add_column("step", justify="right")
    for target in FPR_TARGETS:
        table.add_column(f"TPR@FPR {100 * target:g}%", justify="right")
    table.add_column("Brier", justify="right")
    table.add_column("ECE", justify="right")
    for window in evaluation.windows:
        values = window.calibration[subset]
        table.add_row(
            str(window.window),
            *[_percent(values.tpr_at_fpr[fpr_key(t)]) for t in FPR_TARGETS],
            NOT_DEFINED if values.brier is None else f"{values.brier:.4f}",
            _percent(values.ece),
        )
    return table


def _threshold_transfer_table(evaluation: RunEvaluation) -> Table:
    table = _table(
        "Threshold chosen on window k, applied to window k+1 (TPR / FPR %, transferred vs. "
        "chosen on k+1 itself)"
    )
    for title in ("step", "rule", "threshold", "TPR", "FPR", "oracle thr", "oracle TPR",
                  "oracle FPR", "fixed TPR", "fixed FPR"):  # fmt: skip
        table.add_column(title, justify="right")
    for item in evaluation.threshold_transfer:
        rule = "best F1" if item.rule == "best_f1" else f"FPR {100 * (item.target_fpr or 0):g}%"
        table.add_row(
            str(item.step),
            rule,
            f"{item.transferred.threshold:.3f}",
            _percent(item.transferred.tpr),
            _percent(item.transferred.fpr),
            f"{item.oracle.threshold:.3f}",
            _percent(item.oracle.tpr),
            _percent(item.oracle.fpr),
            _percent(item.fixed.tpr),
            _percent(item.fixed.fpr),
        )
    return table


def _subset_table(evaluation: RunEvaluation, subset: str) -> Table:
    table = _table(f"'{subset}' after each training step (%)")
    table.add_column("step", justify="right")
    keys = (*METRIC_KEYS, "n_real", "n_fake")
    for key in keys:
        table.add_column(COLUMN_TITLES.get(key, key), justify="right")
    for window in evaluation.windows:
        metrics = window.subsets[subset].to_dict()
        table.add_row(str(window.window), *[_cell(key, metrics[key]) for key in keys])
    table.add_section()
    average = evaluation.averages[subset]
    table.add_row("average", *[_cell(key, average[key]) for key in keys], style="bold")
    return table


def _matrix_table(evaluation: RunEvaluation) -> Table:
    table = _table("AUROC (%) after step k (rows) on window j (columns)")
    table.add_column("k \\ j", justify="right")
    for column in range(evaluation.n_windows):
        table.add_column(str(column), justify="right")
    for window in evaluation.windows:
        cells = []
        for column, value in enumerate(window.matrix_row):
            text = _percent(value)
            cells.append(f"[bold]{text}[/bold]" if column == window.window else text)
        table.add_row(str(window.window), *cells)
    return table


def _generator_table(evaluation: RunEvaluation) -> Table:
    table = _table("AUROC (%) per generator (its fakes + paired reals)")
    table.add_column("window", justify="right")
    table.add_column("generator")
    for window in evaluation.windows:
        table.add_column(f"k={window.window}", justify="right")
    for index, names in enumerate(evaluation.timeline):
        for name in names:
            values = [_percent(w.per_generator[name].auroc) for w in evaluation.windows]
            table.add_row(str(index), name, *values)
    return table


def _transfer_lines(evaluation: RunEvaluation) -> list[str]:
    transfer = evaluation.transfer
    if transfer is None or transfer.final_step is None:
        return []

    def signed(value: float | None) -> str:
        return NOT_DEFINED if value is None else f"{100 * value:+.2f}"

    return [
        f"final average AUROC over all windows (step {transfer.final_step}): "
        f"{_percent(transfer.final_average)}",
        f"backward transfer {signed(transfer.backward_transfer)}, forgetting "
        f"{signed(transfer.forgetting)}, forward transfer (vs. chance 50) "
        f"{signed(transfer.forward_transfer)}  (points of AUROC)",
    ]


def print_tables(
    evaluation: RunEvaluation,
    run_dir: str,
    stage: str,
    subset: str | None,
    per_generator: bool,
    operating_points: bool = False,
) -> None:
    console = _console()
    steps = len(evaluation.windows)
    console.print(
        f"experiment {run_dir}: {steps} of {evaluation.n_windows} windows evaluated, "
        f"stage {stage}, threshold {evaluation.options.threshold}"
        + (
            ""
            if evaluation.options.use_pairing
            else ", reals NOT paired (every real in every subset)"
        ),
        markup=False,
    )
    console.print(_subset_table(evaluation, subset) if subset else _auroc_table(evaluation))
    if subset is None:
        console.print(_matrix_table(evaluation))
    if per_generator:
        console.print(_generator_table(evaluation))
    if operating_points:
        console.print(_calibration_table(evaluation, subset or "next"))
        console.print(_threshold_transfer_table(evaluation))
    for line in _transfer_lines(evaluation):
        console.print(line)
    headline = evaluation.averages
    parts = [
        f"{name.capitalize()} "
        + with_interval(headline[name]["auroc"], _subset_bounds(evaluation, None, name, "auroc"))
        for name in ("next", "past", "growing", "whole")
    ]
    console.print(f"[bold]AUROC (%) averaged over time: {', '.join(parts)}[/bold]")
    if evaluation.intervals is not None:
        console.print(interval_note(evaluation.intervals), markup=False)
    for note in evaluation.notes:
        console.print(f"note: {note}", markup=False)


def interval_note(intervals) -> str:
    """What the parenthesised intervals are."""
    options = intervals.options
    level = f"{100 * options.confidence:g}%"
    if options.method == "delong":
        return f"(low–high): {level} DeLong intervals of AUROC (analytic)"
    units = "(fake, paired real) units" if intervals.paired else "images"
    return (
        f"(low–high): {level} percentile intervals, stratified bootstrap of {units} per "
        f"generator, {options.resamples} resamples, seed {options.seed}"
    )


def csv_text(evaluation: RunEvaluation, subset: str | None) -> str:
    """One row per (window, subset) and one ``average`` row per subset; empty = not defined."""
    keys = (*METRIC_KEYS, "n_real", "n_fake")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["window", "subset", *keys])
    subsets = [subset] if subset else list(SUBSETS)

    def cells(values: dict) -> list[str]:
        return ["" if values[key] is None else repr(values[key]) for key in keys]

    for window in evaluation.windows:
        for name in subsets:
            writer.writerow([window.window, name, *cells(window.subsets[name].to_dict())])
    for name in subsets:
        writer.writerow(["average", name, *cells(evaluation.averages[name])])
    return buffer.getvalue()


def main(argv: list[str], command: str = "evaluate") -> int:
    parser = command_parser(command, DESCRIPTION)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="experiment directory")
    parser.add_argument(
        "--on",
        type=Literal[SUBSETS] | None,  # type: ignore[valid-type]
        default=None,
        help="show every metric of one subset",
    )
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.add_argument("--csv", action="store_true", help="print a CSV (window, subset, metrics)")
    parser.add_argument(
        "--threshold",
        type=unit_interval,
        default=0.5,
        metavar="T",
        help="score above T = fake, for accuracy/precision/recall/F1/TNR (0.5)",
    )
    parser.add_argument(
        "--stage", type=Literal["validate", "test"], default="validate", help="which predictions"
    )
    parser.add_argument(
        "--official_last_next",
        action="store_true",
        help="the official script's rule: at the last step, 'next' is the last window itself",
    )
    parser.add_argument(
        "--no_pairing",
        action="store_true",
        help="put every real image in every subset (the official --use_pairing False)",
    )
    parser.add_argument(
        "--per_generator", action="store_true", help="also show the AUROC of each generator"
    )
    parser.add_argument(
        "--by_degradation",
        action="store_true",
        help="AUROC per slice of the mandatory degradations each image got (JPEG'd never / "
        "once / twice, grayscale, noise, resized crop), on --on SUBSET (all)",
    )
    parser.add_argument(
        "--intervals",
        type=Literal[METHODS] | None,  # type: ignore[valid-type]
        default=None,
        help="95% intervals: delong (AUROC, fast) or bootstrap (every metric)",
    )
    parser.add_argument(
        "--resamples", type=positive_int, default=1000, help="bootstrap resamples (1000)"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed, >= 0 (0)")
    parser.add_argument(
        "--confidence", type=open_unit_interval, default=0.95, help="interval level (0.95)"
    )
    parser.add_argument(
        "--operating_points",
        action="store_true",
        help="also show TPR at FPR 1/5/10%, Brier, ECE and the threshold transfer",
    )
    parser.add_argument(
        "--save",
        action="store_true",
        help="also write window_<k>/metrics.json and RUN_DIR/summary.json",
    )
    args = parse_command(parser, argv)
    if args.json and args.csv:
        raise ConfigError("--json and --csv exclude each other: choose one output format")

    options = EvaluationOptions(
        threshold=args.threshold,
        use_pairing=not args.no_pairing,
        official_last_next=args.official_last_next,
    )
    intervals = (
        IntervalOptions(args.intervals, args.confidence, args.resamples, args.seed)
        if args.intervals
        else None
    )
    evaluation = evaluate_experiment(args.run_dir, args.stage, options, intervals)
    if args.save:
        for window in evaluation.windows:
            write_window_metrics(Path(window.source).parent, window.window, args.stage, options)
        write_summary(args.run_dir, args.stage, options, evaluation)

    if args.by_degradation:
        return _print_slices(args, options)
    if args.json:
        print(json.dumps(evaluation.to_json(), indent=2, allow_nan=False))
    elif args.csv:
        sys.stdout.write(csv_text(evaluation, args.on))
    else:
        print_tables(
            evaluation,
            args.run_dir,
            args.stage,
            args.on,
            args.per_generator,
            args.operating_points,
        )
    return 0


def _print_slices(args: Namespace, options: EvaluationOptions) -> int:
    from aigenbench.commands._degradation_slices import slices_csv, slices_json, slices_table
    from aigenbench.evaluation.experiment import discover_predictions
    from aigenbench.evaluation.slices import experiment_slices

    slices = experiment_slices(discover_predictions(args.run_dir, args.stage), options)
    if args.json:
        print(json.dumps(slices_json(slices), indent=2, allow_nan=False))
    elif args.csv:
        sys.stdout.write(slices_csv(slices, args.on))
    else:
        _console().print(slices_table(slices, args.on or "all"))
    return 0
