"""Effort: train only the minor singular directions of a ViT's linear layers.

Paper: Yan, Wang, Wang, Jin, Zhang, Chen, Yao, Ding, Wu, Yuan, "Orthogonal Subspace
Decomposition for Generalizable AI-Generated Image Detection", ICML 2025. Each targeted weight
``W = U S V^T`` is split by singular value: the top ``r`` directions (``U_r S_r V_r^T``, the
pretrained knowledge) are frozen, the remaining ones (``U_res S_res V_res^T``) are trained.
Learning happens in the subspace orthogonal to the pretrained principal one, so the model
learns fake traces without forgetting (overfitting away) what the foundation model knew. Two
constraints keep it so: orthogonality, ``||[U_r U_res]^T [U_r U_res] - I||_F^2`` (and the same
for ``V``), and a singular-value constraint keeping ``||W_hat||_F^2 = ||W||_F^2``.

What differs here, and why: the attention projections of timm / transformers ViTs (``nn.Linear``
layers; open_clip's fused ``nn.MultiheadAttention`` is refused: use the same CLIP weights
through timm, e.g. ``timm:vit_large_patch14_clip_224.openai``; timm's fused ``qkv`` projection is
split as one matrix where the paper splits q, k and v apart); the residual rank is an option
(the paper keeps r = d - 1, a rank-1 residual per layer); the protocol's windows and
augmentation instead of SDv1.4 (GenImage). Published for orientation: 91.1 mean accuracy over
GenImage's 8 generators (CLIP ViT-L/14, trained on SDv1.4), as we read its tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.build import build_default_detector
from aigenbench.models.config import ModelConfig
from aigenbench.models.detector import Detector
from aigenbench.training.module import DetectorModule, LossTerms

RESIDUAL_MARKER = "residual_"
"""Effort's trainable backbone parameters are named ``residual_*``."""


class SVDResidualLinear(nn.Module):
    """``y = x (U_r S_r V_r^T + U_res S_res V_res^T)^T + b``: principal part frozen (buffers),
    residual part trainable, initialised from the SVD of a linear layer's weight."""

    u_main: torch.Tensor
    s_main: torch.Tensor
    vh_main: torch.Tensor
    weight_norm2: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear, residual_rank: int) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        rank = min(weight.shape)
        if not 1 <= residual_rank < rank:
            raise ConfigError(
                f"effort: residual_rank must be in 1..{rank - 1} for a {tuple(weight.shape)} "
                f"weight, got {residual_rank}"
            )
        u, s, vh = torch.linalg.svd(weight, full_matrices=False)
        r = rank - residual_rank
        self.register_buffer("u_main", u[:, :r].contiguous())
        self.register_buffer("s_main", s[:r].contiguous())
        self.register_buffer("vh_main", vh[:r].contiguous())
        self.residual_u = nn.Parameter(u[:, r:].contiguous())
        self.residual_s = nn.Parameter(s[r:].contiguous())
        self.residual_vh = nn.Parameter(vh[r:].contiguous())
        self.register_buffer("weight_norm2", (weight**2).sum())
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def main_weight(self) -> torch.Tensor:
        return (self.u_main * self.s_main) @ self.vh_main

    def residual_weight(self) -> torch.Tensor:
        return (self.residual_u * self.residual_s) @ self.residual_vh

    @property
    def weight(self) -> torch.Tensor:
        return self.main_weight() + self.residual_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(
            x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype)
        )

    def orthogonality(self) -> torch.Tensor:
        """``||U^T U - I||_F^2 + ||V^T V - I||_F^2``, ``U = [U_r U_res]``, ``V = [V_r V_res]``."""
        u = torch.cat([self.u_main, self.residual_u], dim=1)
        vh = torch.cat([self.vh_main, self.residual_vh], dim=0)
        eye = torch.eye(u.shape[1], device=u.device, dtype=u.dtype)
        return ((u.T @ u - eye) ** 2).sum() + ((vh @ vh.T - eye) ** 2).sum()

    def singular_value_drift(self) -> torch.Tensor:
        """``| ||W_hat||_F^2 - ||W||_F^2 |``: the energy of the weight kept as pretrained."""
        return ((self.weight**2).sum() - self.weight_norm2).abs()


def decompose(backbone: nn.Module, targets: Sequence[str], residual_rank: int) -> list[str]:
    """Replace every ``nn.Linear`` named by ``targets`` (name suffixes) with its SVD split."""
    chosen = [
        name
        for name, module in backbone.named_modules()
        if isinstance(module, nn.Linear) and name.rpartition(".")[2] in targets
    ]
    if not chosen:
        mha = any(isinstance(m, nn.MultiheadAttention) for m in backbone.modules())
        raise ConfigError(
            f"effort: no nn.Linear named {list(targets)} in the backbone"
            + (
                " (open_clip's nn.MultiheadAttention is fused: use the same weights through "
                "timm, e.g. timm:vit_large_patch14_clip_224.openai)"
                if mha
                else "; set method_args.targets to its attention projections"
            )
        )
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = backbone.get_submodule(parent_name) if parent_name else backbone
        setattr(parent, child, SVDResidualLinear(getattr(parent, child), residual_rank))
    return chosen


@dataclass
class EffortOptions:
    residual_rank: int = 1
    """Trainable singular directions per layer (the paper: 1, i.e. r = d - 1 kept frozen)."""
    targets: list[str] = field(
        default_factory=lambda: ["qkv", "proj", "q_proj", "k_proj", "v_proj", "out_proj"]
    )
    """Linear layers to decompose (name suffixes): the attention projections."""
    orthogonality_weight: float = 1.0
    singular_value_weight: float = 1.0


class EffortDetector(Detector):
    """The default network whose backbone trains only its ``residual_*`` parameters."""

    trainable_marker = RESIDUAL_MARKER

    def residual_layers(self) -> list[SVDResidualLinear]:
        return [m for m in self.backbone.modules() if isinstance(m, SVDResidualLinear)]


class Effort(DetectorModule):
    """Effort on a ViT (``configs/methods/effort.yaml``: CLIP ViT-L/14 via timm, ``tune``)."""

    Options = EffortOptions

    @classmethod
    def build_detector(
        cls,
        config: ModelConfig,
        generator_names: Sequence[str],
        *,
        pretrained: bool | str | None = None,
    ) -> Detector:
        options: EffortOptions = cls.parse_options(config)
        detector = build_default_detector(
            config, generator_names, pretrained=pretrained, detector_class=EffortDetector
        )
        decompose(detector.backbone, options.targets, options.residual_rank)
        return detector

    def compute_loss(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> LossTerms:
        classification = self.training_loss(outputs["logits"], batch)
        layers = self.detector.residual_layers()  # type: ignore[operator]
        orthogonality = torch.stack([layer.orthogonality() for layer in layers]).mean()
        drift = torch.stack([layer.singular_value_drift() for layer in layers]).mean()
        options: EffortOptions = self.options
        return {
            "loss": classification
            + options.orthogonality_weight * orthogonality
            + options.singular_value_weight * drift,
            "classification": classification,
            "orthogonality": orthogonality,
            "singular_value_drift": drift,
        }
