"""The detector: a backbone, a linear head, the backbone's normalisation, and freezing.

A frozen backbone is in eval mode whatever ``.train()`` says (BatchNorm statistics and
dropout untouched) and runs without autograd; its parameters keep the ``requires_grad`` the
owner chose (:meth:`Detector.freeze_backbone`), which matters for distributed training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import Backbone


class Detector(nn.Module):
    """``preprocess`` -> ``backbone`` -> ``[B, D]`` features -> ``head`` -> ``[B, num_outputs]``.

    ``num_outputs`` is 1 for binary detection, the number of classes (generators + real)
    for multiclass. :meth:`forward` takes images normalised with :meth:`normalize`.

    A method changes the network by subclassing (docs/METHODS.md): :meth:`preprocess` (before
    the backbone, e.g. NPR's residual), :meth:`features` (what the backbone gives: the frozen,
    cacheable part, e.g. every block's CLS token), :meth:`head_outputs` (the neck and the head
    over those features: ``logits`` plus anything a loss needs).
    """

    # Registered buffers (they follow the module's device and are saved with it).
    mean: torch.Tensor
    """The backbone's normalisation mean x 255, shaped ``[1, 3, 1, 1]``."""
    std: torch.Tensor
    """The backbone's normalisation std x 255, shaped ``[1, 3, 1, 1]``."""

    trainable_marker: str | None = None
    """When set, "training the backbone" trains only its parameters whose name contains this
    (LoRA adapters, Effort's residual): the rest of the backbone never changes."""

    def __init__(
        self,
        backbone: Backbone,
        num_outputs: int = 1,
        *,
        head_dropout: float = 0.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        frozen: bool = False,
    ) -> None:
        super().__init__()
        if num_outputs < 1:
            raise ConfigError(f"a detector needs at least one output, got {num_outputs}")
        self.backbone = backbone.module
        self.backbone_name = backbone.name
        self.feature_dim = backbone.feature_dim
        self.input_size = backbone.input_size
        self.num_outputs = int(num_outputs)
        self.head = nn.Sequential(
            nn.Dropout(head_dropout), nn.Linear(self.feature_dim, num_outputs)
        )
        mean = backbone.mean if mean is None else tuple(mean)
        std = backbone.std if std is None else tuple(std)
        # Stored scaled to 0..255 so that normalize() is one fused op on uint8 input.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255)
        self.backbone_frozen = False
        if frozen:
            self.freeze_backbone()

    # ------------------------------------------------------------------ freezing

    def freeze_backbone(self, *, requires_grad: bool = False) -> None:
        """Eval mode and no autograd for the backbone from now on.

        ``requires_grad=True`` keeps the parameters registered as trainable although no
        gradient reaches them: for a backbone that will be unfrozen later in the same
        distributed run (DDP only synchronises parameters that required grad when it wrapped
        the model).
        """
        self.backbone_frozen = True
        self.backbone.requires_grad_(requires_grad)
        self.backbone.eval()

    def unfreeze_backbone(self) -> None:
        self.backbone_frozen = False
        marker = self.trainable_marker
        for name, parameter in self.backbone.named_parameters():
            parameter.requires_grad_(marker is None or marker in name)
        self.backbone.train(self.training)

    def train(self, mode: bool = True) -> Detector:
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    # ------------------------------------------------------------------ forward

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` (0..255) -> float normalised with the backbone's mean/std.

        Float input is taken as already in 0..1. Runs on the images' device.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ConfigError(f"images must be [B, 3, H, W], got shape {tuple(images.shape)}")
        x = images.float() if images.dtype == torch.uint8 else images.float() * 255.0
        return (x - self.mean) / self.std

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> the backbone's input (identity; a method may override)."""
        return x

    def backbone_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's ``[B, feature_dim]`` output of preprocessed images."""
        return self.backbone(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features ``[B, D]`` of normalised images (no autograd when frozen)."""
        if self.backbone_frozen:
            # no_grad rather than inference_mode: the head's backward needs its input to be a
            # normal tensor (inference tensors cannot be saved for backward).
            with torch.no_grad():
                features = self.backbone_forward(self.preprocess(x))
        else:
            features = self.backbone_forward(self.preprocess(x))
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ConfigError(
                f"backbone {self.backbone_name!r} returned features of shape "
                f"{tuple(features.shape)}, expected [B, {self.feature_dim}]: its factory "
                "reports the wrong feature_dim or does not pool to a vector"
            )
        return features

    def head_forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_outputs]`` of backbone features (cached features included)."""
        weight = self.head[1].weight
        assert isinstance(weight, torch.Tensor)
        return self.head(features.to(weight.dtype) if features.dtype != weight.dtype else features)

    def head_outputs(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"logits": [B, num_outputs], ...}`` of features: the logits and whatever else a
        method's loss needs (e.g. an embedding for a contrastive term)."""
        return {"logits": self.head_forward(features)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_outputs(self.features(x))["logits"]

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The backbone parameters an optimiser trains (all, or those of ``trainable_marker``)."""
        marker = self.trainable_marker
        return [p for n, p in self.backbone.named_parameters() if marker is None or marker in n]

    def merge_adapters(self) -> None:
        """Fold trainable adapters (LoRA) into the weights, for inference (no-op without)."""
        from aigenbench.models.lora import has_lora, merge_lora

        if has_lora(self.backbone):
            merge_lora(self.backbone)
            self.trainable_marker = None

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())
