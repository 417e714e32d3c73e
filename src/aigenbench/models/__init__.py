"""Detectors: backbones by name (timm, torchvision, open_clip, transformers, your own), a head,
freezing modes, pretrained weights and checkpoints."""

from aigenbench.models.backbone import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, Backbone
from aigenbench.models.build import LoadedDetector, build_detector, load_detector
from aigenbench.models.config import ModelConfig, OptimizerConfig, SchedulerConfig, UnfreezeAt
from aigenbench.models.detector import Detector
from aigenbench.models.fusion import fuse_crops, register_fusion, resolve_fusion
from aigenbench.models.registry import (
    BASELINES,
    available_backbones,
    build_backbone,
    register_alias,
    register_backbone,
    unregister_backbone,
)

__all__ = [
    "BASELINES",
    "CLIP_MEAN",
    "CLIP_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Backbone",
    "Detector",
    "LoadedDetector",
    "ModelConfig",
    "OptimizerConfig",
    "SchedulerConfig",
    "UnfreezeAt",
    "available_backbones",
    "build_backbone",
    "build_detector",
    "fuse_crops",
    "load_detector",
    "register_alias",
    "register_backbone",
    "register_fusion",
    "resolve_fusion",
    "unregister_backbone",
]
