"""``aigenbench audit``: the shortcut audit of an experiment's data (file-level traits only)."""

from __future__ import annotations

import json
import sys
from typing import Literal

from rich.console import Console
from rich.table import Table

from aigenbench.commands._args import command_parser, parse_command, split_overrides

DESCRIPTION = """\
Can the files alone tell fakes from reals? Per window, a small classifier learns from the
window's training rows using only file-level traits (format, JPEG quality estimate, width,
height, aspect, file size; read from the headers, no pixel) and is scored on the evaluation
set like any detector: RUN_DIR/audit/window_<k>/predictions_validate.npz, with the same
Next / Past / Whole metrics. A Next AUROC clearly above chance (50) means the data has a
shortcut. Also: the encoder's pretraining-data cut-off against each generator's release date.
RUN_DIR is runs/<experiment-id>; extra --key value pairs override its config.yaml (e.g.
--data.source PATH when the dataset moved)."""


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def _resolved_backbone(spec: str) -> str:
    from aigenbench.errors import ConfigError
    from aigenbench.models.registry import resolve_spec

    try:
        family, name, _, _ = resolve_spec(spec)
    except ConfigError:
        return spec
    return f"{family}:{name}"


def main(argv: list[str], command: str = "audit") -> int:
    from aigenbench.commands._run import open_experiment
    from aigenbench.evaluation.shortcut import (
        AUDIT_DIR,
        AUDIT_FILE,
        CLASSIFIERS,
        encoder_exposure,
        run_audit,
    )

    parser = command_parser(command, DESCRIPTION)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="experiment directory")
    parser.add_argument(
        "--classifier",
        type=Literal[CLASSIFIERS],  # type: ignore[valid-type]
        default="boosting",
        help="the traits-only model",
    )
    parser.add_argument("--json", action="store_true", help=f"print {AUDIT_FILE} instead")
    own, overrides = split_overrides(argv)
    args = parse_command(parser, own)

    runner = open_experiment(args.run_dir, overrides, f"aigenbench {command}")
    model = runner.config.model
    encoder = encoder_exposure(
        model.backbone, bool(model.pretrained), runner.plan, _resolved_backbone(model.backbone)
    )
    out_dir = runner.dir.root / AUDIT_DIR
    audit = run_audit(
        runner.source, runner.plan, out_dir, classifier=args.classifier, encoder=encoder
    )
    document = audit.to_json()
    if args.json:
        print(json.dumps(document, indent=2, allow_nan=False))
        return 0

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    title = "Format-only baseline: AUROC (%) after each step"
    table = Table(title=title, title_justify="left", min_width=len(title) + 2)
    for column in ("step", "Next", "Past", "Whole", "All"):
        table.add_column(column, justify="right")
    for row in document["per_window"]:
        table.add_row(
            str(row["window"]), *[_percent(row[k]) for k in ("next", "past", "whole", "all")]
        )
    table.add_section()
    table.add_row(
        "average",
        *[_percent(document["headline"][f"{k}_auroc"]) for k in ("next", "past", "whole")],
        _percent(audit.evaluation.averages["all"]["auroc"]),
        style="bold",
    )
    console.print(table)
    traits = Table(title="Each trait alone: AUROC (%)", title_justify="left")
    traits.add_column("trait")
    traits.add_column("AUROC (%)", justify="right")
    for name, value in document["trait_auroc"].items():
        traits.add_row(name, _percent(value))
    console.print(traits)
    console.print("(50: no information; far from 50 either way: the trait separates the classes)")
    console.print(f"[bold]{audit.verdict()}[/bold]", markup=True)
    console.print(exposure_table(encoder))
    console.print(f"predictions and {AUDIT_FILE}: {out_dir}", markup=False)
    return 0


def exposure_table(encoder: dict) -> Table:
    title = (
        f"Pretraining data cut-offs vs the timeline (this run: {encoder['resolved']}, "
        f"{encoder['data'] or 'no known pretraining data'})"
    )
    table = Table(title=title, title_justify="left", min_width=min(len(title) + 2, 120))
    table.add_column("pretraining data")
    table.add_column("cut-off")
    table.add_column("generators released before", justify="right")
    for row in encoder["table"]:
        mark = " (this run)" if row["this_run"] else ""
        table.add_row(
            row["data"] + mark,
            row["cutoff"],
            f"{row['generators_before_cutoff']} of {row['generators']}",
        )
    return table
