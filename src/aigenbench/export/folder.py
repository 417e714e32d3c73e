"""The exported detector folder: its files, the ``config.json`` format, reading it back.

```
DIR/model.safetensors   the detector's tensors (LoRA merged), no pickle
DIR/config.json         format + version, the model config, the evaluation transform spelled
                        out, class names, thresholds (and the window they come from), results
DIR/README.md           the model card (YAML metadata + the protocol's results)
DIR/model.onnx          with --onnx: the network (normalised crops -> logits)
```
Everything read back is checked first: a missing or malformed file, another format version or a
pickle is an error naming the file and the fix. The transform in ``config.json`` is the one
applied: the pixels and the normalisation come from it, not from the weights file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aigenbench.errors import ConfigError
from aigenbench.models.config import ModelConfig

if TYPE_CHECKING:
    from aigenbench.data.pipelines import EvalPipeline
    from aigenbench.training.module import DetectorModule

FORMAT = "aigenbench-detector"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
ONNX_FILE = "model.onnx"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Files an export folder never holds: PyTorch pickles can run code when loaded."""
THRESHOLD_NAMES = ("0.5", "best_f1", "fpr_1", "fpr_5")
REEXPORT = "export it again with `aigenbench export RUN -o DIR`"


def is_export_folder(path: str | os.PathLike[str]) -> bool:
    """A folder with a ``config.json`` (checked when read): an export, not a run."""
    path = Path(path)
    return path.is_dir() and (path / CONFIG_FILE).is_file()


def _pickle_kind(head: bytes) -> str | None:
    """What a file that is not safetensors looks like (a safetensors file has its JSON header
    at byte 8, after the header's length, whose first byte may be anything)."""
    if head[8:9] == b"{":
        return None
    if head.startswith(b"\x80"):
        return "a pickle"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (PyTorch's torch.save format, which holds a pickle)"
    return None


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of an export folder, checked (format, version, required keys)."""
    path = folder / CONFIG_FILE
    if not folder.exists():
        raise ConfigError(f"{folder} does not exist; give an exported folder ({REEXPORT})")
    if not path.is_file():
        raise ConfigError(f"{path} is missing: {folder} is not an exported detector; {REEXPORT}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON ({error}); {REEXPORT}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ConfigError(
            f"{path} is not an aigenbench detector config (its 'format' is not {FORMAT!r}); "
            f"{REEXPORT}"
        )
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"{path} has format_version {version!r}; this aigenbench reads version "
            f"{FORMAT_VERSION}: upgrade aigenbench, or {REEXPORT}"
        )
    for key in ("model", "transform", "generator_names", "thresholds", "threshold"):
        if key not in config:
            raise ConfigError(f"{path} lacks the key {key!r}; {REEXPORT}")
    return config


def check_no_pickles(folder: Path) -> None:
    for child in sorted(folder.iterdir()):
        if child.suffix.lower() in PICKLE_SUFFIXES:
            raise ConfigError(
                f"{child} is a PyTorch pickle, which aigenbench never loads from an exported "
                f"folder (a pickle can run code); remove it, or {REEXPORT}"
            )


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``model.safetensors`` (refusing a pickle under that name)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing: the detector's weights; {REEXPORT}")
    data = path.read_bytes()
    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError) as error:
        kind = _pickle_kind(data[:9])  # only to say what it is: it is never unpickled
        if kind is not None:
            raise ConfigError(
                f"{path} is {kind}, not a safetensors file; aigenbench never unpickles an "
                f"exported folder's weights: {REEXPORT}"
            ) from None
        raise ConfigError(
            f"{path} is not a readable safetensors file ({error}); was it truncated? {REEXPORT}"
        ) from None


def _transform_value(config: Mapping[str, Any], key: str, path: Path) -> Any:
    transform = config["transform"]
    if not isinstance(transform, Mapping) or key not in transform:
        raise ConfigError(f"{path}: transform lacks {key!r}; {REEXPORT}")
    return transform[key]


def eval_pipeline(
    config: Mapping[str, Any], module: DetectorModule, folder: Path | None = None
) -> EvalPipeline:
    """``predict``'s pixels, as ``config.json``'s transform spells them out (the method's own
    evaluation hooks, if any, come from its code)."""
    from aigenbench.data.pipelines import EvalPipeline

    where = (folder or Path(".")) / CONFIG_FILE
    augmentation = module.eval_augmentation()
    try:
        return EvalPipeline(
            input_size=int(_transform_value(config, "input_size", where)),
            crop=_transform_value(config, "crop", where),
            maximum_processing_size=_transform_value(config, "crop_if_larger_than", where),
            degradations=False,
            before_crops=augmentation.before_crops if augmentation else None,
            per_crop=augmentation.per_crop if augmentation else None,
            crops=augmentation.crops if augmentation else None,
        )
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}; {REEXPORT}") from None


@dataclass
class ExportedModel:
    """A detector rebuilt from an export folder (or a run, through the same description)."""

    module: DetectorModule
    """The method's LightningModule around the detector (eval mode): predict's scoring."""
    model_config: ModelConfig
    """The model config; its classification_threshold is the export's default threshold."""
    config: dict[str, Any]
    """The export's config.json (or, for a run, the one an export would write)."""
    pipeline: EvalPipeline
    generator_names: list[str]
    source: Path
    """The file the weights come from."""


def set_normalisation(module: DetectorModule, config: Mapping[str, Any], where: Path) -> None:
    """The detector's mean/std (0..255 scale) from the transform, exactly as written."""
    normalise = _transform_value(config, "normalize", where)
    detector = module.detector
    for name in ("mean", "std"):
        values = normalise.get(name) if isinstance(normalise, Mapping) else None
        if not isinstance(values, list) or len(values) != 3:
            raise ConfigError(f"{where}: transform.normalize.{name} must be 3 numbers; {REEXPORT}")
        buffer = getattr(detector, name)
        buffer.copy_(torch.tensor(values, dtype=torch.float32).view_as(buffer))


def build_module(
    model_config: ModelConfig,
    generator_names: list[str],
    window: int,
    known_generator_ids: list[int] | None,
    state: Mapping[str, torch.Tensor] | None,
    where: Path,
) -> DetectorModule:
    """The method's module around a detector built from ``model_config`` (random weights, no
    download), ``state`` loaded strictly; LoRA is already merged in an export's tensors."""
    from aigenbench.models.build import build_detector
    from aigenbench.models.method_registry import resolve_method

    plain = replace(
        model_config,
        pretrained=False,
        freezing="tune" if model_config.freezing == "lora" else model_config.freezing,
    )
    detector = build_detector(plain, generator_names, pretrained=False)
    if state is not None:
        missing, unexpected = detector.load_state_dict(dict(state), strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"{where} does not match the detector its config describes "
                f"({model_config.backbone}): missing {missing[:3]}, unexpected {unexpected[:3]}; "
                f"{REEXPORT}"
            )
    module = resolve_method(plain.method)(
        plain,
        generator_names,
        window=window,
        known_generator_ids=known_generator_ids,
        detector=detector,
    )
    module.eval()
    return module


def read_export(
    folder: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> ExportedModel:
    """The detector of an export folder, every file checked before it is used."""
    folder = Path(folder)
    config = read_config(folder)
    check_no_pickles(folder)
    where = folder / CONFIG_FILE
    try:
        model_config = ModelConfig.from_dict(dict(config["model"]))
    except (ConfigError, TypeError, ValueError) as error:
        raise ConfigError(
            f"{where}: its model section is not usable ({error}); {REEXPORT}"
        ) from None
    generator_names = [str(name) for name in config["generator_names"]]
    known = config.get("known_generator_ids")
    state = read_weights(folder)
    module = build_module(
        model_config,
        generator_names,
        int(config.get("window", 0)),
        None if known is None else [int(i) for i in known],
        state,
        folder / WEIGHTS_FILE,
    )
    set_normalisation(module, config, where)
    module.to(device)
    threshold = default_threshold(config, where)
    return ExportedModel(
        module=module,
        model_config=replace(model_config, classification_threshold=threshold),
        config=config,
        pipeline=eval_pipeline(config, module, folder),
        generator_names=generator_names,
        source=folder / WEIGHTS_FILE,
    )


def default_threshold(config: Mapping[str, Any], where: Path) -> float:
    thresholds = config["thresholds"]
    name = config["threshold"].get("default") if isinstance(config["threshold"], Mapping) else None
    if not isinstance(thresholds, Mapping) or name not in thresholds:
        raise ConfigError(
            f"{where}: threshold.default {name!r} is not one of its thresholds "
            f"{sorted(thresholds) if isinstance(thresholds, Mapping) else thresholds}; {REEXPORT}"
        )
    return float(thresholds[name])
