"""``aigenbench compare``: a leaderboard of runs on the same evaluation set, with paired tests."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Literal

from rich.table import Table

from aigenbench.commands._args import (
    command_parser,
    non_negative_int,
    open_unit_interval,
    parse_command,
    positive_int,
    unit_interval,
)
from aigenbench.commands.evaluate import _console
from aigenbench.errors import ConfigError

DESCRIPTION = """\
Compare runs scored on the same evaluation images (our experiments or official experiment
folders): one table ranked by Next-period AUROC averaged over steps, each number with its
interval (DeLong for AUROC, stratified paired bootstrap for AP, balanced accuracy and TPR at
5% FPR), and a paired test for each pair of runs on the same images (DeLong for AUROC, paired
bootstrap for the rest; Holm-adjusted, * = significant). Runs of one config that differ
only by their seed are summarised as mean ± std. Runs whose evaluation sets differ are
refused, with the reason."""


def compare(
    runs: list[str],
    stage: str = "validate",
    threshold: float = 0.5,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
    use_pairing: bool = True,
    official_last_next: bool = False,
):
    """Evaluate and compare ``runs`` (experiment directories).

    Args:
        runs: experiment directories (runs/<id> or official experiment folders).
        stage: which predictions (validate or test).
        threshold: score above it = fake, for the threshold metrics.
        resamples: bootstrap resamples.
        seed: bootstrap seed.
        confidence: interval level.
        alpha: significance level of the Holm-adjusted paired tests.
        use_pairing: False puts every real image in every subset.
        official_last_next: the official rule for Next at the last step.
    """
    from aigenbench.evaluation.compare import compare_runs
    from aigenbench.evaluation.intervals import IntervalOptions
    from aigenbench.evaluation.metrics import EvaluationOptions

    return compare_runs(
        list(runs),
        stage,
        EvaluationOptions(threshold, use_pairing, official_last_next),
        IntervalOptions("bootstrap", confidence, resamples, seed),
        alpha,
    )


def _cell(value: float | None, bounds) -> str:
    from aigenbench.commands.evaluate import with_interval

    return with_interval(value, bounds)


def print_comparison(comparison) -> None:
    from aigenbench.evaluation.compare import METRIC_TITLES

    console = _console()
    table = Table(title="Leaderboard (%; estimate and interval)", title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("run", no_wrap=True)
    for title in METRIC_TITLES.values():
        table.add_column(title, justify="right")
    for rank, run in enumerate(comparison.runs, 1):
        table.add_row(
            str(rank), run.name, *[_cell(run.values[k], run.bounds[k]) for k in METRIC_TITLES]
        )
    for group in comparison.seed_groups:
        table.add_section()
        table.add_row(
            "",
            f"mean ± std of {len(group.runs)} seeds",
            *[
                "—"
                if group.mean[k] is None
                else f"{100 * group.mean[k]:.2f} ± {100 * (group.std[k] or 0):.2f}"
                for k in METRIC_TITLES
            ],
        )
    console.print(table)
    if comparison.pairs:
        pairs = Table(title="Paired tests on the same images", title_justify="left")
        for title in ("pair", "metric", "difference", "interval", "test", "p", "p (Holm)"):
            pairs.add_column(title, justify="left" if title in ("pair", "metric") else "right")
        for pair in comparison.pairs:
            pairs.add_row(
                f"{pair.first} − {pair.second}",
                METRIC_TITLES[pair.metric],
                "—" if pair.difference is None else f"{100 * pair.difference:+.2f}",
                "—"
                if pair.bounds is None
                else f"{100 * pair.bounds[0]:+.2f} … {100 * pair.bounds[1]:+.2f}",
                pair.test,
                _p(pair.p),
                _p(pair.p_holm) + (" *" if pair.significant else ""),
            )
        console.print(pairs)
    for warning in comparison.warnings:
        console.print(f"warning: {warning}", markup=False, style="bold")
    for note in comparison.notes:
        console.print(f"note: {note}", markup=False)


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def comparison_csv(comparison) -> str:
    """Long format: one row per (run, metric) and per (pair, metric)."""
    from aigenbench.evaluation.compare import METRIC_TITLES

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["kind", "name", "metric", "value", "low", "high", "test", "p", "p_holm"])

    def number(value: float | None) -> str:
        return "" if value is None else repr(value)

    for run in comparison.runs:
        for key in METRIC_TITLES:
            low, high = run.bounds[key] or (None, None)
            writer.writerow(
                ["run", run.name, key, number(run.values[key]), number(low), number(high), *"   "]
            )
    for pair in comparison.pairs:
        low, high = pair.bounds or (None, None)
        writer.writerow(
            [
                "pair",
                f"{pair.first} - {pair.second}",
                pair.metric,
                number(pair.difference),
                number(low),
                number(high),
                pair.test,
                number(pair.p),
                number(pair.p_holm),
            ]
        )
    return buffer.getvalue()


def main(argv: list[str], command: str = "compare") -> int:
    parser = command_parser(command, DESCRIPTION)
    parser.add_argument("runs", metavar="RUN", nargs="+", help="experiment directories")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.add_argument("--csv", action="store_true", help="print a long-format CSV")
    parser.add_argument(
        "--html", type=str | None, default=None, metavar="PATH", help="also write a comparison page"
    )
    parser.add_argument(
        "--stage", type=Literal["validate", "test"], default="validate", help="which predictions"
    )
    parser.add_argument(
        "--threshold",
        type=unit_interval,
        default=0.5,
        metavar="T",
        help="score above T = fake, for the thresholded metrics (balanced accuracy, ...)",
    )
    parser.add_argument(
        "--resamples",
        type=positive_int,
        default=1000,
        metavar="N",
        help="paired bootstrap resamples (AP, balanced accuracy, TPR at 5% FPR)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed, >= 0")
    parser.add_argument(
        "--confidence",
        type=open_unit_interval,
        default=0.95,
        metavar="LEVEL",
        help="level of every interval",
    )
    parser.add_argument(
        "--alpha",
        type=open_unit_interval,
        default=0.05,
        metavar="A",
        help="significance level of the Holm-adjusted paired tests (* below it)",
    )
    parser.add_argument("--no_pairing", action="store_true", help="every real in every subset")
    parser.add_argument(
        "--official_last_next",
        action="store_true",
        help="the official script's rule: at the last step, 'next' is the last window itself",
    )
    args = parse_command(parser, argv)
    if args.json and args.csv:
        raise ConfigError("--json and --csv exclude each other: choose one output format")
    comparison = compare(
        args.runs,
        args.stage,
        args.threshold,
        args.resamples,
        args.seed,
        args.confidence,
        args.alpha,
        not args.no_pairing,
        args.official_last_next,
    )
    if args.html:
        from aigenbench.evaluation.report import write_comparison_page

        write_comparison_page(comparison, Path(args.html))
    if args.json:
        from aigenbench.evaluation.metrics import _clean

        print(json.dumps(_clean(comparison.to_json()), indent=2, allow_nan=False))
    elif args.csv:
        sys.stdout.write(comparison_csv(comparison))
    else:
        print_comparison(comparison)
        if args.html:
            print(f"comparison page: {args.html}")
    return 0
