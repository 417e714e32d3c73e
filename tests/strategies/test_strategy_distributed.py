"""Two CPU processes (DDP over gloo) with replay give the memory and the predictions of one."""

from __future__ import annotations

import numpy as np
import pytest

from tests.strategies.test_strategy_runs import write
from tests.training.conftest import fit_on_one_and_two_processes, load_predictions

pytestmark = pytest.mark.slow


def test_two_processes_replay_like_one(continual_benchmark, tmp_path):
    # probe: BatchNorm in eval mode, so 2 x 8 images per step with averaged gradients are one
    # step of 16 images
    config = write(tmp_path, "replay", freezing="probe", selection="herding")
    fit_on_one_and_two_processes(config, continual_benchmark, tmp_path)
    state = "window_0/strategy.json"  # herding runs in every process, on every row
    assert (tmp_path / "one" / state).read_text() == (tmp_path / "two" / state).read_text()
    for window in (0, 1):
        single = load_predictions(tmp_path / "one", window)
        double = load_predictions(tmp_path / "two", window)
        np.testing.assert_array_equal(single["identifier"], double["identifier"])
        np.testing.assert_allclose(single["crop_scores"], double["crop_scores"], atol=1e-5)
