"""The ``torchvision:<model>[/<WEIGHTS>]`` backbone family."""

from __future__ import annotations

import difflib
from typing import Any

from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import IMAGENET_MEAN, IMAGENET_STD, Backbone
from aigenbench.models.pretrained import (
    backbone_state_from,
    load_matching_state_dict,
    read_weights_file,
    torch_hub_file,
)


def make_torchvision_backbone(
    name: str, pretrained: bool, input_size: int | None = None, **options: Any
) -> Backbone:
    """A torchvision classifier without its last linear layer (``torchvision:resnet50``).

    ``torchvision:<model>/<WEIGHTS>`` picks a weights enum member (default ``DEFAULT``);
    ``options`` go to ``torchvision.models.get_model``.
    """
    import torchvision

    arch, _, weights_name = name.partition("/")
    known = torchvision.models.list_models()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=5, cutoff=0.6)
        raise ConfigError(
            f"unknown torchvision model {arch!r}"
            + (f"; did you mean: {', '.join(f'torchvision:{m}' for m in close)}?" if close else "")
            + " (torchvision.models.list_models() lists them all)"
        )
    weights = _weights(arch, weights_name) if pretrained or weights_name else None
    model = torchvision.models.get_model(arch, weights=None, **options)
    if pretrained:
        assert weights is not None
        path = torch_hub_file(weights.url, f"torchvision:{arch}/{weights.name}")
        state = backbone_state_from(read_weights_file(path), str(path))
        load_matching_state_dict(model, state, source=f"torchvision weights {weights}")
    feature_dim = _drop_last_linear(model, arch)
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if weights is not None:
        transform = weights.transforms()
        mean, std = tuple(transform.mean), tuple(transform.std)
    return Backbone(
        module=model,
        feature_dim=feature_dim,
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        input_size=int(input_size) if input_size is not None else 224,
    )


def _weights(arch: str, weights_name: str) -> Any:
    import torchvision

    enum = torchvision.models.get_model_weights(arch)
    members = [m.name for m in enum]
    if not members:
        raise ConfigError(
            f"torchvision model {arch!r} has no pretrained weights; use pretrained: false"
        )
    key = weights_name or "DEFAULT"
    try:
        return enum[key]
    except KeyError:
        raise ConfigError(
            f"torchvision model {arch!r} has no weights {key!r}; available: "
            + ", ".join(f"torchvision:{arch}/{m}" for m in members)
        ) from None


def _drop_last_linear(model: nn.Module, arch: str) -> int:
    """Replace the model's last ``nn.Linear`` (its classifier) with ``Identity``; its input size."""
    last = None
    for path, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = path, module
    if last is None:
        raise ConfigError(
            f"torchvision model {arch!r} has no linear classifier to remove; register a custom "
            "factory for it (aigenbench.models.register_backbone)"
        )
    path, linear = last
    parent_path, _, attribute = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attribute, nn.Identity())
    return int(linear.in_features)
