"""Open an experiment from its directory (its ``config.yaml``) for the commands that reuse it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aigenbench.errors import ConfigError

if TYPE_CHECKING:
    from aigenbench.config import Config
    from aigenbench.training.runner import ExperimentRunner


def experiment_config(run_dir: str | Path, overrides: list[str], prog: str) -> Config:
    """The config of the experiment in ``run_dir`` (its ``config.yaml``), with ``--key value``
    overrides of how it runs (e.g. ``--data.source`` when the data moved)."""
    from aigenbench.commands._config import parse_config

    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise ConfigError(
            f"{run_dir} is not an experiment directory (no config.yaml); give the folder that "
            "`aigenbench fit` created, e.g. runs/<experiment-id>"
        )
    from aigenbench.training.experiment_dir import read_recorded_config

    read_recorded_config(config_file)  # a damaged one: named, with the repair
    return parse_config(
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


def open_experiment(run_dir: str | Path, overrides: list[str], prog: str) -> ExperimentRunner:
    """The runner of the experiment in ``run_dir`` (its dataset, timeline and plan)."""
    from aigenbench.training.runner import ExperimentRunner, quiet_lightning

    quiet_lightning()
    return ExperimentRunner(experiment_config(run_dir, overrides, prog), quiet=True)


FIT_SECTIONS = ("model", "protocol", "strategy", "experiment")
"""Sections only ``fit`` (and ``demo``) read: a config that sets them defines an experiment."""


def refuse_fit_config(argv: list[str], command: str) -> None:
    """A ``--config`` that defines an experiment (``demo``, ``methods/univfd``, ...) given to a
    command that reads an existing one: say so, and what to run instead (without this the
    command refuses its first key, ``model.optimizer...``, without saying why)."""
    import yaml

    from aigenbench.shipped_configs import resolve_config_file

    for index, arg in enumerate(argv):
        name, equals, value = arg.partition("=")
        if name != "--config" or not (equals or index + 1 < len(argv)):
            continue
        given = value if equals else argv[index + 1]
        try:
            data = yaml.safe_load(Path(resolve_config_file(given)).read_text(encoding="utf-8"))
        except (ConfigError, OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # the command's own parser names a missing or unreadable file
        sections = [key for key in FIT_SECTIONS if isinstance(data, dict) and key in data]
        if sections:
            raise ConfigError(
                f"--config {given} is a `fit` config (it sets {', '.join(sections)}), and "
                f"`aigenbench {command}` reads the settings of an experiment that fit made: run "
                f"`aigenbench {command} runs/<experiment-id>` (train one first with `aigenbench "
                f"fit --config {given}`)"
            )
