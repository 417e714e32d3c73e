"""Image operations on RGB ``uint8`` arrays ``[H, W, 3]``, each equivalent to the one the official
framework uses (torchvision on PIL images, albumentations, OpenCV), written for speed: OpenCV and
torch kernels, no PIL round trip except where PIL is the only exact implementation (Lanczos).

Randomness always comes from a ``numpy.random.Generator`` passed in (see ``seeding``); nothing here
touches a global random state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import cache
from typing import Literal

import numpy as np
import torch
from PIL import Image

from aigenbench.data import jpeg_region
from aigenbench.data.opencv import cv2

Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos"]
JpegEncoder = Literal["opencv", "pillow"]
JPEG_ENCODERS: tuple[JpegEncoder, ...] = ("opencv", "pillow")

_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


# ---------------------------------------------------------------------------------------- geometry


def crop(image: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    return image[top : top + height, left : left + width]


def crop_if_large_box(
    height: int, width: int, max_size: int | None, rng: np.random.Generator | None = None
) -> tuple[int, int, int, int] | None:
    """The ``(top, left, height, width)`` that :func:`crop_if_large` keeps of a ``height`` x
    ``width`` image (None: the whole image), drawing from ``rng`` exactly as it does: the region
    is known from the image's size alone, before any pixel is decoded."""
    if max_size is None or (height <= max_size and width <= max_size):
        return None
    crop_h, crop_w = min(height, max_size), min(width, max_size)
    if rng is None:
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
    else:
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
    return top, left, crop_h, crop_w


def crop_if_large(
    image: np.ndarray, max_size: int | None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Crop to at most ``max_size`` x ``max_size`` (no padding): central when ``rng`` is None,
    else at a random position. Smaller images are returned unchanged."""
    box = crop_if_large_box(image.shape[0], image.shape[1], max_size, rng)
    return image if box is None else crop(image, *box)


def pad_to(image: np.ndarray, height: int, width: int, top: int, left: int) -> np.ndarray:
    """Place ``image`` on a black canvas of ``height`` x ``width`` at ``(top, left)``."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    h, w = image.shape[:2]
    canvas[top : top + h, left : left + w] = image
    return canvas


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """A central ``size`` x ``size`` crop, zero-padded when the image is smaller (torchvision's
    ``CenterCrop``)."""
    height, width = image.shape[:2]
    if height < size or width < size:
        new_h, new_w = max(height, size), max(width, size)
        image = pad_to(image, new_h, new_w, (new_h - height) // 2, (new_w - width) // 2)
        height, width = new_h, new_w
    top = round((height - size) / 2.0)
    left = round((width - size) / 2.0)
    return crop(image, top, left, size, size)


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``size`` x ``size`` crop. A side smaller than ``size`` is first padded with zeros by
    the missing amount on both ends (torchvision ``RandomCrop(pad_if_needed=True)``)."""
    height, width = image.shape[:2]
    if height < size or width < size:
        pad_h, pad_w = max(0, size - height), max(0, size - width)
        image = pad_to(image, height + 2 * pad_h, width + 2 * pad_w, pad_h, pad_w)
        height, width = image.shape[:2]
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return crop(image, top, left, size, size)


def five_crop(image: np.ndarray, size: int) -> list[np.ndarray]:
    """Top-left, top-right, bottom-left, bottom-right and central crops (torchvision order)."""
    height, width = image.shape[:2]
    return [
        crop(image, 0, 0, size, size),
        crop(image, 0, width - size, size, size),
        crop(image, height - size, 0, size, size),
        crop(image, height - size, width - size, size, size),
        center_crop(image, size),
    ]


_CV2_ROTATIONS = {
    1: cv2.ROTATE_90_COUNTERCLOCKWISE,
    2: cv2.ROTATE_180,
    3: cv2.ROTATE_90_CLOCKWISE,
}


def _opencv_layout(image: np.ndarray) -> bool:
    """True when OpenCV takes ``image`` as it is: ``uint8`` ``[H, W, C]`` rows of packed pixels
    (a crop is fine; reversed or transposed views are not)."""
    return (
        image.dtype == np.uint8
        and image.ndim == 3
        and 1 <= image.shape[2] <= 4
        and image.strides[2] == 1
        and image.strides[1] == image.shape[2]
        and image.strides[0] > 0
    )


def rot90(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Rotate counter-clockwise by ``quarter_turns`` x 90 degrees (the canvas follows).

    The pixels of ``np.rot90``, but written out by OpenCV: the resize that follows needs a
    contiguous array, and numpy's copy of a transposed 3-byte-pixel view costs 3-4x more
    (7 ms against 2 ms for 1080 x 1080)."""
    turns = quarter_turns % 4
    if turns and _opencv_layout(image):
        out = cv2.rotate(image, _CV2_ROTATIONS[turns])
        return out.reshape(*out.shape[:2], image.shape[2])  # OpenCV drops a single channel
    return np.rot90(image, turns)


def hflip(image: np.ndarray) -> np.ndarray:
    """Mirror left-right: ``image[:, ::-1]``, written out by OpenCV (as :func:`rot90`)."""
    if _opencv_layout(image):
        return cv2.flip(image, 1).reshape(image.shape)
    return image[:, ::-1]


def resize(
    image: np.ndarray,
    height: int,
    width: int,
    interpolation: Interpolation = "bilinear",
    box: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Resize (optionally the region ``box = (top, left, h, w)``) to ``height`` x ``width``.

    Antialiased like PIL: torch's ``uint8`` antialias kernels for bilinear/bicubic (the very
    kernels torchvision uses, equal to PIL's output), PIL itself for Lanczos and nearest.
    """
    if box is not None:
        image = crop(image, *box)
    if image.shape[0] == height and image.shape[1] == width:
        return image
    if interpolation in ("bilinear", "bicubic"):
        # [1, 3, H, W] view of the HWC buffer: channels-last strides, torch's fast uint8 path.
        tensor = _torch_view(image).permute(2, 0, 1).unsqueeze(0)
        out = torch.nn.functional.interpolate(
            tensor, size=(height, width), mode=interpolation, antialias=True, align_corners=False
        )
        return out[0].permute(1, 2, 0).numpy()
    pil = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(pil.resize((width, height), _PIL_FILTERS[interpolation]))


def random_resized_crop_box(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """The ``(top, left, h, w)`` of torchvision's ``RandomResizedCrop.get_params``: ten tries at a
    random area and log-uniform aspect ratio, then a central crop of the clamped ratio."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


# ------------------------------------------------------------------------------------------ colour


def grayscale(image: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma replicated on 3 channels (``RandomGrayscale``)."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def _blend(
    image: np.ndarray, factor: float, other: np.ndarray | None, constant: float = 0.0
) -> np.ndarray:
    """``factor * image + (1 - factor) * other`` (+ ``constant``), rounded and clipped, like PIL's
    ``ImageEnhance`` (``other=None`` blends with the constant only)."""
    if other is None:
        return cv2.addWeighted(image, factor, image, 0.0, constant)
    return cv2.addWeighted(image, factor, other, 1.0 - factor, constant)


def adjust_brightness(image: np.ndarray, factor: float) -> np.ndarray:
    return _blend(image, factor, None)


def adjust_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    # The mean of the luma, as numpy's gray.mean(): the integer sum is exact in both (OpenCV's
    # sum is twice as fast), divided by the count in float64.
    mean = int(cv2.sumElems(gray)[0] / gray.size + 0.5)
    return _blend(image, factor, None, mean * (1.0 - factor))


def adjust_saturation(image: np.ndarray, factor: float) -> np.ndarray:
    return _blend(image, factor, grayscale(image))


def adjust_hue(image: np.ndarray, factor: float) -> np.ndarray:
    """Shift the hue by ``factor`` of a turn (-0.5..0.5), in 8-bit HSV with wrap-around like
    torchvision's PIL implementation."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)
    shift = int(factor * 255) % 256
    hue = hsv[:, :, 0]
    np.add(hue, np.uint8(shift), out=hue, casting="unsafe")
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def color_jitter(
    image: np.ndarray,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """torchvision ``ColorJitter``: the four adjustments in a random order, each factor drawn
    uniformly in ``[1 - x, 1 + x]`` (hue in ``[-hue, hue]``)."""
    order = rng.permutation(4)
    factors = (
        rng.uniform(max(0.0, 1 - brightness), 1 + brightness),
        rng.uniform(max(0.0, 1 - contrast), 1 + contrast),
        rng.uniform(max(0.0, 1 - saturation), 1 + saturation),
        rng.uniform(-hue, hue),
    )
    adjust = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
    for index in order:
        image = adjust[index](image, factors[index])
    return image


# ------------------------------------------------------------------------------ noise, blur, holes


@cache
def _normal_quantiles() -> np.ndarray:
    from scipy.special import ndtri

    return ndtri((np.arange(1 << 16, dtype=np.float64) + 0.5) / (1 << 16))


def gaussian_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Add zero-mean Gaussian noise of ``std`` (in pixel levels), independent per pixel and channel,
    then clip and truncate to ``uint8`` (albumentations ``GaussNoise``).

    The noise is drawn by inverse CDF from 16-bit uniforms (quantiles of 65,536 equal-probability
    bins): after the truncation to whole levels this is the normal distribution up to 4.2 sigma,
    three times faster than drawing normals.
    """
    table = np.floor(_normal_quantiles() * std).astype(np.int16)
    uniforms = rng.integers(0, 1 << 16, size=image.size, dtype=np.uint16)
    noise = np.take(table, uniforms).reshape(image.shape)
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur as ``scipy.ndimage.gaussian_filter`` (kernel radius ``int(4 sigma + 0.5)``,
    mirror borders); ``sigma`` near 0 is the identity."""
    radius = int(4.0 * sigma + 0.5)
    if radius < 1:
        return image
    size = 2 * radius + 1
    return cv2.GaussianBlur(image, (size, size), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def cutout(
    image: np.ndarray, rng: np.random.Generator, max_side: int = 48, fill: int = 128
) -> np.ndarray:
    """One hole with sides in ``[1, max_side]``, filled with ``fill`` (``CoarseDropout``)."""
    height, width = image.shape[:2]
    hole_h = min(int(rng.integers(1, max_side + 1)), height)
    hole_w = min(int(rng.integers(1, max_side + 1)), width)
    top = int(rng.integers(0, height - hole_h + 1))
    left = int(rng.integers(0, width - hole_w + 1))
    out = image.copy()
    out[top : top + hole_h, left : left + hole_w] = fill
    return out


# -------------------------------------------------------------------------------------------- JPEG


def jpeg(image: np.ndarray, quality: int, encoder: JpegEncoder = "opencv") -> np.ndarray:
    """JPEG-compress and decompress. Quality is clamped to 1..100 (both encoders treat 101 as 100).

    Both encoders are libjpeg(-turbo) with the same defaults (4:2:0, optimised tables off); the
    decoded image is read back with OpenCV's pixels either way (byte-identical to PIL's decoder for
    the same bitstream, which the tests check). With TurboJPEG there, it compresses and decodes
    (:func:`aigenbench.data.jpeg_region.compress_decompress`: the same pixels, faster).
    """
    quality = max(1, min(100, int(quality)))
    if encoder not in JPEG_ENCODERS:
        raise ValueError(f"unknown JPEG encoder {encoder!r}; use one of {JPEG_ENCODERS}")
    # Either encoder's pixels through TurboJPEG's compressor (the same libjpeg-turbo settings,
    # without the BGR or PIL copy: the tests check both, every quality), when it is there.
    pixels = jpeg_region.compress_decompress(image, quality)
    if pixels is not None:
        return pixels
    if encoder == "opencv":
        ok, encoded = cv2.imencode(
            ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG")
        buffer = encoded
    else:
        stream = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(stream, format="JPEG", quality=quality)
        buffer = np.frombuffer(stream.getbuffer(), dtype=np.uint8)
    # libjpeg-turbo's TurboJPEG decoder gives OpenCV's pixels (the tests compare them), faster.
    pixels = jpeg_region.decode(buffer.tobytes())
    if pixels is not None:
        return pixels
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if decoded is None:  # cannot happen for bytes both encoders just wrote
        raise ValueError(f"the {encoder} JPEG encoder wrote bytes OpenCV cannot decode")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def draw_quality(
    rng: np.random.Generator, choices: Sequence[int] | None, span: tuple[int, int] | None
) -> int:
    """A JPEG quality: uniform over ``choices``, or uniform integer in ``span`` (inclusive)."""
    if span is not None:
        return int(rng.integers(span[0], span[1] + 1))
    if not choices:
        raise ValueError("JPEG quality: give a list of qualities or a range")
    return int(choices[int(rng.integers(0, len(choices)))])


# ------------------------------------------------------------------------------------------ tensor


def _torch_view(image: np.ndarray) -> torch.Tensor:
    """A tensor sharing the array's memory (copied only when not contiguous or read-only)."""
    image = np.ascontiguousarray(image)
    if not image.flags.writeable:
        image = image.copy()
    return torch.from_numpy(image)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``[H, W, 3]`` uint8 array -> contiguous ``[3, H, W]`` uint8 tensor."""
    return _torch_view(image).permute(2, 0, 1).contiguous()
