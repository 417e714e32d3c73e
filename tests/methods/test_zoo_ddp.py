"""A zoo method under DDP (two CPU processes, gloo) scores like one process: LoRA's peft
adapters are the only trainable backbone parameters DDP synchronises."""

from __future__ import annotations

import numpy as np
import pytest

from tests.training.conftest import fit_on_one_and_two_processes, load_predictions

from .conftest import zoo_yaml


@pytest.mark.slow
def test_lora_two_processes_score_like_one(tiny_benchmark, tmp_path):
    # no BatchNorm, no dropout: 2 x 8 images per step with averaged gradients are one step of 16
    config = zoo_yaml(tmp_path, "lora")
    window0 = ["--window", "0"]  # one window keeps the two-process start-up the main cost
    fit_on_one_and_two_processes(config, tiny_benchmark, tmp_path, *window0)
    for window in (0,):
        single = load_predictions(tmp_path / "one", window)
        double = load_predictions(tmp_path / "two", window)
        np.testing.assert_array_equal(single["identifier"], double["identifier"])
        np.testing.assert_allclose(single["crop_scores"], double["crop_scores"], atol=1e-5)
    # training moved the adapters (a run that ignored them would also agree with itself)
    first = load_predictions(tmp_path / "one", 0)["crop_scores"]
    assert np.ptp(first) > 1e-4
