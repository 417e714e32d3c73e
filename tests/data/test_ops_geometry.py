"""rot90 and hflip write their pixels out through OpenCV: the same pixels as numpy's views, for
every turn, channel count and memory layout (crops, reversed and transposed views)."""

from __future__ import annotations

import numpy as np
import pytest

from aigenbench.data import ops


def _layouts(channels: int) -> list[np.ndarray]:
    image = np.random.default_rng(channels).integers(0, 256, (13, 21, channels), dtype=np.uint8)
    return [image, image[2:11, 3:17], image[:, ::-1], image.transpose(1, 0, 2), image[::2, ::3]]


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_rot90_and_hflip_give_numpys_pixels_on_every_layout(channels):
    for image in _layouts(channels):
        for turns in range(-1, 6):
            rotated = ops.rot90(image, turns)
            assert rotated.shape == np.rot90(image, turns % 4).shape
            assert np.array_equal(rotated, np.rot90(image, turns % 4)), (turns, image.strides)
        flipped = ops.hflip(image)
        assert flipped.shape == image.shape
        assert np.array_equal(flipped, image[:, ::-1]), image.strides


def test_rot90_and_hflip_return_contiguous_arrays_for_packed_pixels():
    image = np.zeros((8, 6, 3), dtype=np.uint8)[1:7]
    assert ops.rot90(image, 1).flags.c_contiguous
    assert ops.hflip(image).flags.c_contiguous


def _contrast_with_numpys_mean(image: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    mean = int(float(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).mean()) + 0.5)
    return cv2.addWeighted(image, factor, image, 0.0, mean * (1.0 - factor))


def test_contrast_uses_the_exact_mean_of_the_luma():
    rng = np.random.default_rng(7)
    for index in range(60):
        height, width = (int(side) for side in rng.integers(1, 90, 2))
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        if index % 3 == 0:  # a mean on a rounding edge: half the pixels one level up
            image[:] = 100
            image.reshape(-1, 3)[: height * width // 2] = 101
        factor = float(rng.uniform(0.6, 1.4))
        expected = _contrast_with_numpys_mean(image, factor)
        assert np.array_equal(ops.adjust_contrast(image, factor), expected), (height, width)
