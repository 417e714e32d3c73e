"""Fusing the crop scores of one image into the image's score (multicrop evaluation).

A fusion is a function ``scores[n_crops] -> scalar tensor``. Built-ins: ``mean`` (the
protocol's and the official evaluation's), ``max``, ``median``. Register another with
``register_fusion("name", fn)`` or name a function by its import path in the config
(``fusion: mypackage.fusions.trimmed_mean``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from aigenbench.errors import ConfigError
from aigenbench.suggest import did_you_mean

Fusion = Callable[[torch.Tensor], torch.Tensor]

_FUSIONS: dict[str, Fusion] = {
    "mean": lambda scores: scores.mean(dim=0),
    "max": lambda scores: scores.max(dim=0).values,
    "median": lambda scores: scores.median(dim=0).values,
}


def register_fusion(name: str, fn: Fusion, *, overwrite: bool = False) -> None:
    if name in _FUSIONS and not overwrite:
        raise ConfigError(f"crop fusion {name!r} is already registered; pass overwrite=True")
    _FUSIONS[name] = fn


def resolve_fusion(name_or_path: str | Fusion) -> Fusion:
    """A registered fusion, or a function by import path (``package.module.function``)."""
    if callable(name_or_path):
        return name_or_path
    name = str(name_or_path)
    if name in _FUSIONS:
        return _FUSIONS[name]
    if "." in name:
        from aigenbench.classpath import import_object

        fn = import_object(name, "model.fusion")
        if not callable(fn):
            raise ConfigError(f"model.fusion: {name!r} is not a function")
        return fn
    raise ConfigError(
        f"unknown crop fusion {name!r}."
        + did_you_mean(name, _FUSIONS)
        + f" Registered: {', '.join(_FUSIONS)}; or give a function's import path."
    )


def fuse_crops(
    scores: torch.Tensor, crop_to_image: torch.Tensor, fusion: str | Fusion = "mean"
) -> torch.Tensor:
    """Per-image scores from per-crop ``scores`` (``[C]`` or ``[C, K]``).

    ``crop_to_image`` gives each crop's image index ``0..n_images-1`` (crops of one image
    consecutive, as batches carry them). One crop per image returns the scores unchanged.
    """
    fn = resolve_fusion(fusion)
    if crop_to_image.numel() == 0:
        return scores[:0]
    images, counts = torch.unique_consecutive(crop_to_image, return_counts=True)
    if len(images) == len(scores):
        return scores
    if fn is _FUSIONS["mean"]:  # the common case, vectorised
        index = torch.repeat_interleave(torch.arange(len(images), device=scores.device), counts)
        total = torch.zeros(
            (len(images), *scores.shape[1:]), dtype=scores.dtype, device=scores.device
        )
        total.index_add_(0, index, scores)
        shape = (-1,) + (1,) * (scores.ndim - 1)
        return total / counts.to(scores.dtype).reshape(shape)
    return torch.stack([fn(group) for group in torch.split(scores, counts.tolist())])
