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
