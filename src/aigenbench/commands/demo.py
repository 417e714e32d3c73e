"""``aigenbench demo``: the whole protocol on the built-in synthetic benchmark, then its tables."""

from __future__ import annotations

import time
from pathlib import Path

from aigenbench.commands._args import command_parser


def main(argv: list[str], command: str = "demo") -> int:
    parser = command_parser(
        command,
        "Build the synthetic benchmark (cached), train a compact CNN on every window of the\n"
        "protocol, print the Next / Past / Growing / Whole AUROC table and write the report.\n"
        "Extra --key value pairs override the demo config (e.g. --trainer.max_epochs 1).",
    )
    parser.add_argument("--data-dir", default="demo_data", help="benchmark folder (demo_data)")
    parser.add_argument("--runs-dir", default="runs", help="experiments folder (runs)")
    parser.add_argument("--experiment-id", default="demo", help="experiment name (demo)")
    args, overrides = parser.parse_known_args(argv)

    from aigenbench.commands.evaluate import print_tables
    from aigenbench.config import PACKAGED_CONFIGS, parse_config
    from aigenbench.data.synth import SynthConfig, build_synthetic
    from aigenbench.evaluation.experiment import evaluate_experiment
    from aigenbench.evaluation.report import write_report
    from aigenbench.training.runner import ExperimentRunner, quiet_lightning

    quiet_lightning()
    started = time.perf_counter()
    data_dir = Path(args.data_dir)
    print(f"synthetic benchmark: {data_dir}")
    build_synthetic(data_dir, SynthConfig())
    config = parse_config(
        [
            "--config",
            str(PACKAGED_CONFIGS / "demo.yaml"),
            "--dataset",
            str(data_dir),
            "--runs-dir",
            args.runs_dir,
            "--experiment-id",
            args.experiment_id,
            *overrides,
        ],
        prog=f"aigenbench {command}",
    )
    ExperimentRunner(config).fit()
    print()
    print_tables(evaluate_experiment(config.run_dir), str(config.run_dir), "validate", None, False)
    report = write_report(config.run_dir)
    print(f"\nreport: {report.html_path}")
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return 0
