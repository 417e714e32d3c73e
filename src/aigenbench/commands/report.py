"""``aigenbench report``: report.html (self-contained) and PNG plots of an experiment."""

from __future__ import annotations

from typing import Literal

from aigenbench.commands._args import command_parser, parse_command, positive_int, unit_interval
from aigenbench.evaluation.intervals import METHODS, IntervalOptions
from aigenbench.evaluation.metrics import EvaluationOptions
from aigenbench.evaluation.report import write_report

DESCRIPTION = """\
Write report.html for an experiment: AUROC over time per subset with intervals (DeLong by
default, --intervals bootstrap for every metric), the window x window heatmap, per-generator
AUROC, ROC / precision-recall / DET curves of the last window, operating points (TPR at FPR
1/5/10%), calibration (Brier, ECE, reliability diagram), threshold transfer, every metric
per subset, a comparison with other runs (--compare RUN ...), the resolved config and the
data summary. The page is self-contained (opens offline); the PNGs
are also written to plots/ beside it. RUN_DIR is runs/<experiment-id> or an official
experiment folder (window_<k>/ inside)."""


def main(argv: list[str], command: str = "report") -> int:
    parser = command_parser(command, DESCRIPTION)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="experiment directory")
    parser.add_argument(
        "-o",
        "--output",
        type=str | None,
        default=None,
        metavar="HTML",
        help="where to write the page (RUN_DIR/report.html)",
    )
    parser.add_argument(
        "--stage", type=Literal["validate", "test"], default="validate", help="which predictions"
    )
    parser.add_argument(
        "--threshold",
        type=unit_interval,
        default=0.5,
        metavar="T",
        help="score above T = fake, for the threshold metrics (0.5)",
    )
    parser.add_argument(
        "--official_last_next",
        action="store_true",
        help="the official script's rule: at the last step, 'next' is the last window itself",
    )
    parser.add_argument(
        "--intervals",
        type=Literal[METHODS],  # type: ignore[valid-type]
        default="delong",
        help="interval method (delong)",
    )
    parser.add_argument("--resamples", type=positive_int, default=1000, help="bootstrap (1000)")
    parser.add_argument(
        "--compare",
        nargs="+",
        type=str,
        default=None,
        metavar="RUN",
        help="other runs on the same evaluation set: adds a comparison section",
    )
    args = parse_command(parser, argv)
    options = EvaluationOptions(
        threshold=args.threshold, official_last_next=args.official_last_next
    )
    report = write_report(
        args.run_dir,
        args.output,
        args.stage,
        options,
        IntervalOptions(args.intervals, resamples=args.resamples),
        args.compare,
    )
    evaluation = report.evaluation
    averages = evaluation.averages
    print(f"report: {report.html_path}")
    print(f"plots:  {report.plot_paths[0].parent} ({len(report.plot_paths)} PNG files)")
    print(
        f"{len(evaluation.windows)} of {evaluation.n_windows} windows; AUROC averaged over "
        f"time: Next {_percent(averages['next']['auroc'])}, Past "
        f"{_percent(averages['past']['auroc'])}, Whole {_percent(averages['whole']['auroc'])}"
    )
    return 0


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"
