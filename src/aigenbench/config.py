"""The experiment configuration: sections, YAML composition, dotted overrides, shorthands.

LightningCLI conventions (users of the official framework feel at home): ``--config a.yaml
--config b.yaml`` compose in order, ``--section.key value`` overrides any field,
``--print_config`` prints the resolved whole. A key that does not exist is an error before
anything runs. The sections are dataclasses owned by their packages; their field docstrings
are the help text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from aigenbench.config_fields import RUNTIME, is_runtime
from aigenbench.errors import ConfigError
from aigenbench.protocol import ProtocolConfig
from aigenbench.shipped_configs import (  # noqa: F401  (their home before; commands import them)
    PACKAGED_CONFIGS,
    packaged_configs,
    resolve_config_file,
)

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


@dataclass
class ExperimentConfig:
    """Where an experiment lives and how it runs (the ``experiment`` section)."""

    id: str | None = None
    """Experiment name: results go to ``<runs_dir>/<id>/``. Default: derived from the model and a
    hash of the settings, so re-running the same command finds and resumes the same experiment."""
    runs_dir: str = field(default="runs", metadata=RUNTIME)
    """Folder holding every experiment directory."""
    seed: int = 1234
    """Seed of the head's initialisation and of the training order (data draws have their own)."""
    window: int | None = field(default=None, metadata=RUNTIME)
    """Run only this window (0-based); earlier windows must be done. None: every window."""
    feature_cache: Literal["auto", "off"] = "auto"
    """``auto``: with a frozen backbone, compute each evaluation image's features once per
    experiment and reuse them in every window (and training features when the augmentation has
    no stochastic part); identical results, much faster. ``off``: always run the backbone."""
    checkpoint_every_n_steps: int | None = field(default=None, metadata=RUNTIME)
    """Save ``last.ckpt`` every this many optimiser steps; None: every
    ``checkpoint_every_minutes``. Either way also on Ctrl-C / SIGTERM, after the batch."""
    checkpoint_every_minutes: float = field(default=10.0, metadata=RUNTIME)
    """Save ``last.ckpt`` this often (wall time) when ``checkpoint_every_n_steps`` is None."""
    loggers: list[Literal["tensorboard", "csv", "wandb"]] = field(
        default_factory=lambda: ["tensorboard", "csv"], metadata=RUNTIME
    )
    """Where training curves go: ``runs/<id>/logs/<logger>/window_<k>``; wandb groups the windows
    of an experiment."""
    wandb_project: str = field(default="aigenbench", metadata=RUNTIME)
    """W&B project (with ``loggers: [wandb, ...]``)."""
    imports: list[str] = field(default_factory=list, metadata=RUNTIME)
    """Python modules to import first, e.g. one that registers your own backbone factory."""
    requeue_signal: str = field(default="SIGUSR1", metadata=RUNTIME)
    """The signal the cluster sends before it stops the job (sbatch ``--signal=USR1@90``): the
    run stops at its next safe point and, under SLURM, requeues the job (exit status 75)."""
    allow_world_size_change: bool = field(default=False, metadata=RUNTIME)
    """Continue an experiment on another number of processes (devices x num_nodes) than the one
    that trained it. Refused by default: the overall batch and the position in the epoch depend
    on it, so the results would differ from an uninterrupted run."""

    def __post_init__(self) -> None:
        # The seeds are entropy of NumPy's SeedSequence, which takes whole numbers >= 0 only.
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(
                f"experiment.seed must be a whole number >= 0, got {self.seed!r}; e.g. "
                "--experiment.seed 1234"
            )


@dataclass
class TrainerConfig:
    """Lightning Trainer settings, per window (the ``trainer`` section)."""

    accelerator: str = field(default="auto", metadata=RUNTIME)
    """``cpu``, ``gpu``, ``auto``, ..."""
    devices: int | str = field(default="auto", metadata=RUNTIME)
    """Devices per node: a number, ``auto`` or a list string like ``"0,1"``."""
    num_nodes: int = field(default=1, metadata=RUNTIME)
    """Machines (each with ``devices`` devices); world size = devices x num_nodes."""
    strategy: str = field(default="auto", metadata=RUNTIME)
    """``auto``, ``ddp``, ``fsdp``, ``ddp_find_unused_parameters_true``, ..."""
    precision: str = "32-true"
    """``32-true``, ``bf16-mixed``, ``16-mixed``, ..."""
    max_epochs: int = 1
    """Epochs per window (the protocol: 1, over ``augmentation_factor`` copies of each image)."""
    max_steps: int = -1
    """Stop a window after this many optimiser steps (-1: no limit)."""
    accumulate_grad_batches: int = 1
    """Overall batch = data.train_batch_size x this x devices (the paper: 512)."""
    gradient_clip_val: float | None = 1.0
    """Clip gradients at this value (the paper: 1.0); None: no clipping."""
    gradient_clip_algorithm: Literal["norm", "value"] = "norm"
    """Clip the gradients' global ``norm`` or each ``value``."""
    log_every_n_steps: int = field(default=10, metadata=RUNTIME)
    """Write the training curves every this many optimiser steps."""
    deterministic: bool = False
    """``torch.use_deterministic_algorithms`` (slower on GPUs; CPU runs repeat exactly anyway)."""
    enable_progress_bar: bool = field(default=True, metadata=RUNTIME)
    """Progress bars with an ETA in a terminal (never in a log file, where each window prints
    one line when it is done)."""
    limit_train_batches: int | float | None = None
    """Debugging: train on this many batches (or this fraction) of each window."""


@dataclass
class Config:
    """The whole resolved configuration of an experiment."""

    protocol: ProtocolConfig
    data: Any
    model: Any
    trainer: TrainerConfig
    experiment: ExperimentConfig
    raw: dict[str, Any]
    """The resolved configuration as plain data (what ``config.yaml`` holds)."""
    strategy: Any = None
    """The continual-learning strategy (``training.strategies.StrategyConfig``); None: finetune."""
    lightning: dict[str, Any] = field(default_factory=dict)
    """``lightning.Trainer`` arguments set beyond TrainerConfig (``--trainer.fast_dev_run``)."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Every setting at its default, as plain data (like ``raw``): a setting that a newer
    version added is absent from an older experiment's config.yaml, and its default is what
    that experiment ran with."""

    @property
    def experiment_id(self) -> str:
        return self.experiment.id or default_experiment_id(self.raw, self.defaults)

    @property
    def run_dir(self) -> Path:
        return Path(self.experiment.runs_dir) / self.experiment_id


def build_parser(prog: str = "aigenbench fit", *, lightning_trainer: bool = True) -> Any:
    """The jsonargparse parser of every section (importing torch: used by fit/validate/test).

    ``lightning_trainer``: also every other ``lightning.Trainer`` argument as
    ``--trainer.<name>`` (the short ``fit --help`` leaves them out)."""
    from aigenbench.commands._args import command_parser
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


# Trainer arguments the runner sets itself (per window: loggers, checkpoints, samplers).
RUNNER_OWNED_TRAINER_ARGS = frozenset(
    {
        "logger",
        "callbacks",
        "enable_checkpointing",
        "default_root_dir",
        "use_distributed_sampler",
        "enable_model_summary",
        "plugins",
        "model_registry",
    }
)
# What the runner fixes for training: evaluation runs after fitting, with its own Trainer.
FIT_OWNED_TRAINER_ARGS = frozenset(
    {"limit_val_batches", "num_sanity_val_steps", "val_check_interval", "check_val_every_n_epoch"}
)
# Training-only: the evaluation scores every image of the evaluation set whatever they say.
FIT_ONLY_TRAINER_ARGS = frozenset({"fast_dev_run", "max_time", "min_epochs", "min_steps"})
# An evaluation must score every image (the metrics are cut from all of them).
PARTIAL_EVALUATION_ARGS = ("limit_val_batches", "limit_test_batches")


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


def trainer_passthrough(config: Config, stage: Literal["fit", "evaluate"]) -> dict[str, Any]:
    """The Lightning Trainer arguments set beyond TrainerConfig, for a fit or evaluation Trainer."""
    options = dict(config.lightning)
    for key in FIT_OWNED_TRAINER_ARGS if stage == "fit" else FIT_ONLY_TRAINER_ARGS:
        options.pop(key, None)
    return options


def check_trainer_passthrough(lightning: dict[str, Any]) -> None:
    """Refuse the Trainer arguments that would leave evaluation images unscored."""
    for key in PARTIAL_EVALUATION_ARGS:
        value = lightning.get(key)
        if value is not None and not (isinstance(value, float) and value == 1.0):
            raise ConfigError(
                f"trainer.{key}={value!r}: every evaluation image must be scored (the metrics "
                f"are cut from all of them); to evaluate on fewer images set "
                f"protocol.validation_subset_size"
            )


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
    from aigenbench.commands._args import parse_command

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
    from aigenbench.commands._args import usage_error_text

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


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists and leaves kept as values)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "init_args":
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def section_classes() -> dict[str, type]:
    """The dataclass of each config section."""
    from aigenbench.data.config import DataConfig
    from aigenbench.models.config import ModelConfig

    return {
        "protocol": ProtocolConfig,
        "data": DataConfig,
        "model": ModelConfig,
        "trainer": TrainerConfig,
        "experiment": ExperimentConfig,
    }


def runtime_keys() -> frozenset[str]:
    """Dotted keys of the fields marked :data:`~aigenbench.config_fields.RUNTIME` (plus the
    experiment's id, which names the experiment rather than configuring it)."""
    keys = {"experiment.id"}
    for section, cls in section_classes().items():
        keys.update(f"{section}.{f.name}" for f in fields(cls) if is_runtime(f.metadata))
    return frozenset(keys)


def result_affecting(raw: dict[str, Any]) -> dict[str, Any]:
    """The settings that change results (every field not marked runtime), flattened."""
    runtime = runtime_keys()
    return {key: value for key, value in flatten(raw).items() if key not in runtime}


def config_differences(
    old: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any] | None = None
) -> list[str]:
    """Lines ``key: old -> new`` for every result-affecting setting that differs.

    A setting absent from ``old`` (recorded by an earlier version, before the setting existed)
    counts as its value in ``defaults``: resuming with it at its default changes nothing.
    """
    before, after = result_affecting(old), result_affecting(new)
    for key, value in flatten(defaults or {}).items():
        if key in after and key not in before:
            before[key] = value
    lines = []
    for key in sorted(set(before) | set(after)):
        if before.get(key, "<absent>") != after.get(key, "<absent>"):
            lines.append(
                f"{key}: {before.get(key, '<absent>')!r} -> {after.get(key, '<absent>')!r}"
            )
    return lines


def default_experiment_id(raw: dict[str, Any], defaults: dict[str, Any] | None = None) -> str:
    """``<backbone>-<freezing>-<8 hex>``: the same settings give the same id (so reruns resume).

    The hash covers the result-affecting settings that differ from ``defaults``: a setting a
    newer version adds, at its default, leaves the id (and so the experiment found) unchanged.
    A changed default still cannot mix results: config.yaml holds every value and is compared.
    """
    model = raw.get("model", {})
    backbone = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(model.get("backbone", "model")))[-40:]
    unset = object()
    default_values = flatten(defaults or {})
    chosen = {
        key: value
        for key, value in result_affecting(raw).items()
        if default_values.get(key, unset) != value
    }
    text = json.dumps(chosen, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{backbone}-{model.get('freezing', 'tune')}-{digest}"


def check_experiment_id(experiment_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.=+-]*", experiment_id):
        raise ConfigError(
            f"experiment id {experiment_id!r} is not a plain folder name; use letters, digits "
            f"and _ . = + - (it becomes runs/<id>/)"
        )
    return experiment_id


def dump_yaml(raw: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)


def load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
