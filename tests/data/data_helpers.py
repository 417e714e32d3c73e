"""Small helpers of the data tests (``tests.data.data_helpers``)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def random_image(height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def encode(array: np.ndarray | Image.Image, fmt: str = "PNG", **options) -> bytes:
    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    stream = io.BytesIO()
    image.save(stream, format=fmt, **options)
    return stream.getvalue()
