"""``aigenbench fit`` (train every window) and ``validate`` / ``test`` (re-score an experiment)."""

from __future__ import annotations

import sys
from pathlib import Path

from aigenbench.errors import ConfigError

RESCORE_USAGE = """usage: aigenbench {command} RUN_DIR [--section.key value ...] [--print_config]

Score every finished window of the experiment in RUN_DIR with its final weights on the
{stage} stage: window_<k>/predictions_{stage}.npz and its metrics, then print the AUROC
table. RUN_DIR's config.yaml is used; --section.key value pairs override how it runs (e.g.
--trainer.devices 2 --data.eval_batch_size 64); `aigenbench fit --help` lists every key.
"""

PRINT_CONFIG = ("--print_config", "--print-config")


def main(argv: list[str], command: str = "fit") -> int:
    if command != "fit" and (not argv or argv[0] in ("-h", "--help")):
        return _rescore_usage(argv, command)  # before torch is imported: help is instant
    from aigenbench.training.runner import quiet_lightning

    quiet_lightning()
    if command == "fit":
        return _fit(argv)
    return _rescore(argv, command)


def _rescore_usage(argv: list[str], command: str) -> int:
    stage = "validate" if command == "validate" else "test"
    print(RESCORE_USAGE.format(command=command, stage=stage))
    if argv:
        return 0
    raise ConfigError(f"give the experiment directory first: aigenbench {command} RUN_DIR")


def _print_config_requested(argv: list[str]) -> tuple[list[str], bool]:
    """``--print_config`` prints the resolved, validated config (what config.yaml holds)."""
    kept = [arg for arg in argv if arg not in PRINT_CONFIG]
    return kept, len(kept) != len(argv)


def _fit(argv: list[str]) -> int:
    from aigenbench.config import dump_yaml, parse_config
    from aigenbench.training.runner import ExperimentRunner

    argv, print_only = _print_config_requested(argv)
    config = parse_config(argv)
    if print_only:
        sys.stdout.write(dump_yaml(config.raw))
        return 0
    runner = ExperimentRunner(config)
    runner.fit()
    runner.say(
        f"\nnext: aigenbench evaluate {config.run_dir}    aigenbench report {config.run_dir}"
    )
    return 0


def _rescore(argv: list[str], command: str) -> int:
    from aigenbench.commands._run import experiment_config
    from aigenbench.config import dump_yaml
    from aigenbench.training.runner import ExperimentRunner

    stage = "validate" if command == "validate" else "test"
    if argv[0].startswith("-"):
        return _rescore_usage([], command)
    run_dir, overrides = Path(argv[0]), argv[1:]
    overrides, print_only = _print_config_requested(overrides)
    config = experiment_config(run_dir, overrides, f"aigenbench {command}")
    if print_only:
        sys.stdout.write(dump_yaml(config.raw))
        return 0
    runner = ExperimentRunner(config)
    paths, evaluation = runner.score(stage)
    if runner.rank_zero:
        for path in paths:
            print(path)
        if evaluation is not None:
            # The AUROC table of the freshly scored stage (what `aigenbench evaluate` shows).
            from aigenbench.commands.evaluate import print_tables

            print()
            print_tables(evaluation, str(run_dir), stage, None, False)
    return 0
