"""``small:<name>``: compact CNNs trained from scratch, for CPU demos, tests and quick studies.

They have no pretrained weights. ``small:cnn`` keeps full resolution in its first block so that
pixel-level traces (the usual evidence of generation) reach the deeper layers, then halves the
resolution three times and pools globally.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import CLIP_MEAN, CLIP_STD, Backbone

SMALL_MODELS = ("cnn",)


def _block(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def make_small_backbone(
    name: str, pretrained: bool, input_size: int | None = None, width: int = 16, **options: Any
) -> Backbone:
    """``small:cnn`` (options: ``width``, the channels of the first block, doubled twice)."""
    if name not in SMALL_MODELS:
        available = ", ".join(f"small:{model}" for model in SMALL_MODELS)
        raise ConfigError(f"unknown small backbone {name!r}; available: {available}")
    if pretrained:
        raise ConfigError(
            f"small:{name} has no pretrained weights: set model.pretrained: false (or a path)"
        )
    if options:
        raise ConfigError(f"small:{name} takes only the option 'width', got {sorted(options)}")
    w = int(width)
    module = nn.Sequential(
        *_block(3, w, 1),
        *_block(w, 2 * w, 2),
        *_block(2 * w, 4 * w, 2),
        *_block(4 * w, 4 * w, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return Backbone(
        module=module,
        feature_dim=4 * w,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        input_size=int(input_size) if input_size is not None else 64,
    )
