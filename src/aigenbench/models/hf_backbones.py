"""The ``hf:<repo or folder>`` backbone family: transformers models (extra ``aigenbench[hf]``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import IMAGENET_MEAN, IMAGENET_STD, Backbone, StateDict
from aigenbench.models.pretrained import hub_cache_dir

logger = logging.getLogger(__name__)

Pooling = Literal["auto", "image_features", "pooler", "cls", "mean"]


class HFImageEncoder(nn.Module):
    """A transformers model as ``[B, 3, H, W] -> [B, D]``.

    ``pooling``: ``image_features`` (``get_image_features``: CLIP/SigLIP embeddings),
    ``pooler`` (``pooler_output``), ``cls`` (first token of ``last_hidden_state``), ``mean``
    (mean over tokens or spatial positions); ``auto`` picks the first that the model has, in
    that order.
    """

    def __init__(self, model: nn.Module, pooling: Pooling = "auto") -> None:
        super().__init__()
        self.model: Any = model  # a transformers model (untyped library)
        if pooling == "auto":
            pooling = "image_features" if hasattr(model, "get_image_features") else "pooler"
        self.pooling = pooling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pooling == "image_features":
            out = self.model.get_image_features(pixel_values=x)
            return (
                out
                if isinstance(out, torch.Tensor)
                else _first_tensor(out, "pooler_output", "image_embeds")
            )
        out = self.model(pixel_values=x)
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if isinstance(pooled, torch.Tensor):
                return pooled.flatten(1)
        hidden = out.last_hidden_state
        if self.pooling == "mean" or hidden.ndim == 4:
            return hidden.mean(dim=1) if hidden.ndim == 3 else hidden.mean(dim=(2, 3))
        return hidden[:, 0]


def _first_tensor(out: Any, *names: str) -> torch.Tensor:
    for name in names:
        value = getattr(out, name, None)
        if isinstance(value, torch.Tensor):
            return value
    raise ConfigError(
        f"the model's get_image_features returned {type(out).__name__} without {names}"
    )


def import_transformers() -> Any:
    try:
        import transformers
    except ImportError as error:
        raise ConfigError("hf backbones need the hf extra: pip install 'aigenbench[hf]'") from error
    return transformers


def make_hf_backbone(
    name: str,
    pretrained: bool,
    input_size: int | None = None,
    pooling: Pooling = "auto",
    **options: Any,
) -> Backbone:
    """A transformers vision model (``hf:facebook/dinov2-large``, or a ``save_pretrained`` folder).

    ``options`` go to ``AutoModel.from_pretrained`` / ``AutoConfig.from_pretrained``.
    """
    transformers = import_transformers()
    if not name:
        raise ConfigError("hf backbones need a repository or folder: hf:<org>/<model> or hf:/path")
    try:
        if pretrained:
            model = transformers.AutoModel.from_pretrained(name, **options)
        else:
            config = transformers.AutoConfig.from_pretrained(name, **options)
            model = transformers.AutoModel.from_config(config)
    except OSError as error:
        raise ConfigError(
            f"cannot load hf:{name} ({error}). A hub repository must be in the hub cache "
            f"{hub_cache_dir()} (HF_HUB_CACHE) when offline; or give a local folder written by "
            "save_pretrained (hf:/path/to/folder), or a weights file (pretrained: /path/to/"
            "model.safetensors)."
        ) from error
    config = model.config
    vision = getattr(config, "vision_config", None) or config
    size = getattr(vision, "image_size", None)
    size = int(size if isinstance(size, int) else (size or [224])[-1])
    if input_size is not None:
        size = int(input_size)
    encoder = HFImageEncoder(model, pooling=pooling)
    mean, std = _normalisation(transformers, name)
    return Backbone(
        module=encoder,
        feature_dim=_probe_dim(encoder, size),
        mean=mean,
        std=std,
        input_size=size,
        adapt_state_dict=lambda state: adapt_hf_state(encoder, state),
    )


def _probe_dim(encoder: nn.Module, size: int) -> int:
    """The feature size, from one forward pass of a blank image (models differ too much)."""
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        features = encoder(torch.zeros(1, 3, size, size))
    encoder.train(was_training)
    if features.ndim != 2:
        raise ConfigError(
            f"the hf model gives features of shape {tuple(features.shape)}; choose a pooling "
            "(backbone_args: {pooling: cls|mean|pooler|image_features})"
        )
    return int(features.shape[1])


def _normalisation(
    transformers: Any, name: str
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The repository's image mean/std (its preprocessor config), else ImageNet's."""
    try:
        path = transformers.utils.cached_file(
            name, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False
        )
    except OSError:
        path = None
    if path:
        with open(path, encoding="utf-8") as handle:
            cfg = json.load(handle)
        if "image_mean" in cfg and "image_std" in cfg:
            mean, std = (tuple(float(v) for v in cfg[key]) for key in ("image_mean", "image_std"))
            if len(mean) == 3 and len(std) == 3:
                return (mean[0], mean[1], mean[2]), (std[0], std[1], std[2])
    logger.info("hf:%s has no preprocessor config with image_mean/std: using ImageNet's", name)
    return IMAGENET_MEAN, IMAGENET_STD


def adapt_hf_state(encoder: nn.Module, state: Mapping[str, torch.Tensor]) -> StateDict:
    """A transformers ``model.safetensors`` (the model's own keys) -> the encoder's (``model.*``).

    Keeps the file's keys when they already are the encoder's (a file saved from it).
    """
    own = set(encoder.state_dict())
    as_is = dict(state)
    prefixed = {f"model.{k}": v for k, v in state.items()}
    return prefixed if len(own & set(prefixed)) > len(own & set(as_is)) else as_is
