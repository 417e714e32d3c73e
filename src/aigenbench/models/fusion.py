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
from aigenbench.scoring import fuse_mean, image_runs
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

    ``crop_to_image`` gives each crop's image (crops of one image consecutive, as batches
    carry them: :func:`aigenbench.scoring.image_runs`). One crop per image returns the scores
    unchanged. The mean of float32/float64 scores is :func:`aigenbench.scoring.fuse_mean`, so
    it equals the predictions file's ``fused_scores`` bit for bit (no gradient flows through it).
    """
    fn = resolve_fusion(fusion)
    starts, counts = image_runs(crop_to_image.detach().cpu().numpy())
    if len(starts) == len(scores):
        return scores
    if fn is _FUSIONS["mean"] and scores.dtype in (torch.float32, torch.float64):
        fused = fuse_mean(scores.detach().cpu().numpy(), starts, counts)
        return torch.from_numpy(fused).to(scores.device)
    return torch.stack([fn(group) for group in torch.split(scores, counts.tolist())])
