"""Replay's memory: balanced, within budget, drawn from (seed, window) only, the same in any
process or worker count, and herding picks what tracks the mean."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
import torch

from aigenbench.protocol import REAL_GENERATOR
from aigenbench.training.strategies import StrategyConfig, WindowContext, build_strategy
from aigenbench.training.strategies.replay import (
    STATE_KEY,
    balanced_quotas,
    herding_order,
    update_memory,
)


def memory_after(plan, window, seed, memory_size=40, previous=None, selection="random", **hooks):
    config = StrategyConfig(name="replay", memory_size=memory_size, selection=selection)
    context = WindowContext(plan, window, seed, previous_state=previous or {})
    strategy = build_strategy(config, context)
    strategy.after_window(hooks.get("module"), hooks.get("batches"), torch.device("cpu"))
    return strategy.state()[0][STATE_KEY]


def test_quotas_share_the_budget_as_equally_as_the_group_sizes_allow():
    assert balanced_quotas([10, 10, 10], 9) == [3, 3, 3]
    assert balanced_quotas([10, 10, 10], 10) == [4, 3, 3]  # the remainder to the first group
    assert balanced_quotas([1, 10, 10], 9) == [1, 4, 4]  # a small group's unused share moves on
    assert balanced_quotas([2, 3], 100) == [2, 3]
    assert balanced_quotas([0, 5], 4) == [0, 4]


def test_memory_is_balanced_within_budget_and_made_of_the_windows_rows(continual_plan):
    plan = continual_plan
    memory = memory_after(plan, 0, seed=1, memory_size=40)
    generator_of = dict(zip(plan.train.ids, plan.train.generators, strict=True))
    rows = [row for group in memory.values() for row in group]
    assert len(rows) == len(set(rows)) == 40
    assert set(rows) <= set(plan.training_ids(0))
    per_generator = Counter(generator_of[row] for row in rows)
    assert per_generator[REAL_GENERATOR] == 20  # half the budget is real
    fakes = {name: n for name, n in per_generator.items() if name != REAL_GENERATOR}
    assert sorted(fakes) == sorted(plan.windows[0]) and set(fakes.values()) == {5}

    # Window 1 adds its generators and its reals: the shares shrink, earlier rows stay a prefix.
    after = memory_after(plan, 1, seed=1, memory_size=40, previous={STATE_KEY: memory})
    rows1 = [row for group in after.values() for row in group]
    assert len(rows1) == 40
    counts = Counter(generator_of[row] for row in rows1)
    assert counts[REAL_GENERATOR] == 20
    assert {n for name, n in counts.items() if name != REAL_GENERATOR} <= {2, 3}
    for key, group in after.items():
        if key in memory:
            assert group == memory[key][: len(group)]
    assert {"real:0", "real:1"} <= set(after)  # the reals of each window share their half
    assert {generator_of[row] for row in rows1} == {
        REAL_GENERATOR,
        *plan.windows[0],
        *plan.windows[1],
    }


def test_memory_depends_on_the_seed_and_window_only(continual_plan):
    first = memory_after(continual_plan, 0, seed=1)
    assert memory_after(continual_plan, 0, seed=1) == first
    assert memory_after(continual_plan, 0, seed=2) != first


def test_memory_is_the_same_in_another_process(continual_plan, continual_benchmark):
    code = f"""
import json, torch
from aigenbench.data.sources import open_source
from aigenbench.protocol import ProtocolConfig, make_plan
from aigenbench.training.strategies import StrategyConfig, WindowContext, build_strategy
source = open_source({str(continual_benchmark)!r})
plan = make_plan(source.generators("train"), source.generators("validation"),
                 ProtocolConfig(benchmark_type="continual_learning"), source.timeline)
strategy = build_strategy(StrategyConfig(name="replay", memory_size=40),
                          WindowContext(plan, 0, 1))
strategy.after_window(None, None, torch.device("cpu"))
print(json.dumps(strategy.state()[0]["replay_memory"]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == memory_after(continual_plan, 0, 1)


def test_herding_picks_rows_whose_running_mean_tracks_the_mean():
    # Unit vectors: the mean points along x; the row closest to it comes first, then the row
    # that brings the running mean back onto it.
    features = torch.tensor([[0.0, 1.0], [1.0, 0.1], [0.6, -0.8], [0.6, 0.8], [-1.0, 0.0]])
    order = herding_order(features, 3)
    normalised = torch.nn.functional.normalize(features.double(), dim=1)
    mean = normalised.mean(0)
    assert order[0] == int(torch.argmin(torch.linalg.vector_norm(normalised - mean, dim=1)))
    second = [
        float(torch.linalg.vector_norm(mean - (normalised[order[0]] + normalised[i]) / 2))
        for i in range(5)
    ]
    second[order[0]] = float("inf")
    assert order[1] == second.index(min(second))
    assert len(set(order)) == 3


@pytest.mark.parametrize("workers", [0, 2])
def test_herding_memory_is_the_same_for_any_number_of_workers(
    continual_plan, continual_benchmark, workers, herding_reference
):
    assert herding_memory(continual_plan, continual_benchmark, workers) == herding_reference


@pytest.fixture(scope="module")
def herding_reference(continual_plan, continual_benchmark):
    return herding_memory(continual_plan, continual_benchmark, 0)


def herding_memory(plan, benchmark, workers):
    from aigenbench.data.config import DataConfig
    from aigenbench.data.datamodule import WindowDataModule
    from aigenbench.models.config import ModelConfig
    from aigenbench.training.module import DetectorModule

    torch.manual_seed(0)
    module = DetectorModule(
        ModelConfig(backbone="small:cnn", pretrained=False, input_size=32),
        plan.generator_names,
    )
    data = WindowDataModule(
        str(benchmark),
        plan,
        0,
        DataConfig(num_workers=workers, train_batch_size=16),
        input_size=32,
    )
    return memory_after(
        plan, 0, seed=1, selection="herding", module=module, batches=data.rows_loader
    )


def test_update_memory_keeps_old_groups_as_prefixes():
    memory = {"real:0": [5, 3, 9, 1], "fake:1": [7, 2, 8, 4]}
    new = {"real:1": [10, 11, 12, 13], "fake:2": [20, 21, 22, 23]}
    updated = update_memory(memory, new, 8, lambda key, rows, count: list(reversed(rows)))
    assert updated == {
        "real:0": [5, 3],
        "real:1": [13, 12],
        "fake:1": [7, 2],
        "fake:2": [23, 22],
    }
