"""The robustness sweep's pixels: one controlled degradation, the protocol's own off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aigenbench.data.controlled import ControlledDegradation, check_strength
from aigenbench.data.pipelines import EvalPipeline
from aigenbench.errors import ConfigError

IDS = range(12)


def _pixels(pipeline, photo, image_id) -> torch.Tensor:
    (crop,) = pipeline(photo, image_id)
    return crop


def _distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().mean())


@pytest.mark.parametrize(("kind", "identity"), [("blur", 0), ("noise", 0), ("resize", 1)])
def test_identity_strength_gives_the_clean_pixels_without_the_protocol_degradations(
    photo, kind, identity
):
    clean = EvalPipeline(input_size=32, degradations=False)
    protocol = EvalPipeline(input_size=32)
    controlled = ControlledDegradation(kind, identity, input_size=32)
    changed_by_protocol = 0
    for image_id in IDS:
        pixels = _pixels(controlled, photo, image_id)
        assert torch.equal(pixels, _pixels(clean, photo, image_id))
        changed_by_protocol += not torch.equal(pixels, _pixels(protocol, photo, image_id))
    assert changed_by_protocol > 0  # the protocol's degradations would have changed some


@pytest.mark.parametrize(
    ("kind", "strengths"),
    [
        ("jpeg", (95, 60, 20)),
        ("resize", (0.8, 0.4, 0.15)),
        ("blur", (0.5, 1.5, 4.0)),
        ("noise", (0.01, 0.05, 0.2)),
    ],
)
def test_stronger_degradations_move_the_pixels_further(photo, kind, strengths):
    clean = _pixels(EvalPipeline(input_size=48, degradations=False), photo, 3)
    distances = [
        _distance(_pixels(ControlledDegradation(kind, s, input_size=48), photo, 3), clean)
        for s in strengths
    ]
    assert distances[0] > 0
    assert distances == sorted(distances), distances


def test_noise_is_keyed_by_image_id(photo):
    pipeline = ControlledDegradation("noise", 0.05, input_size=32)
    again = ControlledDegradation("noise", 0.05, input_size=32)
    assert torch.equal(_pixels(pipeline, photo, 4), _pixels(again, photo, 4))
    assert not torch.equal(_pixels(pipeline, photo, 4), _pixels(pipeline, photo, 5))


def test_strengths_outside_their_range_are_refused():
    for kind, value in [("jpeg", 0), ("jpeg", 75.5), ("resize", 0), ("blur", -1), ("noise", 2)]:
        with pytest.raises(ConfigError, match=kind):
            check_strength(kind, value)
    with pytest.raises(ConfigError, match="unknown degradation kind"):
        check_strength("sharpen", 1)
    assert check_strength("jpeg", 75) == 75.0
    assert np.isclose(check_strength("noise", 0.02), 0.02)
