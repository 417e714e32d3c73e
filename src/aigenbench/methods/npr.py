"""NPR: neighbouring-pixel relationships, x - up(down(x)), into a truncated ResNet.

Paper: Tan, Liu, Zhao, Wei, Gu, Liu, Wei, "Rethinking the Up-Sampling Operations in CNN-based
Generative Network for Generalizable Deepfake Detection", CVPR 2024. Generators up-sample with
nearest/bilinear/transposed convolutions, which ties each pixel to its neighbours in every 2x2
block. NPR exposes that: the residual between the image and its nearest-neighbour 2x
down-then-up-sampled copy, ``NPR(x) = x - up(down(x))``, which is zero for a block-constant
(up-sampled) image. The residual (scaled by 2/3 in the official code) goes into a ResNet-50
cut after its second stage (the artifacts are local: deeper stages only add semantics), then
global pooling and a linear layer, everything trained with BCE.

What differs here, and why: the ResNet's own stem (7x7 stride-2 convolution and max-pool, so
library weights can be used) instead of the official 3x3 stride-2 one; the protocol's windows,
augmentation and degradations instead of 4-class ProGAN. Published for orientation: about 92
mean accuracy over its cross-generator test sets (trained on 4-class ProGAN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import Backbone
from aigenbench.models.build import configured_backbone, num_outputs
from aigenbench.models.config import ModelConfig
from aigenbench.models.detector import Detector
from aigenbench.training.module import DetectorModule


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """``x - up(down(x))`` with nearest 2x resampling (``[B, C, H, W]``, H and W even)."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ConfigError(f"NPR needs an even input size, got {tuple(x.shape[-2:])}")
    down = F.interpolate(x, scale_factor=0.5, mode="nearest")
    return x - F.interpolate(down, scale_factor=2.0, mode="nearest")


class TruncatedResNet(nn.Module):
    """A ResNet's stem and first ``stages`` stages, globally average-pooled."""

    def __init__(self, resnet: nn.Module, stages: int = 2) -> None:
        super().__init__()
        names = [name for name, _ in resnet.named_children()]
        if not {"conv1", "bn1", "maxpool", "layer1"} <= set(names):
            raise ConfigError(
                "NPR needs a ResNet backbone (conv1, bn1, maxpool, layer1..; e.g. "
                f"timm:resnet50 or torchvision:resnet50); this one has {names}"
            )
        activation = "act1" if "act1" in names else "relu"
        parts = ["conv1", "bn1", activation, "maxpool", *(f"layer{i + 1}" for i in range(stages))]
        modules: list[nn.Module] = [getattr(resnet, part) for part in parts]
        self.body = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


@dataclass
class NPROptions:
    stages: int = 2
    """ResNet stages kept (the paper: 2)."""
    scale: float = 2.0 / 3.0
    """Factor applied to the residual before the network (the official code's 2/3)."""


class NPRDetector(Detector):
    """The NPR residual as preprocessing, then the truncated ResNet and a linear head."""

    def __init__(self, backbone: Backbone, outputs: int, scale: float, **kwargs: object) -> None:
        super().__init__(backbone, outputs, **kwargs)  # type: ignore[arg-type]
        self.scale = float(scale)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        return npr_residual(x) * self.scale


class NPR(DetectorModule):
    """NPR on the configured ResNet (``configs/methods/npr.yaml``: ResNet-50, ``tune``)."""

    Options = NPROptions

    @classmethod
    def build_detector(
        cls,
        config: ModelConfig,
        generator_names: Sequence[str],
        *,
        pretrained: bool | str | None = None,
    ) -> Detector:
        options: NPROptions = cls.parse_options(config)
        full = configured_backbone(config, pretrained)
        body = TruncatedResNet(full.module, options.stages)
        body.eval()  # a dry run for the feature size must not touch BatchNorm statistics
        with torch.no_grad():
            dim = int(body(torch.zeros(1, 3, config.input_size, config.input_size)).shape[1])
        body.train()
        backbone = Backbone(
            body, dim, full.mean, full.std, config.input_size, name=f"npr:{full.name}"
        )
        return NPRDetector(
            backbone,
            num_outputs(config, generator_names),
            options.scale,
            head_dropout=config.head_dropout,
            mean=config.mean,
            std=config.std,
        )
