"""``aigenbench demo``: the whole protocol on the built-in synthetic benchmark, then its tables."""

from __future__ import annotations

import sys
import time
from pathlib import Path

HELP = """usage: aigenbench demo [--data_dir DIR] [--runs_dir DIR] [--section.key value ...]

Build the synthetic benchmark (cached) in --data_dir (demo_data), train a compact CNN on every
window of the protocol, print the Next / Past / Growing / Whole AUROC table and write the
report. The demo is `aigenbench fit` with the shipped demo config: every fit flag works
(e.g. --trainer.max_epochs 1, --print_config; `aigenbench fit --help` lists them)."""

# The demo's own names for the fit keys it sets.
SHORTHANDS = {
    "--data_dir": "--data.source",
    "--data-dir": "--data.source",
    "--runs_dir": "--experiment.runs_dir",
    "--experiment_id": "--experiment.id",
}


def main(argv: list[str], command: str = "demo") -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        print(HELP)
        return 0
    from aigenbench.commands._config import parse_config
    from aigenbench.commands.evaluate import print_tables
    from aigenbench.commands.fit import _print_config_requested
    from aigenbench.config import PACKAGED_CONFIGS, dump_yaml
    from aigenbench.data.synth import SynthConfig, build_synthetic
    from aigenbench.evaluation.experiment import evaluate_experiment
    from aigenbench.evaluation.report import write_report
    from aigenbench.training.runner import ExperimentRunner, quiet_lightning

    quiet_lightning()
    argv, print_only = _print_config_requested(argv)
    overrides = []
    for arg in argv:
        name, equals, value = arg.partition("=")
        overrides.append(SHORTHANDS.get(name, name) + equals + value)
    config = parse_config(
        [
            "--config",
            str(PACKAGED_CONFIGS / "demo.yaml"),
            "--data.source",
            "demo_data",
            "--experiment.runs_dir",
            "runs",
            "--experiment.id",
            "demo",
            *overrides,
        ],
        prog=f"aigenbench {command}",
    )
    if print_only:
        sys.stdout.write(dump_yaml(config.raw))
        return 0
    started = time.perf_counter()
    data_dir = Path(config.data.source)
    print(f"synthetic benchmark: {data_dir}")
    build_synthetic(data_dir, SynthConfig())
    ExperimentRunner(config).fit()
    print()
    print_tables(evaluate_experiment(config.run_dir), str(config.run_dir), "validate", None, False)
    report = write_report(config.run_dir)
    print(f"\nreport: {report.html_path}")
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return 0
