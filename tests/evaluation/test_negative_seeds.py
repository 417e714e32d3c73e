"""A negative seed is refused in one sentence by every command that takes one (NumPy's
SeedSequence takes whole numbers >= 0 only: without the check it was a traceback)."""

from __future__ import annotations

import pytest

from aigenbench.errors import ConfigError
from aigenbench.evaluation.intervals import IntervalOptions


@pytest.mark.parametrize(
    "args",
    [
        ("evaluate", "RUN", "--intervals", "bootstrap", "--seed", "-1"),
        ("compare", "RUN", "RUN", "--seed", "-1"),
        ("data", "synth", "OUT", "--seed", "-1"),
    ],
    ids=["evaluate", "compare", "data-synth"],
)
def test_a_negative_seed_is_refused_in_one_sentence(run_cli, our_run, tmp_path, args):
    args = tuple(
        str(our_run) if a == "RUN" else str(tmp_path / "o") if a == "OUT" else a for a in args
    )
    result = run_cli(*args)
    assert result.exit_code == 2
    assert "must be" in result.err and ">= 0, got -1" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_the_interval_options_refuse_a_negative_seed():
    with pytest.raises(ConfigError, match="bootstrap seed must be a whole number >= 0, got -1"):
        IntervalOptions("bootstrap", seed=-1)
    assert IntervalOptions("bootstrap", seed=0).seed == 0
