"""The ``model`` section of a config: backbone, freezing, task, crops, optimiser, schedule."""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from torch.optim import Optimizer

from aigenbench.data.crops import EVAL_CROPS, TRAIN_CROPS, EvalCrop, TrainCrop
from aigenbench.errors import ConfigError

Freezing = Literal["probe", "tune", "staged", "lora"]
FREEZINGS = ("probe", "tune", "staged", "lora")
Task = Literal["binary", "multiclass"]
SchedulerName = Literal["onecycle", "cosine", "constant"]


def _default_optimizer_args() -> dict[str, Any]:
    return {"lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-4}


def _default_optimizer() -> dict[str, Any]:
    return {"class_path": "torch.optim.SGD", "init_args": _default_optimizer_args()}


OptimizerSpec = Callable[[Iterable[Any]], Optimizer]
"""How the ``optimizer`` field is declared: jsonargparse then reads ``class_path`` +
``init_args`` (with ``--model.optimizer.init_args.lr=...`` overrides and class-name
shorthands, as LightningCLI users know them). ModelConfig turns whatever it is given (that
callable, a mapping, an OptimizerConfig) into an :class:`OptimizerConfig`."""


@dataclass
class OptimizerConfig:
    """An optimiser class and its arguments (jsonargparse's ``class_path``/``init_args`` style)."""

    class_path: str = "torch.optim.SGD"
    """Import path of a ``torch.optim.Optimizer`` subclass, e.g. ``torch.optim.AdamW``."""
    init_args: dict[str, Any] = field(default_factory=_default_optimizer_args)
    """Its keyword arguments; ``lr`` is the head's learning rate (and OneCycle's max_lr)."""


@dataclass
class SchedulerConfig:
    """The learning-rate schedule, stepped after every optimiser step of a window."""

    name: SchedulerName = "onecycle"
    """``onecycle`` (the protocol's: OneCycleLR over the window's steps, max_lr = the
    optimiser's lr), ``cosine`` (linear warm-up then cosine decay) or ``constant``."""
    warmup_fraction: float | None = None
    """Fraction of the window's steps spent warming up (OneCycle's ``pct_start``). None: 0.3
    for onecycle (PyTorch's default, the official setting), 0.05 for cosine, 0 for constant."""
    min_lr_fraction: float = 0.0
    """Cosine: the final learning rate as a fraction of the peak."""
    div_factor: float = 25.0
    """OneCycle: initial lr = max_lr / div_factor (PyTorch's default)."""
    final_div_factor: float = 1e4
    """OneCycle: final lr = initial lr / final_div_factor (PyTorch's default)."""


@dataclass
class UnfreezeAt:
    """When a ``staged`` backbone starts training. Exactly one field is set.

    Steps and epochs count from the start of the experiment (the runner passes the offsets of
    the windows before); windows are numbered from 0.
    """

    step: int | None = None
    """Unfreeze once this many optimiser steps are done (``{step: 500}``)."""
    epoch: int | None = None
    """Unfreeze at the start of this epoch (``{epoch: 1}``: after the first epoch)."""
    window: int | None = None
    """Unfreeze from this window on (``{window: 2}``: windows 0 and 1 train the head only)."""

    def __post_init__(self) -> None:
        set_fields = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        if len(set_fields) != 1:
            raise ConfigError(
                "unfreeze_at needs exactly one of step, epoch, window (e.g. unfreeze_at: "
                f"{{window: 2}}); got {set_fields or 'none'}"
            )
        value = getattr(self, set_fields[0])
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"unfreeze_at.{set_fields[0]} must be an integer >= 0, got {value!r}")

    @property
    def unit(self) -> str:
        return next(f.name for f in fields(self) if getattr(self, f.name) is not None)

    @property
    def value(self) -> int:
        return int(getattr(self, self.unit))


@dataclass
class LoraSettings:
    """LoRA adapters (``freezing: lora``): the backbone stays frozen, low-rank updates of the
    named projections train (via ``peft``), and are merged into the weights for ``predict``."""

    rank: int = 8
    """Rank r of each update ``B @ A``."""
    alpha: float = 16.0
    """Scale: the update is multiplied by ``alpha / rank``."""
    dropout: float = 0.0
    """Dropout on the adapter's input."""
    targets: list[str] | None = None
    """Module names (suffixes) to adapt, e.g. ``[qkv, proj, fc1, fc2]``. None: the attention and
    MLP projections of the backbone's library (timm ``qkv, proj, fc1, fc2``; open_clip
    ``attn, c_fc, c_proj, out_proj``; transformers ``query, key, value, dense`` or ``q_proj,
    k_proj, v_proj, out_proj, fc1, fc2``)."""

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"model.lora.rank must be a whole number >= 1, got {self.rank!r}")
        if self.alpha <= 0:
            raise ConfigError(f"model.lora.alpha must be positive, got {self.alpha!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.lora.dropout must be in [0, 1), got {self.dropout!r}")
        if self.targets is not None and not self.targets:
            raise ConfigError("model.lora.targets is empty; name modules or leave it null")


@dataclass
class ModelConfig:
    """The detector and how it is trained (the ``model`` section of a config)."""

    backbone: str
    """A short name (``clip_rn50``, ``clip_vitl14``, ``dinov2_vitl14``, ...) or a spec
    ``timm:<model>[.<tag>]``, ``torchvision:<model>[/<WEIGHTS>]``,
    ``open_clip:<arch>/<tag>``, ``hf:<repo or folder>``, or a registered family."""
    backbone_args: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the backbone factory (e.g. ``{drop_path_rate: 0.1}`` for timm)."""
    pretrained: bool | str = True
    """True: the library's weights (its cache; offline works when the files are there).
    False: random weights. A path: a ``.safetensors``/``.pt``/``.pth`` weights file, or a
    training run's ``.ckpt`` whose encoder is reused."""
    method: str = "default"
    """The detection method: ``default`` (backbone + linear head, BCE / cross-entropy), a zoo
    method (``univfd``, ``cnndetection``, ``npr``, ``rine``, ``effort``), one registered with
    ``aigenbench.methods.register_method`` or a class by import path
    (``my_package.my_method.MyMethod``; see docs/METHODS.md)."""
    method_args: dict[str, Any] = field(default_factory=dict)
    """The method's own options (its ``Options`` dataclass), e.g. ``{contrastive_weight: 0.2}``."""
    freezing: Freezing = "tune"
    """``probe``: backbone frozen, only the head trains. ``tune``: everything trains.
    ``staged``: frozen until ``unfreeze_at``, then everything trains. ``lora``: backbone frozen,
    LoRA adapters on its projections train (``lora`` settings)."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """``freezing: lora`` only: rank, alpha, dropout, target modules."""
    unfreeze_at: UnfreezeAt | None = None
    """``staged`` only: ``{window: k}``, ``{step: n}`` or ``{epoch: e}``."""
    backbone_lr_scale: float = 1.0
    """The backbone's learning rate as a fraction of the head's (``tune`` and ``staged``)."""
    task: Task = "binary"
    """``binary`` (one logit, BCE) or ``multiclass`` (one class per generator plus real,
    cross-entropy; the fake score is 1 - P(real))."""
    input_size: int = 224
    """The side of the square images the model sees."""
    train_crop: TrainCrop = "resize"
    """How training images reach ``input_size``: resize, random_crop, center_crop, as_is."""
    eval_crop: EvalCrop = "resize"
    """How evaluation images reach ``input_size``: resize, crop, multicrop (5 crops), as_is."""
    fusion: str = "mean"
    """How the crop scores of one image are fused: a registered name (mean, max, median) or
    the import path of a function ``scores[n_crops] -> score``."""
    optimizer: OptimizerSpec = field(default_factory=_default_optimizer)  # type: ignore[assignment]
    """``class_path`` (e.g. torch.optim.AdamW) and ``init_args`` (``lr`` is the head's learning
    rate). Default: SGD lr 1e-3, momentum 0.9, weight decay 1e-4 (the protocol's). Stored as
    an :class:`OptimizerConfig`."""
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    """Default: OneCycleLR over the window's steps (the protocol's)."""
    classification_threshold: float = 0.5
    """Score above which an image is called fake."""
    head_dropout: float = 0.0
    """Dropout before the linear head."""
    mean: tuple[float, float, float] | None = None
    """Normalisation mean override (None: the backbone's; the baselines' short names use
    CLIP's)."""
    std: tuple[float, float, float] | None = None
    """Normalisation std override (None: the backbone's)."""
    channels_last: bool = False
    """Run the backbone in channels-last memory format (faster convolutions on recent GPUs)."""
    compile: bool = False
    """``torch.compile`` the backbone (GPUs; the first steps are slower while it compiles)."""

    @property
    def optimizer_settings(self) -> OptimizerConfig:
        """The optimiser as an :class:`OptimizerConfig` (``optimizer`` is declared as the
        callable jsonargparse parses ``class_path``/``init_args`` into; built, it holds one)."""
        return optimizer_config(self.optimizer)

    def __post_init__(self) -> None:
        self.optimizer = optimizer_config(self.optimizer)  # type: ignore[assignment]
        if isinstance(self.scheduler, dict):
            self.scheduler = SchedulerConfig(**self.scheduler)
        if isinstance(self.unfreeze_at, dict):
            self.unfreeze_at = UnfreezeAt(**self.unfreeze_at)
        if isinstance(self.lora, Mapping):
            self.lora = LoraSettings(**self.lora)
        self.method_args = dict(self.method_args or {})
        self.validate()

    def validate(self) -> None:
        """A ConfigError naming the field and the fix for any impossible combination."""
        _one_of("freezing", self.freezing, FREEZINGS)
        if not self.method or not str(self.method).strip():
            raise ConfigError("model.method is empty; use default or name a method")
        _one_of("task", self.task, ("binary", "multiclass"))
        _one_of("train_crop", self.train_crop, TRAIN_CROPS)
        _one_of("eval_crop", self.eval_crop, EVAL_CROPS)
        _one_of("scheduler.name", self.scheduler.name, ("onecycle", "cosine", "constant"))
        if self.freezing == "staged" and self.unfreeze_at is None:
            raise ConfigError(
                "freezing: staged needs unfreeze_at, e.g. unfreeze_at: {window: 2}, "
                "{step: 500} or {epoch: 1}"
            )
        if self.freezing != "staged" and self.unfreeze_at is not None:
            raise ConfigError(
                f"unfreeze_at is only used with freezing: staged (freezing is {self.freezing!r})"
            )
        if not self.backbone or not str(self.backbone).strip():
            raise ConfigError("model.backbone is empty; name a backbone, e.g. dinov2_vitl14")
        if self.backbone_lr_scale < 0:
            raise ConfigError(f"backbone_lr_scale must be >= 0, got {self.backbone_lr_scale}")
        if self.input_size <= 0:
            raise ConfigError(f"input_size must be positive, got {self.input_size}")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ConfigError(f"head_dropout must be in [0, 1), got {self.head_dropout}")
        warmup = self.scheduler.warmup_fraction
        if warmup is not None and not 0.0 <= warmup < 1.0:
            raise ConfigError(f"scheduler.warmup_fraction must be in [0, 1), got {warmup}")
        if "lr" not in self.optimizer.init_args:  # type: ignore[attr-defined]
            raise ConfigError(
                f"optimizer.init_args needs lr (the head's learning rate); got "
                f"{sorted(self.optimizer.init_args)}"  # type: ignore[attr-defined]
            )
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                if len(value) != 3:
                    raise ConfigError(f"model.{name} needs 3 values (R, G, B), got {value}")
                setattr(self, name, tuple(float(v) for v in value))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints: readable with ``weights_only=True``)."""
        data = asdict(self)
        for name in ("mean", "std"):
            if data[name] is not None:
                data[name] = list(data[name])
        return copy.deepcopy(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**copy.deepcopy(data))


def optimizer_config(value: object) -> OptimizerConfig:
    """An OptimizerConfig from a mapping ``{class_path, init_args}``, a jsonargparse namespace
    or the callable jsonargparse instantiates for ``class_path`` + ``init_args``."""
    if isinstance(value, OptimizerConfig):
        return OptimizerConfig(value.class_path, dict(value.init_args))
    if hasattr(value, "class_path") and not isinstance(value, Mapping):  # a jsonargparse Namespace
        init_args = getattr(value, "init_args", None)
        value = {
            "class_path": value.class_path,
            "init_args": vars(init_args) if init_args is not None else {},
        }
    if isinstance(value, Mapping):
        unknown = set(value) - {"class_path", "init_args"}
        if unknown or "class_path" not in value:
            raise ConfigError(
                "model.optimizer needs class_path (and init_args), e.g. {class_path: "
                f"torch.optim.AdamW, init_args: {{lr: 0.0001}}}}; got keys {sorted(value)}"
            )
        init_args = value.get("init_args") or {}
        init_args = vars(init_args) if hasattr(init_args, "__dict__") else dict(init_args)
        return OptimizerConfig(str(value["class_path"]), dict(init_args))
    if isinstance(value, functools.partial):
        # jsonargparse's instantiated class_path/init_args: partial(..., <class>, **init_args)
        classes = [a for a in value.args if inspect.isclass(a) and issubclass(a, Optimizer)]
        if classes:
            cls = classes[-1]
            return OptimizerConfig(f"{cls.__module__}.{cls.__qualname__}", dict(value.keywords))
    if inspect.isclass(value) and issubclass(value, Optimizer):
        return OptimizerConfig(f"{value.__module__}.{value.__qualname__}", {})
    raise ConfigError(
        f"model.optimizer must be {{class_path, init_args}}; got {type(value).__name__} {value!r}"
    )


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"model.{name} is {value!r}; choose one of {', '.join(allowed)}")
