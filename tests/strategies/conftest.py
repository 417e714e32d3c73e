"""Fixtures of the strategy tests: a tiny continual benchmark, its plan and a tiny detector."""

from __future__ import annotations

from pathlib import Path

import pytest

from aigenbench.data.synth import SynthConfig, build_synthetic

TINY = SynthConfig(seed=5, size=32, per_generator=16, validation_per_generator=8, generators=8)
"""8 generators = 2 windows of 4; 128 training rows per window, 32x32 px."""


@pytest.fixture(scope="session")
def continual_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "tiny"
    build_synthetic(out, TINY)
    return out


@pytest.fixture(scope="session")
def continual_plan(continual_benchmark: Path):
    from aigenbench.data.sources import open_source
    from aigenbench.protocol import ProtocolConfig, make_plan

    source = open_source(continual_benchmark)
    return make_plan(
        source.generators("train"),
        source.generators("validation"),
        ProtocolConfig(benchmark_type="continual_learning"),
        source.timeline,
    )
