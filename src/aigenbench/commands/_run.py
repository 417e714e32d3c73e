"""Open an experiment from its directory (its ``config.yaml``) for the commands that reuse it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aigenbench.errors import ConfigError

if TYPE_CHECKING:
    from aigenbench.training.runner import ExperimentRunner


def open_experiment(run_dir: str | Path, overrides: list[str], prog: str) -> ExperimentRunner:
    """The runner of the experiment in ``run_dir`` (its dataset, timeline and plan), with
    ``--key value`` overrides of how it runs (e.g. ``--data.source`` when the data moved)."""
    from aigenbench.config import parse_config
    from aigenbench.training.runner import ExperimentRunner, quiet_lightning

    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise ConfigError(
            f"{run_dir} is not an experiment directory (no config.yaml); give the folder that "
            "`aigenbench fit` created, e.g. runs/<experiment-id>"
        )
    quiet_lightning()
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
        prog=prog,
    )
    return ExperimentRunner(config, quiet=True)
