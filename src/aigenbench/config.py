"""The experiment configuration: its sections, their checks, the id and what changes results.

A configuration is dataclasses, one per section (``protocol``, ``data``, ``model``,
``trainer``, ``experiment``, ``strategy``), each owned by its package; their field docstrings
are the help text. Reading one from a command line (``--config a.yaml --config b.yaml``
composed in order, ``--section.key value`` overrides, shorthands, ``--print_config``:
LightningCLI conventions) is the command layer's job: :mod:`aigenbench.commands._config`.
This module builds no parser, so the layers below the commands can read a configuration.
"""

from __future__ import annotations

import hashlib
import json
import re
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
