"""``aigenbench fit`` (train every window) and ``validate`` / ``test`` (re-score an experiment)."""

from __future__ import annotations

import sys
from pathlib import Path

from aigenbench.errors import ConfigError

RESCORE_USAGE = """usage: aigenbench {command} RUN_DIR [--key value ...]

Score every finished window of the experiment in RUN_DIR with its final weights on the
{stage} stage: window_<k>/predictions_{stage}.npz and its metrics. RUN_DIR's config.yaml is
used; --key value pairs override how it runs (e.g. --trainer.devices 2 --data.num_workers 8).
"""


def main(argv: list[str], command: str = "fit") -> int:
    from aigenbench.training.runner import quiet_lightning

    quiet_lightning()
    if command == "fit":
        return _fit(argv)
    return _rescore(argv, command)


def _fit(argv: list[str]) -> int:
    from aigenbench.config import parse_config
    from aigenbench.training.runner import ExperimentRunner

    if "--print-config" in argv or "--print_config" in argv:
        argv = [arg for arg in argv if arg not in ("--print-config", "--print_config")]
        config = parse_config(argv)
        from aigenbench.config import dump_yaml

        sys.stdout.write(dump_yaml(config.raw))
        return 0
    config = parse_config(argv)
    runner = ExperimentRunner(config)
    runner.fit()
    runner.say(
        f"\nnext: aigenbench evaluate {config.run_dir}    aigenbench report {config.run_dir}"
    )
    return 0


def _rescore(argv: list[str], command: str) -> int:
    from aigenbench.config import parse_config
    from aigenbench.training.runner import ExperimentRunner

    stage = "validate" if command == "validate" else "test"
    if not argv or argv[0] in ("-h", "--help"):
        print(RESCORE_USAGE.format(command=command, stage=stage))
        return 0 if argv else 2
    run_dir, overrides = Path(argv[0]), argv[1:]
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise ConfigError(
            f"{run_dir} is not an experiment directory (no config.yaml); give the folder that "
            f"`aigenbench fit` created, e.g. runs/<experiment-id>"
        )
    config = parse_config(
        [
            "--config",
            str(config_file),
            "--experiment.runs_dir",
            str(run_dir.parent),
            "--experiment.id",
            run_dir.name,
            *overrides,
        ],
        prog=f"aigenbench {command}",
    )
    paths = ExperimentRunner(config).score(stage)
    for path in paths:
        print(path)
    return 0
