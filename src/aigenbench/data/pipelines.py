"""Pixel pipelines (PROTOCOL.md §6): decoded image -> ``uint8`` ``[3, H, W]`` tensors.

- :class:`EvaluationDegradations`: the mandatory degradations of every evaluated image; which
  ones an image gets (:class:`DegradationPlan`) is drawn from (base seed, image ID) alone.
- :class:`BaselineTrainAugmentation`: the published baselines' deterministic training augmentation.
- :class:`TrainPipeline`: crop-if-large (random) + deterministic augmentation, seeded by
  (base seed, image ID, copy); then the stochastic part (rot90, horizontal flip, crop/resize to the
  input size), seeded by (base seed, window, epoch, image ID, copy).
- :class:`EvalPipeline`: crop-if-large (central) + the mandatory degradations, seeded by
  (base seed, image ID) only; then the evaluation crop strategy.

Pipelines are plain classes with a small interface; to use another one, name it in the config by
class path (``data.train_pipeline: {class_path: my.module.MyPipeline, init_args: {...}}``): it is
built with the same keyword arguments as the default (``input_size``, ``crop``, ``seed``,
``maximum_processing_size`` and the pipeline's own), ``init_args`` overriding them.
Normalisation is not done here: tensors stay ``uint8`` and the model normalises on its device.

Both pipelines take the image decoded (an array) or still encoded (a
:class:`~aigenbench.data.decode.EncodedImage`, what the datasets pass when ``decodes_regions``):
crop-if-large then draws its region from the image's size and decodes only that region, with the
same draws and the same pixels as decoding first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aigenbench.classpath import instantiate
from aigenbench.data import ops
from aigenbench.data.config import check_eval_jpeg_quality
from aigenbench.data.crops import EVAL_CROPS, TRAIN_CROPS, EvalCrop, TrainCrop
from aigenbench.data.decode import EncodedImage, decoded_crop_if_large
from aigenbench.data.seeding import BENCHMARK_AUGMENTATION_SEED, Stream, sample_rng
from aigenbench.errors import ConfigError, ProtocolError
from aigenbench.protocol.degradations import degradation_code

OFFICIAL_EVAL_JPEG_QUALITIES: tuple[int, ...] = (50, 101)
"""The official evaluation JPEG qualities: a two-element list (probably meant as a range); 101
behaves as 100."""

Trace = list[str] | None
"""When a list is given, each applied operation appends a short description (tests, debugging)."""


def _note(trace: Trace, text: str) -> None:
    if trace is not None:
        trace.append(text)


@dataclass(frozen=True)
class JpegStep:
    encoder: ops.JpegEncoder
    quality: int


@dataclass(frozen=True)
class DegradationPlan:
    """Which mandatory degradations one evaluation image gets, with their parameters.

    Drawn from the image's own random stream before any pixel is touched, so it is a pure function
    of (base seed, image ID): the record written beside the predictions (``code``).
    """

    grayscale: bool = False
    jpeg1: JpegStep | None = None
    noise_std: float | None = None
    jpeg2: JpegStep | None = None
    resized_crop: tuple[int, ops.Interpolation] | None = None
    """(square side, interpolation)."""
    jpeg3: JpegStep | None = None

    @property
    def steps(self) -> list[str]:
        """Names of the applied steps, in the protocol's order."""
        applied = {
            "grayscale": self.grayscale,
            "jpeg1": self.jpeg1 is not None,
            "noise": self.noise_std is not None,
            "jpeg2": self.jpeg2 is not None,
            "resized_crop": self.resized_crop is not None,
            "jpeg3": self.jpeg3 is not None,
        }
        return [name for name, done in applied.items() if done]

    @property
    def code(self) -> int:
        """The steps as bits (``aigenbench.protocol.degradations``)."""
        return degradation_code(self.steps)


class EvaluationDegradations:
    """The mandatory evaluation degradations, in the protocol's order and with its probabilities:
    grayscale 0.10; JPEG 0.50; Gaussian noise 0.30 (std in [0.015, 0.075] x 255 per pixel and
    channel); JPEG 0.20; random resized crop 0.25 (square side in [256, 512], scale [0.5, 1],
    ratio [0.9, 1/0.9], bilinear/bicubic/Lanczos); JPEG 0.10. Each JPEG picks OpenCV or Pillow and
    a quality from ``jpeg_quality`` (official: {50, 101}) or, when given, uniformly in
    ``jpeg_quality_range``.

    ``draw(rng)`` decides every step and parameter first (a :class:`DegradationPlan`, independent
    of the image); the pixel draws (noise values, crop box) come from a child of ``rng``, so
    what is applied never depends on the image's size."""

    def __init__(
        self,
        jpeg_quality: Sequence[int] = OFFICIAL_EVAL_JPEG_QUALITIES,
        jpeg_quality_range: tuple[int, int] | None = None,
    ) -> None:
        self.jpeg_quality = tuple(int(q) for q in jpeg_quality)
        self.jpeg_quality_range = (
            None
            if jpeg_quality_range is None
            else (int(jpeg_quality_range[0]), int(jpeg_quality_range[1]))
        )
        check_eval_jpeg_quality(self.jpeg_quality, self.jpeg_quality_range)

    def _draw_jpeg(self, rng: np.random.Generator, probability: float) -> JpegStep | None:
        if rng.random() >= probability:
            return None
        encoder = ops.JPEG_ENCODERS[int(rng.integers(0, 2))]
        return JpegStep(encoder, ops.draw_quality(rng, self.jpeg_quality, self.jpeg_quality_range))

    def draw(self, rng: np.random.Generator) -> DegradationPlan:
        """Decide the steps and their parameters (nothing here depends on the image)."""
        grayscale = bool(rng.random() < 0.10)
        jpeg1 = self._draw_jpeg(rng, 0.50)
        noise_std = float(rng.uniform(0.015, 0.075) * 255.0) if rng.random() < 0.30 else None
        jpeg2 = self._draw_jpeg(rng, 0.20)
        resized_crop = None
        if rng.random() < 0.25:
            side = int(rng.integers(256, 513))
            interpolation: ops.Interpolation = ("bilinear", "bicubic", "lanczos")[
                int(rng.integers(0, 3))
            ]
            resized_crop = (side, interpolation)
        jpeg3 = self._draw_jpeg(rng, 0.10)
        return DegradationPlan(grayscale, jpeg1, noise_std, jpeg2, resized_crop, jpeg3)

    def apply(
        self,
        image: np.ndarray,
        plan: DegradationPlan,
        pixel_rng: np.random.Generator,
        trace: Trace = None,
    ) -> np.ndarray:
        """Degrade ``image`` as ``plan`` says; ``pixel_rng`` draws the noise and the crop box."""

        def jpeg(image: np.ndarray, step: JpegStep, name: str) -> np.ndarray:
            _note(trace, f"{name}:{step.encoder}:{step.quality}")
            return ops.jpeg(image, step.quality, step.encoder)

        if plan.grayscale:
            _note(trace, "grayscale")
            image = ops.grayscale(image)
        if plan.jpeg1 is not None:
            image = jpeg(image, plan.jpeg1, "jpeg1")
        if plan.noise_std is not None:
            _note(trace, f"noise:{plan.noise_std:.3f}")
            image = ops.gaussian_noise(image, plan.noise_std, pixel_rng)
        if plan.jpeg2 is not None:
            image = jpeg(image, plan.jpeg2, "jpeg2")
        if plan.resized_crop is not None:
            side, interpolation = plan.resized_crop
            height, width = image.shape[:2]
            box = ops.random_resized_crop_box(height, width, (0.5, 1.0), (0.9, 1 / 0.9), pixel_rng)
            _note(trace, f"resized_crop:{side}:{interpolation}")
            image = ops.resize(image, side, side, interpolation, box=box)
        if plan.jpeg3 is not None:
            image = jpeg(image, plan.jpeg3, "jpeg3")
        return image

    def __call__(
        self, image: np.ndarray, rng: np.random.Generator, trace: Trace = None
    ) -> np.ndarray:
        plan = self.draw(rng)
        return self.apply(image, plan, rng.spawn(1)[0], trace)


class BaselineTrainAugmentation:
    """The deterministic training augmentation of the published baselines, in order: random resized
    crop to 256 (scale 0.08-1, ratio 3/4-4/3, bilinear) p=0.2; colour jitter (0.4, 0.4, 0.4, 0.1)
    p=0.8; grayscale p=0.2; one cut-out hole of 1-48 px filled with 128 p=0.2; Gaussian noise
    (std 0.2-0.44 x 255, albumentations' default) p=0.2; Gaussian blur sigma in [0, 3] p=0.5;
    JPEG (OpenCV or Pillow) quality 30-100 p=0.5. Probabilities can be changed (``p_*``)."""

    def __init__(
        self,
        p_resized_crop: float = 0.2,
        p_color_jitter: float = 0.8,
        p_grayscale: float = 0.2,
        p_cutout: float = 0.2,
        p_noise: float = 0.2,
        p_blur: float = 0.5,
        p_jpeg: float = 0.5,
        resized_crop_size: int = 256,
        jpeg_quality_range: tuple[int, int] = (30, 100),
        noise_std_range: tuple[float, float] = (0.2, 0.44),
        blur_sigma_range: tuple[float, float] = (0.0, 3.0),
    ) -> None:
        self.p_resized_crop = p_resized_crop
        self.p_color_jitter = p_color_jitter
        self.p_grayscale = p_grayscale
        self.p_cutout = p_cutout
        self.p_noise = p_noise
        self.p_blur = p_blur
        self.p_jpeg = p_jpeg
        self.resized_crop_size = resized_crop_size
        self.jpeg_quality_range = (int(jpeg_quality_range[0]), int(jpeg_quality_range[1]))
        self.noise_std_range = (float(noise_std_range[0]), float(noise_std_range[1]))
        self.blur_sigma_range = (float(blur_sigma_range[0]), float(blur_sigma_range[1]))

    def __call__(
        self, image: np.ndarray, rng: np.random.Generator, trace: Trace = None
    ) -> np.ndarray:
        box = self.resized_crop_box(image.shape[0], image.shape[1], rng)
        if box is not None:
            image = ops.crop(image, *box)
        return self.after_crop(image, box is not None, rng, trace)

    def resized_crop_box(
        self, height: int, width: int, rng: np.random.Generator
    ) -> tuple[int, int, int, int] | None:
        """The first draws of the augmentation: the ``(top, left, h, w)`` the random resized crop
        keeps of a ``height`` x ``width`` image, or None when it does not apply. Known from the
        size alone, so an encoded image need only decode that box (``TrainPipeline``)."""
        if rng.random() < self.p_resized_crop:
            return ops.random_resized_crop_box(height, width, (0.08, 1.0), (3 / 4, 4 / 3), rng)
        return None

    def after_crop(
        self, image: np.ndarray, resized_crop: bool, rng: np.random.Generator, trace: Trace = None
    ) -> np.ndarray:
        """The rest of the augmentation, after :meth:`resized_crop_box`'s draws: ``image`` is
        the box it drew (``resized_crop``: then resized) or the whole image."""
        if resized_crop:
            size = self.resized_crop_size
            _note(trace, "resized_crop")
            image = ops.resize(image, size, size, "bilinear")
        if rng.random() < self.p_color_jitter:
            _note(trace, "color_jitter")
            image = ops.color_jitter(image, 0.4, 0.4, 0.4, 0.1, rng)
        if rng.random() < self.p_grayscale:
            _note(trace, "grayscale")
            image = ops.grayscale(image)
        if rng.random() < self.p_cutout:
            _note(trace, "cutout")
            image = ops.cutout(image, rng)
        if rng.random() < self.p_noise:
            std = rng.uniform(*self.noise_std_range) * 255.0
            _note(trace, f"noise:{std:.3f}")
            image = ops.gaussian_noise(image, std, rng)
        if rng.random() < self.p_blur:
            sigma = rng.uniform(*self.blur_sigma_range)
            _note(trace, f"blur:{sigma:.3f}")
            image = ops.gaussian_blur(image, sigma)
        if rng.random() < self.p_jpeg:
            encoder = ops.JPEG_ENCODERS[int(rng.integers(0, 2))]
            quality = ops.draw_quality(rng, None, self.jpeg_quality_range)
            _note(trace, f"jpeg:{encoder}:{quality}")
            image = ops.jpeg(image, quality, encoder)
        return image


PixelOp = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""An augmentation step: ``(image HxWx3 uint8, rng) -> image``; all randomness from ``rng``."""
CropMaker = Callable[[np.ndarray, int], list[np.ndarray]]
"""Evaluation crops: ``(image, input_size) -> crops`` (each then goes to the model)."""


class Rot90:
    """Stochastic part: rotate by a random multiple of 90 degrees."""

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ops.rot90(image, int(rng.integers(0, 4)))


class HorizontalFlip:
    """Stochastic part: mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ops.hflip(image) if rng.random() < self.p else image


class VerticalFlip:
    """Stochastic part: mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.ascontiguousarray(image[::-1]) if rng.random() < self.p else image


class RandomCrop:
    """Stochastic part: a ``size`` x ``size`` crop at a random position (zero-padded if small)."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ops.random_crop(image, self.size, rng)


STOCHASTIC_OPS: tuple[type, ...] = (Rot90, HorizontalFlip, VerticalFlip, RandomCrop)
"""What the stochastic part may hold in benchmark mode (the protocol: rotation, flip, crop)."""

STOCHASTIC_RULE = (
    "the benchmark protocol lets the stochastic part of the training augmentation only rotate, "
    "flip or crop (aigenbench.data.pipelines.Rot90, HorizontalFlip, VerticalFlip, RandomCrop)"
)


def check_stochastic_part(steps: Sequence[PixelOp], benchmark: bool = True) -> list[PixelOp]:
    """``steps`` as a list; in benchmark mode a ProtocolError for any step that is not one of
    :data:`STOCHASTIC_OPS` (exactly those classes: a subclass may do anything)."""
    steps = list(steps)
    if benchmark:
        for step in steps:
            if type(step) not in STOCHASTIC_OPS:
                name = f"{type(step).__module__}.{type(step).__qualname__}"
                raise ProtocolError(
                    f"training augmentation: {name} cannot be in the stochastic part: "
                    f"{STOCHASTIC_RULE}. Move it to the deterministic part "
                    "(TrainAugmentation.deterministic, seeded per image and copy), or turn "
                    "benchmark mode off (data.degradations: false; results are then not "
                    "comparable with the benchmark's)"
                )
    return steps


class TrainAugmentation:
    """What a method changes in training pixels (``Method.train_augmentation``).

    ``deterministic``: replaces the deterministic part (default: the baselines'
    :class:`BaselineTrainAugmentation`); any operation, seeded by (image ID, copy).
    ``stochastic``: replaces rot90 + horizontal flip with these steps, redrawn every epoch;
    benchmark mode allows only :data:`STOCHASTIC_OPS`. The crop to the input size
    (``model.train_crop``) always ends the pipeline.
    """

    def __init__(
        self, deterministic: PixelOp | None = None, stochastic: Sequence[PixelOp] | None = None
    ) -> None:
        self.deterministic = deterministic
        self.stochastic = None if stochastic is None else list(stochastic)


class EvalAugmentation:
    """What a method changes in evaluation (and ``predict``) pixels (``Method.eval_augmentation``).

    They run *after* the mandatory degradations, which no method can change: ``before_crops``
    on the degraded image, ``crops`` instead of the ``model.eval_crop`` strategy, ``per_crop``
    on each crop. Seeded by (image ID) only, so every window sees the same pixels.
    """

    def __init__(
        self,
        before_crops: PixelOp | None = None,
        per_crop: PixelOp | None = None,
        crops: CropMaker | None = None,
    ) -> None:
        self.before_crops = before_crops
        self.per_crop = per_crop
        self.crops = crops


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {what} {value!r}; use one of: {', '.join(allowed)}")


class TrainPipeline:
    """Training pixels of one sample copy: ``pipeline(image, image_id, copy, window, epoch)``.

    ``deterministic_part`` depends only on (seed, image ID, copy): crop-if-large (random position)
    then ``augmentation``. ``stochastic_part`` (rot90 by a random multiple, horizontal flip p=0.5,
    the ``crop`` to ``input_size``) depends on (seed, window, epoch, image ID, copy); with
    ``stochastic=False`` it is seeded by (seed, image ID, copy) instead, so the whole sample depends
    only on (image ID, copy) (what a training-feature cache needs).

    ``crop``: ``resize`` (to ``input_size`` x ``input_size``, aspect not kept, bilinear
    antialiased), ``random_crop`` / ``center_crop`` (zero-padded when smaller), ``as_is``.
    """

    def __init__(
        self,
        input_size: int = 224,
        crop: TrainCrop = "resize",
        seed: int = BENCHMARK_AUGMENTATION_SEED,
        maximum_processing_size: int | None = 1080,
        stochastic: bool = True,
        augmentation: Callable[..., np.ndarray] | Mapping[str, Any] | str | None = None,
        rot90: bool = True,
        hflip: bool = True,
        stochastic_steps: Sequence[PixelOp] | None = None,
        benchmark: bool = True,
    ) -> None:
        _check_choice(crop, TRAIN_CROPS, "training crop strategy")
        self.stochastic_steps = (
            None if stochastic_steps is None else check_stochastic_part(stochastic_steps, benchmark)
        )
        self.input_size = int(input_size)
        self.crop = crop
        self.seed = int(seed)
        self.maximum_processing_size = maximum_processing_size
        self.stochastic = stochastic
        self.augmentation = (
            BaselineTrainAugmentation()
            if augmentation is None
            else instantiate(augmentation, what="training augmentation")
            if isinstance(augmentation, (Mapping, str))
            else augmentation
        )
        self.rot90 = rot90
        self.hflip = hflip

    decodes_regions = True
    """The datasets may pass an :class:`EncodedImage` (set False in a subclass that needs the
    decoded pixels before crop-if-large)."""

    def deterministic_part(
        self, image: np.ndarray | EncodedImage, image_id: int, copy: int, trace: Trace = None
    ) -> np.ndarray:
        rng = sample_rng(Stream.TRAIN_DETERMINISTIC, self.seed, image_id, copy)
        augmentation = self.augmentation
        if (
            isinstance(image, EncodedImage)
            and isinstance(augmentation, BaselineTrainAugmentation)
            and type(augmentation).__call__ is BaselineTrainAugmentation.__call__
        ):
            return self._decode_what_is_used(image, augmentation, rng, trace)
        image = decoded_crop_if_large(image, self.maximum_processing_size, rng)
        if self.augmentation is not None:
            image = (
                self.augmentation(image, rng, trace)
                if trace is not None
                else self.augmentation(image, rng)
            )
        return image

    def _decode_what_is_used(
        self,
        image: EncodedImage,
        augmentation: BaselineTrainAugmentation,
        rng: np.random.Generator,
        trace: Trace,
    ) -> np.ndarray:
        """:meth:`deterministic_part` of an encoded image, decoding only the pixels used: the
        crop-if-large region, or within it the random resized crop's box when that applies (it
        reads nothing else). The same draws in the same order, so the same pixels bit for bit."""
        height, width = image.size()
        top, left, crop_h, crop_w = ops.crop_if_large_box(
            height, width, self.maximum_processing_size, rng
        ) or (0, 0, height, width)
        box = augmentation.resized_crop_box(crop_h, crop_w, rng)
        if box is not None:
            top, left, crop_h, crop_w = top + box[0], left + box[1], box[2], box[3]
        whole = (top, left, crop_h, crop_w) == (0, 0, height, width)
        pixels = image.decode(None if whole else (top, left, crop_h, crop_w))
        return augmentation.after_crop(pixels, box is not None, rng, trace)

    def stochastic_part(
        self,
        image: np.ndarray,
        image_id: int,
        copy: int,
        window: int,
        epoch: int,
        trace: Trace = None,
    ) -> np.ndarray:
        if self.stochastic:
            rng = sample_rng(Stream.TRAIN_STOCHASTIC, self.seed, window, epoch, image_id, copy)
        else:
            rng = sample_rng(Stream.TRAIN_STOCHASTIC, self.seed, image_id, copy)
        if self.stochastic_steps is not None:
            for step in self.stochastic_steps:
                _note(trace, type(step).__name__)
                image = step(image, rng)
        elif self.rot90:
            turns = int(rng.integers(0, 4))
            _note(trace, f"rot90:{turns}")
            image = ops.rot90(image, turns)
        if self.stochastic_steps is None and self.hflip and rng.random() < 0.5:
            _note(trace, "hflip")
            image = ops.hflip(image)
        size = self.input_size
        if self.crop == "resize":
            return ops.resize(image, size, size, "bilinear")
        if self.crop == "random_crop":
            return ops.random_crop(image, size, rng)
        if self.crop == "center_crop":
            return ops.center_crop(image, size)
        return image

    def __call__(
        self,
        image: np.ndarray | EncodedImage,
        image_id: int,
        copy: int = 0,
        window: int = 0,
        epoch: int = 0,
    ) -> torch.Tensor:
        image = self.deterministic_part(image, image_id, copy)
        return ops.to_tensor(self.stochastic_part(image, image_id, copy, window, epoch))


class EvalPipeline:
    """Evaluation pixels of one image: ``pipeline(image, image_id) -> list of crops`` (tensors).

    Crop-if-large (central), then the mandatory degradations (``degradations=True``, the benchmark
    mode) seeded by (seed, image ID) only, then ``crop``: ``resize`` (to ``input_size`` x
    ``input_size``, aspect not kept), ``crop`` (central, zero-padded when smaller), ``multicrop``
    (the four corners and the centre; one central crop when the image is not larger than the
    input) or ``as_is``.
    """

    def __init__(
        self,
        input_size: int = 224,
        crop: EvalCrop = "resize",
        seed: int = BENCHMARK_AUGMENTATION_SEED,
        maximum_processing_size: int | None = 1080,
        degradations: bool = True,
        jpeg_quality: Sequence[int] = OFFICIAL_EVAL_JPEG_QUALITIES,
        jpeg_quality_range: tuple[int, int] | None = None,
        before_crops: PixelOp | None = None,
        per_crop: PixelOp | None = None,
        crops: CropMaker | None = None,
    ) -> None:
        _check_choice(crop, EVAL_CROPS, "evaluation crop strategy")
        self.before_crops = before_crops
        self.per_crop = per_crop
        self.crops = crops
        self.input_size = int(input_size)
        self.crop = crop
        self.seed = int(seed)
        self.maximum_processing_size = maximum_processing_size
        self.degradations = (
            EvaluationDegradations(jpeg_quality, jpeg_quality_range) if degradations else None
        )

    decodes_regions = True
    """The datasets may pass an :class:`EncodedImage` (set False in a subclass that needs the
    decoded pixels before crop-if-large)."""

    def degrade(
        self, image: np.ndarray | EncodedImage, image_id: int, trace: Trace = None
    ) -> np.ndarray:
        image = decoded_crop_if_large(image, self.maximum_processing_size)
        if self.degradations is None:
            return image
        rng = sample_rng(Stream.EVALUATION, self.seed, image_id)
        return self.degradations(image, rng, trace)

    def degradation_plan(self, image_id: int) -> DegradationPlan | None:
        """The mandatory degradations image ``image_id`` gets (None: degradations off), from
        (seed, image ID) alone: the same draws :meth:`degrade` makes, without any pixel."""
        if self.degradations is None:
            return None
        return self.degradations.draw(sample_rng(Stream.EVALUATION, self.seed, image_id))

    def degradation_codes(self, image_ids: Sequence[int] | np.ndarray) -> np.ndarray | None:
        """One code per image ID (``aigenbench.protocol.degradations``), or None when off."""
        if self.degradations is None:
            return None
        codes = [self.degradation_plan(int(i)).code for i in image_ids]  # type: ignore[union-attr]
        return np.asarray(codes, dtype=np.int16)

    def make_crops(self, image: np.ndarray) -> list[np.ndarray]:
        size = self.input_size
        if self.crops is not None:
            return list(self.crops(image, size))
        if self.crop == "resize":
            return [ops.resize(image, size, size, "bilinear")]
        if self.crop == "crop":
            return [ops.center_crop(image, size)]
        if self.crop == "multicrop":
            height, width = image.shape[:2]
            if height >= size and width >= size and (height > size or width > size):
                return ops.five_crop(image, size)
            return [ops.center_crop(image, size)]
        return [image]

    @property
    def max_crops(self) -> int | None:
        """The most crops an image can get (None: a method's own crop maker, not known)."""
        if self.crops is not None:
            return None
        return 5 if self.crop == "multicrop" else 1

    def placeholder(self) -> list[torch.Tensor]:
        """What an unreadable image becomes: one black crop at the input size."""
        return [torch.zeros((3, self.input_size, self.input_size), dtype=torch.uint8)]

    def __call__(self, image: np.ndarray | EncodedImage, image_id: int) -> list[torch.Tensor]:
        image = self.degrade(image, image_id)
        if self.before_crops is not None:  # a method's augmentation, after the degradations
            image = self.before_crops(image, sample_rng(Stream.EVALUATION, self.seed, image_id, 1))
        crops = self.make_crops(image)
        if self.per_crop is not None:
            crops = [
                self.per_crop(crop, sample_rng(Stream.EVALUATION, self.seed, image_id, 2, index))
                for index, crop in enumerate(crops)
            ]
        return [ops.to_tensor(crop) for crop in crops]
