"""``aigenbench.load_detector``: a trained detector anywhere, scoring images like ``predict``.

```python
import aigenbench
detector = aigenbench.load_detector("exported/", device="cpu")
detector.score(["a.jpg", pil_image, array, encoded_bytes])  # P(fake) per image, float64
detector.classify(images)  # [Verdict(probability, label, threshold, generator)]
```
The images get the evaluation transform of the folder's ``config.json`` (crop-if-large, the
crop to the input size, the normalisation), and the crops' scores are fused by the method's
own fusion: the same pixels, network and arithmetic as ``aigenbench predict``, so its scores
equal predict's. Paths and bytes are decoded as ``predict`` decodes files; a PIL image or an
array is taken as already decoded (EXIF orientation applied to a PIL image), so a JPEG decoded by
another library may differ from predict's pixels by a grey level.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.export.folder import ExportedModel, is_export_folder, read_export

ImageInput = Any
"""A PIL image, an ``H x W x 3`` uint8 array, a file path or the encoded bytes of an image."""


@dataclass(frozen=True)
class Verdict:
    """One image's answer at the detector's threshold."""

    probability: float
    """P(fake)."""
    label: str
    """``fake`` (probability > threshold) or ``real``."""
    threshold: float
    generator: str | None = None
    """Multiclass detectors: the likeliest generator (among the fake classes); else None."""


def to_rgb_array(image: ImageInput, max_pixels: int) -> np.ndarray:
    """An ``H x W x 3`` uint8 array of any accepted input (paths and bytes decoded as
    ``predict`` decodes files; an unreadable one raises ``UnreadableImage``, a DataError)."""
    from PIL import Image

    from aigenbench.data.decode import (
        UnreadableImage,
        _orientation,
        _pil_to_rgb,
        apply_orientation,
        decode_file,
        decode_image,
    )

    if isinstance(image, str | os.PathLike):
        return decode_file(Path(image), max_pixels)
    if isinstance(image, bytes | bytearray | memoryview):
        return decode_image(image, max_pixels)
    if isinstance(image, Image.Image):
        if image.width * image.height > max_pixels:
            raise UnreadableImage(
                f"{image.width}x{image.height} is more than {max_pixels:,} pixels"
            )
        return np.ascontiguousarray(apply_orientation(_pil_to_rgb(image), _orientation(image)))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise UnreadableImage(
                f"an array image must be H x W x 3 uint8 (RGB), got {image.dtype} {image.shape}"
            )
        return np.ascontiguousarray(image)
    raise UnreadableImage(
        f"cannot score a {type(image).__name__}: give a PIL image, an H x W x 3 uint8 array, "
        "a file path or encoded image bytes"
    )


class LoadedDetector(nn.Module):
    """A detector ready to score images (eval mode). See the module doc."""

    def __init__(self, model: ExportedModel, max_pixels: int | None = None) -> None:
        from aigenbench.data.decode import DEFAULT_MAX_PIXELS

        super().__init__()
        self.module = model.module
        self.pipeline = model.pipeline
        self.config: dict[str, Any] = model.config
        self.generator_names = list(model.generator_names)
        self.source = model.source
        self.max_pixels = int(max_pixels or DEFAULT_MAX_PIXELS)
        self.thresholds: dict[str, float] = {
            str(k): float(v) for k, v in model.config["thresholds"].items()
        }
        self.threshold: float = float(model.model_config.classification_threshold)
        self.detector_id: str = str(model.config["detector_id"])
        self.card_headline: dict[str, float] = {
            str(k): float(v) for k, v in (model.config.get("card_headline") or {}).items()
        }
        self.multiclass = model.model_config.task == "multiclass"
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, outputs]`` of crops: uint8 ``[N, 3, H, W]`` or already normalised."""
        return self.module({"image": x})

    def _batches(self, images: Sequence[ImageInput], batch_size: int):
        from aigenbench.data.decode import UnreadableImage
        from aigenbench.inference import collate_crops

        for start in range(0, len(images), batch_size):
            samples = []
            for index in range(start, min(start + batch_size, len(images))):
                try:
                    array = to_rgb_array(images[index], self.max_pixels)
                except UnreadableImage as error:
                    raise error.at(f"image {index}") from None
                samples.append(
                    {"crops": self.pipeline(array, index), "index": index, "error": None}
                )
            yield collate_crops(samples)

    @torch.inference_mode()
    def _score(
        self, images: Sequence[ImageInput], batch_size: int
    ) -> tuple[np.ndarray, list[str | None]]:
        from aigenbench.inference import per_image

        if isinstance(images, str | bytes | os.PathLike) or not isinstance(images, Sequence):
            images = [images]  # one image given alone
        device = self.device
        outputs = []
        self.module.eval()
        for batch in self._batches(images, batch_size):
            batch = {
                k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
            }
            rows = self.module.evaluation_step(batch, "predict")
            outputs.append({k: v for k, v in rows.items()})
            self.module.eval_outputs.clear()  # predict's rows list: nothing kept between calls
        if not outputs:
            return np.zeros(0, dtype=np.float64), []
        results = per_image(outputs, self.multiclass)
        order = np.argsort(results["id"], kind="stable")
        scores = np.asarray(results["score"], dtype=np.float64)[order]
        generators: list[str | None] = [None] * len(scores)
        if self.multiclass:
            probabilities = results["probabilities"][order]
            generators = [
                self.generator_names[1 + int(np.argmax(row[1:]))] for row in probabilities
            ]
        return scores, generators

    def score(self, images: Sequence[ImageInput], *, batch_size: int = 32) -> np.ndarray:
        """P(fake) per image (float64 ``[N]``), as ``aigenbench predict`` scores them."""
        return self._score(images, batch_size)[0]

    def classify(
        self,
        images: Sequence[ImageInput],
        *,
        threshold: float | None = None,
        batch_size: int = 32,
    ) -> list[Verdict]:
        """Each image's probability, label at ``threshold`` (default: :attr:`threshold`) and,
        for a multiclass detector, likeliest generator."""
        cut = self.threshold if threshold is None else float(threshold)
        scores, generators = self._score(images, batch_size)
        return [
            # predict's rule: fake strictly above the threshold
            Verdict(float(p), "fake" if p > cut else "real", cut, generator)
            for p, generator in zip(scores, generators, strict=True)
        ]


def load_detector(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    max_pixels: int | None = None,
) -> LoadedDetector:
    """The detector of an exported folder, a run folder (its last finished window), a window
    folder or a ``final.ckpt``, on ``device``, in eval mode. ``max_pixels``: larger images are
    refused (decompression bombs; default: predict's)."""
    if not Path(path).exists():
        raise ConfigError(
            f"{path} does not exist; give an exported folder (aigenbench export), a run folder, "
            "a window folder or a final.ckpt"
        )
    if is_export_folder(path):
        model = read_export(path, device)
    else:
        from aigenbench.export.writing import describe, find_source

        model = describe(find_source(path), device)[0]
    return LoadedDetector(model, max_pixels)
