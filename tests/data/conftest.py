"""Fixtures of the data tests: a tiny synthetic benchmark built once per test session (per worker),
and small encoded images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aigenbench.data.synth import SynthConfig, build_synthetic

TINY = SynthConfig(seed=3, size=32, per_generator=6, validation_per_generator=4, generators=8)
"""8 generators (2 windows of 4), 96 training and 64 validation images of 32x32 px."""


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    build_synthetic(out, TINY)
    return out


@pytest.fixture
def photo() -> np.ndarray:
    """A natural 64x64 photo patch (smooth regions and edges, unlike uniform noise)."""
    from skimage.data import astronaut

    return np.ascontiguousarray(astronaut()[100:164, 180:244])
