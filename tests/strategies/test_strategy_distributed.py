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


@pytest.mark.parametrize("strategy", ["lwf", "ewc"])
def test_two_processes_distil_and_penalise_like_one(strategy, continual_benchmark, tmp_path):
    """LwF's teacher scores each process's half of a batch; EWC's Fisher is estimated in every
    process on the same rows: the penalties, hence the weights, stay those of one process."""
    config = write(tmp_path, strategy, freezing="probe")
    # a learning rate and strengths at which the strategy visibly changes window 1
    strong = ("--model.optimizer.init_args.lr", "0.05", "--strategy.distillation_weight", "10")
    fit_on_one_and_two_processes(config, continual_benchmark, tmp_path, *strong)
    for window in (0, 1):
        single = load_predictions(tmp_path / "one", window)
        double = load_predictions(tmp_path / "two", window)
        np.testing.assert_array_equal(single["identifier"], double["identifier"])
        np.testing.assert_allclose(single["crop_scores"], double["crop_scores"], atol=1e-4)
    # the strategy acted: window 1 differs from a finetuned one (same seeds, no strategy)
    finetune = write(tmp_path, "finetune", freezing="probe")
    from tests.training.conftest import fit_args, run_aigenbench

    plain = run_aigenbench(
        fit_args(
            finetune,
            continual_benchmark,
            tmp_path,
            "plain",
            "--data.train_batch_size",
            "16",
            *strong,
        )
    )
    assert plain.returncode == 0, plain.stderr
    assert not np.allclose(
        load_predictions(tmp_path / "plain", 1)["crop_scores"],
        load_predictions(tmp_path / "one", 1)["crop_scores"],
        atol=1e-3,
    )
