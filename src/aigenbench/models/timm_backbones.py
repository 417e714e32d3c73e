"""The ``timm:<model>[.<tag>]`` backbone family."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import IMAGENET_MEAN, IMAGENET_STD, Backbone, StateDict
from aigenbench.models.pretrained import (
    backbone_state_from,
    fetch_hub_file,
    load_matching_state_dict,
    read_weights_file,
    torch_hub_file,
)

HUB_FILENAMES = ("model.safetensors", "pytorch_model.bin")


def make_timm_backbone(
    name: str, pretrained: bool, input_size: int | None = None, **options: Any
) -> Backbone:
    """Any timm model (``timm:<model>[.<pretrained tag>]``), pooled features (``num_classes=0``).

    ``options`` go to ``timm.create_model`` (e.g. ``num_classes: 768`` keeps a CLIP model's
    projection, ``drop_path_rate``). Models with a fixed input size (ViTs) are built for the
    configured ``input_size``; timm resamples their position embeddings when loading weights.
    """
    import timm

    check_timm_name(name)
    options.setdefault("num_classes", 0)
    cfg = timm.models.get_pretrained_cfg(name)  # a bare name gets its default tag's
    default_size = int(cfg.input_size[-1]) if cfg is not None else 224
    if (
        input_size is not None
        and cfg is not None
        and cfg.fixed_input_size
        and int(input_size) != default_size
        and "img_size" not in options
    ):
        options["img_size"] = int(input_size)

    model = timm.create_model(name, pretrained=False, **options)
    model_cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    backbone = Backbone(
        module=model,
        feature_dim=_output_dim(model),
        mean=tuple(model_cfg.get("mean", IMAGENET_MEAN)),  # type: ignore[arg-type]
        std=tuple(model_cfg.get("std", IMAGENET_STD)),  # type: ignore[arg-type]
        input_size=int(input_size) if input_size is not None else default_size,
        adapt_state_dict=lambda state: adapt_timm_state(model, state),
    )
    if pretrained:
        state = backbone_state_from(read_weights_file(library_weights_file(name, model_cfg)), name)
        load_matching_state_dict(
            model, adapt_timm_state(model, state), source=f"timm weights of {name}"
        )
    return backbone


def check_timm_name(name: str) -> None:
    """A ConfigError listing close names for an unknown timm model or pretrained tag."""
    import timm

    arch, _, tag = name.partition(".")
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=5, cutoff=0.6)
        close += [m for m in timm.list_models(f"*{arch}*")[:5] if m not in close]
        raise ConfigError(
            f"unknown timm model {arch!r}"
            + (f"; did you mean: {', '.join(f'timm:{m}' for m in close[:8])}?" if close else "")
            + " (timm.list_models() lists them all)"
        )
    if tag:
        tags = timm.list_pretrained(f"{arch}.*")
        if name not in tags:
            raise ConfigError(
                f"timm model {arch!r} has no pretrained tag {tag!r}; available: "
                + (", ".join(f"timm:{t}" for t in tags) or "none (use the bare model name)")
            )


def library_weights_file(name: str, cfg: Mapping[str, Any]) -> Any:
    """The pretrained weights file of a timm model: the HF hub cache or torch's, else download."""
    what = f"timm:{name}"
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        filenames = [cfg["hf_hub_filename"]] if cfg.get("hf_hub_filename") else list(HUB_FILENAMES)
        return fetch_hub_file(hub_id, filenames, what)
    if cfg.get("url"):
        return torch_hub_file(cfg["url"], what)
    if cfg.get("file"):
        return cfg["file"]
    raise ConfigError(
        f"timm model {name!r} has no pretrained weights; pick a tag (timm.list_pretrained"
        f"('{name.partition('.')[0]}.*')), use pretrained: false, or give a weights file"
    )


def adapt_timm_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> StateDict:
    """Convert a checkpoint to the model's keys as timm's own loader does.

    Applies the model module's ``checkpoint_filter_fn`` (original OpenAI/DINOv2 layouts,
    position-embedding resampling) and drops a classifier the model does not have.
    """
    state = dict(state)
    module = sys.modules.get(type(model).__module__)
    filter_fn = getattr(module, "checkpoint_filter_fn", None)
    if callable(filter_fn):
        state = dict(filter_fn(state, model))
    own = model.state_dict()
    cfg = getattr(model, "pretrained_cfg", None) or {}
    classifiers = cfg.get("classifier") or ()
    for head in [classifiers] if isinstance(classifiers, str) else classifiers:
        for suffix in (".weight", ".bias"):
            key = head + suffix
            if key in state and (key not in own or own[key].shape != state[key].shape):
                state.pop(key)
    return state


def _output_dim(model: nn.Module) -> int:
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if num_classes > 0:
        return num_classes
    for attribute in ("head_hidden_size", "num_features"):
        value = getattr(model, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ConfigError(f"cannot tell the feature size of timm model {type(model).__name__}")
