"""Detectors from a model config, and back from a training checkpoint."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import Backbone
from aigenbench.models.config import ModelConfig
from aigenbench.models.detector import Detector
from aigenbench.models.method_registry import resolve_method
from aigenbench.models.registry import build_backbone

if TYPE_CHECKING:
    from aigenbench.training.module import DetectorModule

CHECKPOINT_KEY = "aigenbench"
"""Key of the plain-data record DetectorModule adds to its Lightning checkpoints."""
CHECKPOINT_FORMAT = 1


def num_outputs(config: ModelConfig, generator_names: Sequence[str]) -> int:
    """1 for binary; one class per generator id (id 0 = real) for multiclass."""
    if config.task == "binary":
        return 1
    if len(generator_names) < 2:
        raise ConfigError(
            "task: multiclass needs the benchmark's generator names (id 0 real plus at least "
            f"one generator); got {list(generator_names)}"
        )
    return len(generator_names)


def build_detector(
    config: ModelConfig,
    generator_names: Sequence[str] = ("",),
    *,
    pretrained: bool | str | None = None,
    method: type[DetectorModule] | None = None,
) -> Detector:
    """The detector a model config describes (weights per ``config.pretrained`` unless given).

    The network comes from the config's method (``model.method``, or the Method class given as
    ``method``); ``freezing: lora`` then adds LoRA adapters to its backbone.
    """
    if method is None:
        method = resolve_method(config.method)
    detector: Detector = method.build_detector(config, generator_names, pretrained=pretrained)
    if config.freezing == "lora":
        from aigenbench.models.lora import LORA_MARKER, inject_lora

        inject_lora(detector.backbone, config.lora)
        detector.trainable_marker = LORA_MARKER
    return detector


def configured_backbone(config: ModelConfig, pretrained: bool | str | None = None) -> Backbone:
    """``model.backbone`` with its options and input size; weights per ``model.pretrained``
    unless ``pretrained`` overrides it (a checkpoint's weights follow, for instance)."""
    return build_backbone(
        config.backbone,
        pretrained=config.pretrained if pretrained is None else pretrained,
        input_size=config.input_size,
        **config.backbone_args,
    )


def build_default_detector(
    config: ModelConfig,
    generator_names: Sequence[str] = ("",),
    *,
    pretrained: bool | str | None = None,
    detector_class: type[Detector] = Detector,
) -> Detector:
    """The default method's network: the configured backbone and a linear head (built as
    ``detector_class``, a Detector subclass taking the same arguments)."""
    return detector_class(
        configured_backbone(config, pretrained),
        num_outputs(config, generator_names),
        head_dropout=config.head_dropout,
        mean=config.mean,
        std=config.std,
    )


@dataclass
class LoadedDetector:
    """A detector rebuilt from a checkpoint, with what it was trained for."""

    detector: Detector
    config: ModelConfig
    generator_names: list[str]
    """Generator id -> name (id 0 real); multiclass logits follow this order."""
    window: int
    known_generator_ids: list[int] | None
    """Multiclass: the classes trained so far (None: all)."""
    checkpoint: Path


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A Lightning checkpoint of DetectorModule, read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist")
    content = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(content, Mapping) or "state_dict" not in content:
        raise ConfigError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return dict(content)


def checkpoint_record(content: Mapping[str, Any], path: Path) -> dict[str, Any]:
    record = content.get(CHECKPOINT_KEY)
    if not isinstance(record, Mapping):
        hparams = content.get("hyper_parameters")
        if isinstance(hparams, Mapping) and "config" in hparams:
            record = {"model_config": hparams["config"], **hparams}
    if not isinstance(record, Mapping) or "model_config" not in record:
        raise ConfigError(
            f"{path} was not written by aigenbench's DetectorModule (no model config in it); "
            "to reuse only its encoder, name it as the pretrained weights of a model config"
        )
    return dict(record)


def load_detector(
    path: str | os.PathLike[str],
    *,
    map_location: str | torch.device = "cpu",
    merge_adapters: bool = False,
) -> LoadedDetector:
    """Rebuild the Detector (eval mode) of a DetectorModule checkpoint, without any download.

    The architecture comes from the model config stored in the checkpoint (its method built
    with random weights), then every detector tensor is loaded from the checkpoint.
    ``merge_adapters`` folds LoRA adapters into the weights (inference: a plain backbone).
    """
    path = Path(path)
    content = read_checkpoint(path)
    record = checkpoint_record(content, path)
    config = ModelConfig.from_dict(dict(record["model_config"]))
    generator_names = [str(n) for n in record.get("generator_names", [""])]
    detector = build_detector(replace(config, pretrained=False), generator_names, pretrained=False)
    prefix = "detector."
    state = {k[len(prefix) :]: v for k, v in content["state_dict"].items() if k.startswith(prefix)}
    missing, unexpected = detector.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"{path} does not match the detector its config describes ({config.backbone}): "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}; was it written by another "
            "version of the backbone library?"
        )
    detector.to(map_location)
    if record.get("backbone_frozen", False):
        detector.freeze_backbone()
    elif detector.trainable_marker is not None:
        detector.unfreeze_backbone()  # only the adapters trainable, as in training
    if merge_adapters:
        detector.merge_adapters()
    detector.eval()
    known = record.get("known_generator_ids")
    return LoadedDetector(
        detector=detector,
        config=config,
        generator_names=generator_names,
        window=int(record.get("window", 0)),
        known_generator_ids=None if known is None else [int(i) for i in known],
        checkpoint=path,
    )
