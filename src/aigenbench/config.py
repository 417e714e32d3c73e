"""The experiment configuration: sections, YAML composition, dotted overrides, shorthands.

LightningCLI conventions (users of the official framework feel at home): ``--config a.yaml
--config b.yaml`` compose in order, ``--section.key value`` overrides any field,
``--print-config`` prints the resolved whole. A key that does not exist is an error before
anything runs. The sections are dataclasses owned by their packages; their field docstrings
are the help text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aigenbench.errors import ConfigError
from aigenbench.protocol import ProtocolConfig

# Plain flags for the everyday settings -> the dotted keys they stand for.
SHORTHANDS: dict[str, str] = {
    "--dataset": "--data.source",
    "--timeline": "--protocol.timeline",
    "--experiment-id": "--experiment.id",
    "--runs-dir": "--experiment.runs_dir",
    "--window": "--experiment.window",
    "--backbone": "--model.backbone",
    "--seed": "--experiment.seed",
    "--print-config": "--print_config",
}

# Keys that change how a run executes, not what it computes: an experiment may be resumed with
# other values. Everything else must match the experiment's config.yaml.
RUNTIME_KEYS = (
    "experiment.runs_dir",
    "experiment.window",
    "experiment.loggers",
    "experiment.wandb_project",
    "experiment.checkpoint_every_n_steps",
    "experiment.checkpoint_every_minutes",
    "experiment.imports",
    "data.num_workers",
    "data.eval_batch_size",
    "data.pin_memory",
    "data.persistent_workers",
    "data.prefetch_factor",
    "data.source",
    "data.source_kind",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.enable_progress_bar",
    "trainer.log_every_n_steps",
)


@dataclass
class ExperimentConfig:
    """Where an experiment lives and how it runs (the ``experiment`` section)."""

    id: str | None = None
    """Experiment name: results go to ``<runs_dir>/<id>/``. Default: derived from the model and a
    hash of the settings, so re-running the same command finds and resumes the same experiment."""
    runs_dir: str = "runs"
    """Folder holding every experiment directory."""
    seed: int = 1234
    """Seed of the head's initialisation and of the training order (data draws have their own)."""
    window: int | None = None
    """Run only this window (0-based); earlier windows must be done. None: every window."""
    feature_cache: Literal["auto", "off"] = "auto"
    """``auto``: with a frozen backbone, compute each evaluation image's features once per
    experiment and reuse them in every window (and training features when the augmentation has
    no stochastic part); identical results, much faster. ``off``: always run the backbone."""
    checkpoint_every_n_steps: int | None = None
    """Save ``last.ckpt`` every this many optimiser steps; None: every
    ``checkpoint_every_minutes``. Either way also on Ctrl-C / SIGTERM, after the batch."""
    checkpoint_every_minutes: float = 10.0
    """Save ``last.ckpt`` this often (wall time) when ``checkpoint_every_n_steps`` is None."""
    loggers: list[Literal["tensorboard", "csv", "wandb"]] = field(
        default_factory=lambda: ["tensorboard", "csv"]
    )
    """Where training curves go: ``runs/<id>/logs/<logger>/window_<k>``; wandb groups the windows
    of an experiment."""
    wandb_project: str = "aigenbench"
    """W&B project (with ``loggers: [wandb, ...]``)."""
    imports: list[str] = field(default_factory=list)
    """Python modules to import first, e.g. one that registers your own backbone factory."""


@dataclass
class TrainerConfig:
    """Lightning Trainer settings, per window (the ``trainer`` section)."""

    accelerator: str = "auto"
    """``cpu``, ``gpu``, ``auto``, ..."""
    devices: int | str = "auto"
    """Devices per node: a number, ``auto`` or a list string like ``"0,1"``."""
    num_nodes: int = 1
    strategy: str = "auto"
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
    gradient_clip_algorithm: Literal["norm", "value"] = "norm"
    log_every_n_steps: int = 10
    deterministic: bool = False
    """``torch.use_deterministic_algorithms`` (slower on GPUs; CPU runs repeat exactly anyway)."""
    enable_progress_bar: bool = True
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

    @property
    def experiment_id(self) -> str:
        return self.experiment.id or default_experiment_id(self.raw)

    @property
    def run_dir(self) -> Path:
        return Path(self.experiment.runs_dir) / self.experiment_id


def build_parser(prog: str = "aigenbench fit") -> Any:
    """The jsonargparse parser of every section (importing torch: used by fit/validate/test)."""
    from jsonargparse import ActionConfigFile, ArgumentParser, set_parsing_settings

    from aigenbench.data.config import DataConfig
    from aigenbench.models.config import ModelConfig
    from aigenbench.training.strategies.config import StrategyConfig

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    parser = ArgumentParser(
        prog=prog,
        exit_on_error=False,
        allow_abbrev=False,
        description=(
            "Run the AI-GenBench protocol: every window of the timeline, resumable.\n"
            "Shorthands: " + ", ".join(f"{k} = {v}" for k, v in SHORTHANDS.items())
        ),
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML config; repeatable")
    parser.add_class_arguments(ProtocolConfig, "protocol")
    parser.add_class_arguments(DataConfig, "data")
    parser.add_class_arguments(ModelConfig, "model")
    parser.add_class_arguments(TrainerConfig, "trainer")
    parser.add_class_arguments(ExperimentConfig, "experiment")
    parser.add_class_arguments(StrategyConfig, "strategy")  # continual strategies
    return parser


PACKAGED_CONFIGS = Path(__file__).parent / "configs"


def packaged_configs() -> list[str]:
    """The configs shipped with aigenbench, as names ``--config`` accepts (``protocol/...``)."""
    return sorted(
        str(path.relative_to(PACKAGED_CONFIGS).with_suffix(""))
        for path in PACKAGED_CONFIGS.rglob("*.yaml")
    )


def resolve_config_file(name: str) -> str:
    """A path that exists, or a shipped config named like ``protocol/sliding_windows(.yaml)``
    (also ``configs/...``). Anything else is a ConfigError listing the shipped ones."""
    if Path(name).exists():
        return name
    stem = name.removeprefix("configs/").removesuffix(".yaml").removesuffix(".yml")
    candidate = PACKAGED_CONFIGS / f"{stem}.yaml"
    if candidate.is_file():
        return str(candidate)
    import difflib

    shipped = packaged_configs()
    close = difflib.get_close_matches(stem, shipped, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"config file {name} does not exist.{hint} Shipped configs: {', '.join(shipped)}"
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


def _error_text(error: BaseException) -> str:
    text = str(error).strip()
    # jsonargparse repeats the whole usage in some messages; keep the reason.
    return re.sub(r"\s+", " ", text.split("\nusage:")[0])[:2000]


def parse_config(argv: Sequence[str], prog: str = "aigenbench fit") -> Config:
    """Parse ``--config`` files, overrides and shorthands into a validated :class:`Config`.

    Raises ConfigError for an unknown key, a value of the wrong type, a missing file or a
    section's own validation error (before anything is built or trained).
    """
    parser = build_parser(prog)
    expanded = expand_shorthands(argv)
    try:
        namespace = parser.parse_args(expanded)
    except SystemExit as done:  # --help / --print_config
        raise done
    except Exception as error:
        text = _error_text(error)
        raise ConfigError(f"bad configuration: {text}{_suggestion(parser, text)}") from None
    return config_from_namespace(parser, namespace)


def _suggestion(parser: Any, message: str) -> str:
    """' Did you mean ...?' for a misspelt key named in a jsonargparse message."""
    import difflib

    found = re.search(
        r"--([\w.]+)|Group '([\w.]+)' does not accept option '(\w+)'|Option '([\w.]+)'", message
    )
    if not found:
        return ""
    key = found.group(1) or found.group(4) or f"{found.group(2)}.{found.group(3)}"
    keys = [action.dest for action in parser._actions if "." in action.dest]
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    return f". Did you mean: {', '.join(close)}?" if close else ""


def config_from_namespace(parser: Any, namespace: Any) -> Config:
    raw = to_plain(parser.dump(namespace, format="yaml", skip_unset=False))
    raw.pop("config", None)
    try:
        objects = parser.instantiate(namespace)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"bad configuration: {_error_text(error)}") from None
    return Config(
        protocol=objects.protocol,
        data=objects.data,
        model=objects.model,
        trainer=objects.trainer,
        experiment=objects.experiment,
        raw=raw,
        strategy=objects.strategy,
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


def result_affecting(raw: dict[str, Any]) -> dict[str, Any]:
    """The settings that change results (everything but :data:`RUNTIME_KEYS`), flattened."""
    return {
        key: value
        for key, value in flatten(raw).items()
        if key not in RUNTIME_KEYS and key != "experiment.id"
    }


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Lines ``key: old -> new`` for every result-affecting setting that differs."""
    before, after = result_affecting(old), result_affecting(new)
    lines = []
    for key in sorted(set(before) | set(after)):
        if before.get(key, "<absent>") != after.get(key, "<absent>"):
            lines.append(
                f"{key}: {before.get(key, '<absent>')!r} -> {after.get(key, '<absent>')!r}"
            )
    return lines


def default_experiment_id(raw: dict[str, Any]) -> str:
    """``<backbone>-<freezing>-<8 hex>``: the same settings give the same id (so reruns resume)."""
    model = raw.get("model", {})
    backbone = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(model.get("backbone", "model")))[-40:]
    digest = hashlib.sha256(
        json.dumps(result_affecting(raw), sort_keys=True, default=str).encode()
    ).hexdigest()[:8]
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
