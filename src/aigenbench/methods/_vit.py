"""Reaching inside ViT backbones of timm, open_clip and transformers: their blocks and linears."""

from __future__ import annotations

from torch import nn

from aigenbench.errors import ConfigError

BLOCK_LISTS = ("blocks", "transformer.resblocks", "encoder.layer", "encoder.layers")
"""Where the transformer blocks are: timm, open_clip, transformers ViT, transformers CLIP."""


def transformer_blocks(backbone: nn.Module) -> nn.ModuleList:
    """The ordered transformer blocks of a ViT backbone (timm, open_clip or transformers)."""
    for name, module in backbone.named_modules():
        if isinstance(module, (nn.ModuleList, nn.Sequential)) and any(
            name == path or name.endswith("." + path) for path in BLOCK_LISTS
        ):
            return module  # type: ignore[return-value]
    raise ConfigError(
        "this method needs a ViT backbone whose transformer blocks it can find (timm ViTs, "
        "open_clip ViTs, transformers ViT/CLIP/DINOv2); found none in "
        f"{type(backbone).__name__}"
    )
