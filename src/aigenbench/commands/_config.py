"""The experiment configuration read from a command line: ``fit``'s parser of every section,
its shorthands (``--dataset``, ``--backbone``, ...) and the validated :class:`Config` it gives.

The sections and their checks are :mod:`aigenbench.config` (what a configuration is); this
module is how a command line becomes one (jsonargparse, LightningCLI conventions), so the
parsing stays in the command layer. ``fit``, ``demo`` and the commands that reopen a run's
``config.yaml`` (validate, test, robustness, audit, ...) all parse here.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from aigenbench.commands._args import command_parser, parse_command, usage_error_text
from aigenbench.config import (
    FIT_OWNED_TRAINER_ARGS,
    PARTIAL_EVALUATION_ARGS,
    RUNNER_OWNED_TRAINER_ARGS,
    Config,
    ExperimentConfig,
    TrainerConfig,
    check_trainer_passthrough,
)
from aigenbench.errors import ConfigError
from aigenbench.protocol import ProtocolConfig
from aigenbench.shipped_configs import resolve_config_file

# Plain flags for the everyday settings -> the dotted keys they stand for.
SHORTHANDS: dict[str, str] = {
    "--dataset": "--data.source",
    "--timeline": "--protocol.timeline",
    "--experiment-id": "--experiment.id",
    "--runs-dir": "--experiment.runs_dir",
    "--window": "--experiment.window",
    "--backbone": "--model.backbone",
    "--seed": "--experiment.seed",
    "--seed_everything": "--experiment.seed",
    "--print-config": "--print_config",
}


def build_parser(prog: str = "aigenbench fit", *, lightning_trainer: bool = True) -> Any:
    """The jsonargparse parser of every section (importing torch: used by fit/validate/test).

    ``lightning_trainer``: also every other ``lightning.Trainer`` argument as
    ``--trainer.<name>`` (the short ``fit --help`` leaves them out)."""
    from aigenbench.data.config import DataConfig
    from aigenbench.models.config import ModelConfig
    from aigenbench.training.strategies.config import StrategyConfig

    parser = command_parser(
        prog.removeprefix("aigenbench "),
        "Run the AI-GenBench protocol: every window of the timeline, resumable.\n"
        "Shorthands: " + ", ".join(f"{k} = {v}" for k, v in SHORTHANDS.items()),
    )
    parser.add_class_arguments(ProtocolConfig, "protocol")
    parser.add_class_arguments(DataConfig, "data")
    parser.add_class_arguments(ModelConfig, "model")
    parser.add_class_arguments(TrainerConfig, "trainer")
    if lightning_trainer:
        add_lightning_trainer_arguments(parser)
    parser.add_class_arguments(ExperimentConfig, "experiment")
    parser.add_class_arguments(StrategyConfig, "strategy")  # continual strategies
    return parser


def add_lightning_trainer_arguments(parser: Any) -> list[str]:
    """Every other ``lightning.Trainer`` argument as ``--trainer.<name>`` (passed through)."""
    import dataclasses

    import lightning as L

    own = {f.name for f in dataclasses.fields(TrainerConfig)}
    added = list(
        parser.add_method_arguments(
            L.Trainer,
            "__init__",
            "trainer",
            skip=own | RUNNER_OWNED_TRAINER_ARGS,
            fail_untyped=False,
            as_group=False,
        )
    )
    # Still parsed (a refusal names the fix), never offered: the evaluation scores every image.
    hidden = {f"trainer.{name}" for name in FIT_OWNED_TRAINER_ARGS | set(PARTIAL_EVALUATION_ARGS)}
    for action in parser._actions:
        if action.dest in hidden:
            action.help = argparse.SUPPRESS
    return added


def lightning_trainer_keys() -> list[str]:
    """The ``lightning.Trainer`` arguments reachable as ``trainer.<name>`` beyond TrainerConfig."""
    import dataclasses
    import inspect

    import lightning as L

    own = {f.name for f in dataclasses.fields(TrainerConfig)}
    return [
        name
        for name in inspect.signature(L.Trainer.__init__).parameters
        if name != "self" and name not in own and name not in RUNNER_OWNED_TRAINER_ARGS
    ]


def expand_shorthands(argv: Sequence[str]) -> list[str]:
    """``--dataset X`` -> ``--data.source X`` (also ``--flag=value``); ``--config NAME`` may
    name a shipped config (``protocol/sliding_windows``)."""
    expanded: list[str] = []
    args = list(argv)
    index = 0
    while index < len(args):
        arg = args[index]
        name, equals, value = arg.partition("=")
        if name == "--config":
            if equals:
                expanded.append(f"--config={resolve_config_file(value)}")
            elif index + 1 < len(args):
                expanded += ["--config", resolve_config_file(args[index + 1])]
                index += 1
            else:
                expanded.append(arg)
        elif name in SHORTHANDS:
            expanded.append(SHORTHANDS[name] + (equals + value if equals else ""))
        else:
            expanded.append(arg)
        index += 1
    return expanded


def parse_config(argv: Sequence[str], prog: str = "aigenbench fit") -> Config:
    """Parse ``--config`` files, overrides and shorthands into a validated :class:`Config`.

    Raises ConfigError for an unknown key, a value of the wrong type, a missing file or a
    section's own validation error (before anything is built or trained).
    """

    parser = build_parser(prog)
    try:
        namespace = parse_command(parser, expand_shorthands(argv), SHORTHANDS)
    except ConfigError as error:
        if "--model.backbone is not set" in str(error):
            raise ConfigError(
                "no backbone: add a model config (--config models/dinov2_vitl14_tune_resize, "
                "--config methods/univfd, --config demo, ...) or --backbone SPEC (timm:<name>, "
                f"small:cnn, clip_vitl14, ...) (see `{prog} --help`)"
            ) from None
        raise
    return config_from_namespace(parser, namespace)


def config_from_namespace(parser: Any, namespace: Any) -> Config:

    defaults = parser.get_defaults()
    lightning: dict[str, Any] = {}
    namespace = namespace.clone()
    for name in lightning_trainer_keys():
        key = f"trainer.{name}"
        if key in namespace:
            value = namespace.pop(key)
            if key not in defaults or value != defaults[key]:
                lightning[name] = value
    raw = to_plain(parser.dump(namespace, format="yaml", skip_unset=False))
    raw.pop("config", None)
    defaults_raw = to_plain(
        parser.dump(defaults, format="yaml", skip_unset=False, skip_validation=True)
    )
    defaults_raw.pop("config", None)
    check_trainer_passthrough(lightning)
    if lightning:
        raw.setdefault("trainer", {}).update(lightning)
    try:
        objects = parser.instantiate(namespace)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"bad configuration: {usage_error_text(parser, error)}") from None
    return Config(
        protocol=objects.protocol,
        data=objects.data,
        model=objects.model,
        trainer=objects.trainer,
        experiment=objects.experiment,
        raw=raw,
        strategy=objects.strategy,
        lightning=lightning,
        defaults=defaults_raw,
    )


def to_plain(dumped_yaml: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(dumped_yaml) or {}
