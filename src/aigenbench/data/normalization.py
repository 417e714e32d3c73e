"""Mean and standard deviation (per RGB channel, for pixels in [0, 1]) that backbones expect.

The data pipelines return ``uint8`` images; the model converts them to float and normalises them
on its device with these constants (the published baselines use CLIP's).
"""

from __future__ import annotations

from aigenbench.errors import ConfigError

Stats = tuple[tuple[float, float, float], tuple[float, float, float]]

NORMALIZATIONS: dict[str, Stats] = {
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
"""``dinov2`` and most torchvision/timm ImageNet models use ``imagenet``; OpenAI and OpenCLIP
models use ``clip``."""


def normalization_for(name: str) -> Stats:
    """``(mean, std)`` of a normalisation: ``clip``, ``imagenet``, ``inception`` or ``none``."""
    key = name.lower()
    if key == "dinov2":
        key = "imagenet"
    if key not in NORMALIZATIONS:
        raise ConfigError(f"unknown normalisation {name!r}; use one of {', '.join(NORMALIZATIONS)}")
    return NORMALIZATIONS[key]
