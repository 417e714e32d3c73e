"""Batches: dicts of tensors, the contract between the data and the training packages.

Images are ``uint8`` ``[N, 3, H, W]`` at the model's input size; the model normalises them on its
device.

- training (``collate_training``): ``image``, ``label`` (int64, 0 real / 1 fake),
  ``generator_id`` (int64), ``id`` (int64, the row ID), ``copy`` (int64, augmentation copy).
- evaluation (``collate_evaluation``): one row per **crop**, crops of one image consecutive;
  ``image``, ``label``, ``generator_id``, ``id`` (repeated for each crop of an image),
  ``crop_to_image`` (int64: index, inside the batch, of the crop's image) and ``valid`` (bool:
  False for the placeholder crop of an image that could not be decoded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from aigenbench.errors import DataError

TRAINING_KEYS = ("image", "label", "generator_id", "id", "copy")
EVALUATION_KEYS = ("image", "label", "generator_id", "id", "crop_to_image", "valid")


def _stack(images: Sequence[torch.Tensor]) -> torch.Tensor:
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise DataError(
            f"images of one batch have different sizes {sorted(shapes)[:4]}: with the 'as_is' crop "
            f"strategy use a batch size of 1, or choose 'resize' / a crop"
        )
    return torch.stack(list(images))


def collate_training(samples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Training samples (``image`` tensor + int fields) -> a training batch."""
    batch = {"image": _stack([sample["image"] for sample in samples])}
    for key in TRAINING_KEYS[1:]:
        batch[key] = torch.tensor([int(sample[key]) for sample in samples], dtype=torch.int64)
    return batch


def collate_evaluation(samples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Evaluation samples (``crops``: a list of tensors, + fields) -> one batch row per crop."""
    crops: list[torch.Tensor] = []
    fields: dict[str, list[int]] = {
        key: [] for key in ("label", "generator_id", "id", "crop_to_image")
    }
    valid: list[bool] = []
    for image_index, sample in enumerate(samples):
        for crop in sample["crops"]:
            crops.append(crop)
            fields["label"].append(int(sample["label"]))
            fields["generator_id"].append(int(sample["generator_id"]))
            fields["id"].append(int(sample["id"]))
            fields["crop_to_image"].append(image_index)
            valid.append(bool(sample["valid"]))
    batch = {"image": _stack(crops)}
    for key, values in fields.items():
        batch[key] = torch.tensor(values, dtype=torch.int64)
    batch["valid"] = torch.tensor(valid, dtype=torch.bool)
    return batch


def concat_eval_outputs(outputs: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, np.ndarray]:
    """The rows a LightningModule returned for every evaluation batch, as NumPy arrays (crop
    keys and ``image_*`` keys): what the run, ``predict`` and a bundle's rescore collect."""
    if not outputs:
        return {}
    keys = outputs[0].keys()
    return {k: torch.cat([o[k] for o in outputs]).numpy() for k in keys}
