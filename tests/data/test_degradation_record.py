"""The record of each evaluation image's mandatory degradations: what the pixels went through.

Every check is on pixels: turning a step's operation into the identity changes an image's
output exactly when its record says it got that step.
"""

from __future__ import annotations

import numpy as np
import pytest

from aigenbench.data import ops
from aigenbench.data.pipelines import EvalPipeline
from aigenbench.protocol.degradations import DEGRADATION_STEPS, jpeg_count
from tests.data.data_helpers import random_image

IDS = list(range(160))
"""Enough IDs that every step (the rarest: JPEG 3 at 10 %) is met several times."""


def _identity(image, *args, **kwargs):
    return image


@pytest.fixture(scope="module")
def degraded() -> dict[int, np.ndarray]:
    pipeline = EvalPipeline(input_size=32, crop="as_is")
    image = random_image(20, 28, seed=4)  # colourful, not square: a resized crop shows
    return {i: pipeline.degrade(image, i) for i in IDS}


def _codes() -> np.ndarray:
    return EvalPipeline(input_size=32).degradation_codes(IDS)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("step", "operation"),
    [
        ("grayscale", "grayscale"),
        ("noise", "gaussian_noise"),
        ("resized_crop", "resize"),
        ("jpeg", "jpeg"),
    ],
)
def test_an_operation_changes_the_pixels_exactly_when_the_record_has_its_step(
    monkeypatch, degraded, step, operation
):
    codes = _codes()
    bits = jpeg_count(codes) if step == "jpeg" else codes & DEGRADATION_STEPS[step]
    recorded = bits != 0
    assert 0 < recorded.sum() < len(IDS)  # both kinds of image are checked
    monkeypatch.setattr(ops, operation, _identity)
    without = EvalPipeline(input_size=32, crop="as_is")
    image = random_image(20, 28, seed=4)
    for position, image_id in enumerate(IDS):
        unchanged = np.array_equal(without.degrade(image, image_id), degraded[image_id])
        assert unchanged != recorded[position], (image_id, step, int(codes[position]))


def test_recorded_pixels_directly(degraded):
    """Grayscale (without later noise) leaves equal channels; a resized crop a square image; an
    image recorded with no degradation is returned untouched."""
    image = random_image(20, 28, seed=4)
    codes = _codes()
    gray, noise, crop = (DEGRADATION_STEPS[s] for s in ("grayscale", "noise", "resized_crop"))
    for code, image_id in zip(codes.tolist(), IDS, strict=True):
        out = degraded[image_id]
        channels_equal = np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(
            out[..., 1], out[..., 2]
        )
        if code & gray and not code & noise:
            assert channels_equal, image_id
        if not code & gray:
            assert not channels_equal, image_id
        assert (out.shape[0] == out.shape[1] and out.shape[0] >= 256) == bool(code & crop)
        if code == 0:
            np.testing.assert_array_equal(out, image)
    assert 0 in codes.tolist()


def test_the_record_is_keyed_by_image_id_and_seed_not_position():
    ids = np.arange(300)
    codes = EvalPipeline(input_size=32).degradation_codes(ids)
    assert codes is not None and codes.dtype == np.int16
    shuffled = np.random.default_rng(0).permutation(ids)
    again = EvalPipeline(input_size=32).degradation_codes(shuffled)  # another object, order
    np.testing.assert_array_equal(again, codes[shuffled])
    other_seed = EvalPipeline(input_size=32, seed=99).degradation_codes(ids)
    assert not np.array_equal(other_seed, codes)
    # Rates of the protocol's steps, as a sanity check of the encoding.
    assert 0.4 < np.mean((codes & DEGRADATION_STEPS["jpeg1"]) != 0) < 0.6
    assert 0.04 < np.mean((codes & DEGRADATION_STEPS["grayscale"]) != 0) < 0.17


def test_no_record_when_the_degradations_are_off():
    pipeline = EvalPipeline(input_size=32, degradations=False)
    assert pipeline.degradation_plan(3) is None and pipeline.degradation_codes([1, 2]) is None
