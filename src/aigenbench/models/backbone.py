"""What a backbone factory returns: a feature extractor and the facts the detector needs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
"""OpenAI CLIP's normalisation mean; the protocol's baselines use it for every backbone."""
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

StateDict = dict[str, torch.Tensor]


@dataclass
class Backbone:
    """A feature extractor: ``module(x)`` maps normalised float ``[B, 3, H, W]`` to ``[B, D]``.

    ``adapt_state_dict`` turns a weights file written by the backbone's library (timm, an
    open_clip checkpoint, ...) into this module's keys before loading; it defaults to the
    identity. ``name`` is filled in by the registry with the spec the backbone was built from.
    """

    module: nn.Module
    feature_dim: int
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    input_size: int = 224
    adapt_state_dict: Callable[[Mapping[str, torch.Tensor]], StateDict] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.module, nn.Module):
            raise TypeError(
                f"Backbone.module must be a torch.nn.Module, got {type(self.module).__name__}"
            )
        if int(self.feature_dim) <= 0:
            raise ValueError(f"Backbone.feature_dim must be positive, got {self.feature_dim}")
        self.feature_dim = int(self.feature_dim)
        self.mean = _triple(self.mean, "mean")
        self.std = _triple(self.std, "std")


def _triple(values: Iterable[Any], what: str) -> tuple[float, float, float]:
    items = tuple(float(v) for v in values)
    if len(items) != 3:
        raise ValueError(f"Backbone.{what} needs one value per RGB channel, got {items}")
    return items  # type: ignore[return-value]
