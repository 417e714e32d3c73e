"""File-level traits of an encoded image, read from its header without decoding the pixels.

What a shortcut can hide in: the container format, the JPEG quality (estimated from the
quantisation tables), the size and aspect, the number of bytes. Pillow's ``Image.open`` is lazy:
it parses the header (format, size, JPEG tables) and leaves the pixel data alone.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

TRAIT_NAMES: tuple[str, ...] = (
    "is_jpeg",
    "is_png",
    "is_webp",
    "is_other_format",
    "jpeg_quality",
    "width",
    "height",
    "aspect",
    "log_file_size",
    "bytes_per_pixel",
)
"""One column per trait; an unreadable header gives NaN everywhere but the format columns."""

_IJG_LUMINANCE = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.int64,
)  # fmt: skip
"""The luminance quantisation table of the JPEG standard (Annex K), which libjpeg scales."""


def _ijg_table_sums() -> np.ndarray:
    """Sum of libjpeg's luminance table at each quality 1..100 (its ``jpeg_quality_scaling``)."""
    sums = []
    for quality in range(1, 101):
        scale = 5000 // quality if quality < 50 else 200 - 2 * quality
        table = np.clip((_IJG_LUMINANCE * scale + 50) // 100, 1, 255)
        sums.append(int(table.sum()))
    return np.asarray(sums)


_TABLE_SUMS = _ijg_table_sums()


def estimate_jpeg_quality(luminance_table: Sequence[int]) -> int:
    """The libjpeg quality (1..100) whose scaled standard table is closest to ``luminance_table``
    in total (order-free, so zigzag or natural order alike). Exact for libjpeg/Pillow/OpenCV
    files; an approximation for an encoder with its own tables."""
    total = int(np.sum(np.asarray(luminance_table, dtype=np.int64)))
    return int(np.argmin(np.abs(_TABLE_SUMS - total))) + 1


def file_traits(encoded: bytes) -> np.ndarray:
    """The :data:`TRAIT_NAMES` of one encoded image (float64)."""
    traits = np.full(len(TRAIT_NAMES), np.nan)
    traits[:4] = (0.0, 0.0, 0.0, 1.0)
    traits[8] = math.log1p(len(encoded))
    try:
        with Image.open(io.BytesIO(encoded)) as image:
            fmt = (image.format or "").upper()
            width, height = image.size
            tables = getattr(image, "quantization", None) if fmt == "JPEG" else None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return traits
    traits[:4] = (fmt == "JPEG", fmt == "PNG", fmt == "WEBP", fmt not in ("JPEG", "PNG", "WEBP"))
    if tables:
        traits[4] = estimate_jpeg_quality(tables[min(tables)])
    elif fmt != "JPEG":
        traits[4] = 0.0  # not a JPEG: no quality (a separate value, not "unknown")
    traits[5], traits[6] = width, height
    traits[7] = width / height if height else np.nan
    traits[9] = len(encoded) / (width * height) if width * height else np.nan
    return traits


def traits_matrix(encoded_images: Sequence[bytes]) -> np.ndarray:
    """``[n, len(TRAIT_NAMES)]`` traits of several images."""
    if not encoded_images:
        return np.zeros((0, len(TRAIT_NAMES)))
    return np.stack([file_traits(data) for data in encoded_images])
