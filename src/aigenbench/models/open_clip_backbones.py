"""The ``open_clip:<arch>/<pretrained tag>`` backbone family (extra: ``aigenbench[openclip]``)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models.backbone import CLIP_MEAN, CLIP_STD, Backbone, StateDict
from aigenbench.models.pretrained import fetch_hub_file, torch_hub_file

HUB_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class OpenClipImageEncoder(nn.Module):
    """The image tower of an open_clip model; optionally L2-normalised like ``encode_image``."""

    def __init__(self, visual: nn.Module, normalize: bool = False) -> None:
        super().__init__()
        self.visual = visual
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.visual(x)
        if isinstance(features, tuple):  # towers that also return tokens
            features = features[0]
        return nn.functional.normalize(features, dim=-1) if self.normalize else features


def import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as error:
        raise ConfigError(
            "open_clip backbones need the openclip extra: pip install 'aigenbench[openclip]'"
        ) from error
    return open_clip


def make_open_clip_backbone(
    name: str,
    pretrained: bool,
    input_size: int | None = None,
    normalize: bool = False,
    **options: Any,
) -> Backbone:
    """An open_clip image tower (``open_clip:ViT-L-14/openai``); ``normalize`` L2-normalises.

    ``options`` go to ``open_clip.create_model`` (e.g. ``force_quick_gelu``).
    """
    open_clip = import_open_clip()
    arch, _, tag = name.partition("/")
    archs = open_clip.list_models()
    if arch not in archs:
        close = difflib.get_close_matches(arch, archs, n=5, cutoff=0.6)
        raise ConfigError(
            f"unknown open_clip architecture {arch!r}"
            + (f"; did you mean: {', '.join(f'open_clip:{m}' for m in close)}?" if close else "")
            + " (open_clip.list_models() lists them all)"
        )
    tags = [t for a, t in open_clip.list_pretrained() if a == arch]
    if pretrained and not tag:
        raise ConfigError(
            f"open_clip:{arch} needs a pretrained tag to load weights, e.g. "
            + ", ".join(f"open_clip:{arch}/{t}" for t in tags[:6])
            + " (or pretrained: false)"
        )
    if tag and tag not in tags:
        raise ConfigError(
            f"open_clip architecture {arch!r} has no pretrained tag {tag!r}; available: "
            + (", ".join(tags) or "none")
        )
    vision_cfg = (open_clip.get_model_config(arch) or {}).get("vision_cfg", {})
    default_size = vision_cfg.get("image_size", 224)
    if input_size is not None and int(input_size) != default_size:
        options.setdefault("force_image_size", int(input_size))
    tag_cfg = (open_clip.get_pretrained_cfg(arch, tag) if tag else None) or {}
    if tag_cfg.get("quick_gelu"):
        # The tag's weights were trained with QuickGELU: the architecture must match them even
        # when the weights come later (a local file, a checkpoint).
        options.setdefault("force_quick_gelu", True)
    weights = str(_weights_file(arch, tag, tag_cfg)) if pretrained else None
    model = open_clip.create_model(arch, pretrained=weights, **options)
    visual = model.visual
    return Backbone(
        module=OpenClipImageEncoder(visual, normalize=normalize),
        feature_dim=int(visual.output_dim),
        mean=tuple(tag_cfg.get("mean", CLIP_MEAN)),  # type: ignore[arg-type]
        std=tuple(tag_cfg.get("std", CLIP_STD)),  # type: ignore[arg-type]
        input_size=int(input_size) if input_size is not None else int(_side(default_size)),
        adapt_state_dict=adapt_open_clip_state,
    )


def _side(size: int | tuple[int, int] | list[int]) -> int:
    return int(size) if isinstance(size, int) else int(size[-1])


def _weights_file(arch: str, tag: str, cfg: Mapping[str, Any]) -> Any:
    what = f"open_clip:{arch}/{tag}"
    hub = cfg.get("hf_hub")
    if hub:
        # open_clip's convention: "org/repo/" (default file names) or "org/repo/file.bin".
        repo_id, filename = os.path.split(hub)
        return fetch_hub_file(repo_id, [filename] if filename else list(HUB_FILENAMES), what)
    if cfg.get("url"):
        return torch_hub_file(cfg["url"], what)
    raise ConfigError(f"{what} has no downloadable weights in this open_clip version")


def adapt_open_clip_state(state: Mapping[str, torch.Tensor]) -> StateDict:
    """A whole open_clip checkpoint -> the image tower's keys (``visual.*``)."""
    if any(k.startswith("visual.") for k in state):
        return {k: v for k, v in state.items() if k.startswith("visual.")}
    return {f"visual.{k}": v for k, v in state.items()}
