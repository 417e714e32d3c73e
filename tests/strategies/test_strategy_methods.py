"""Strategies compose with methods and freezing modes: a zoo method's own loss terms, its own
head (on cached features too) and LoRA adapters, through two continual windows."""

from __future__ import annotations

import pytest

from aigenbench.cli import main
from tests.methods.conftest import zoo_yaml
from tests.training.conftest import fit_args

pytestmark = pytest.mark.slow

STRATEGY = """\
protocol:
  benchmark_type: continual_learning
strategy:
  name: {name}
"""


@pytest.mark.parametrize("method,strategy", [("rine", "lwf"), ("rine", "ewc"), ("lora", "ewc")])
def test_a_strategy_trains_with_a_zoo_method(method, strategy, continual_benchmark, tmp_path):
    config = zoo_yaml(tmp_path, method, STRATEGY.format(name=strategy))
    assert main(fit_args(config, continual_benchmark, tmp_path, "run")) == 0
    run = tmp_path / "run"
    assert (run / "window_1" / "DONE").is_file()
    assert (run / "window_0" / "strategy.json").is_file()
    metrics = (run / "logs" / "csv" / "window_1" / "metrics.csv").read_text()
    header, *rows = metrics.splitlines()
    column = header.split(",").index("train/strategy_penalty_step")
    penalties = [float(r.split(",")[column]) for r in rows if r.split(",")[column]]
    assert penalties and max(penalties) > 0  # the strategy's term reached the method's loss
