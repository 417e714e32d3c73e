"""Two CPU processes (DDP over gloo) give the predictions of one process."""

from __future__ import annotations

import numpy as np

from tests.training.conftest import fit_on_one_and_two_processes, load_predictions, write_config


def test_two_processes_score_like_one(tiny_benchmark, tmp_path):
    # A frozen backbone (probe, BatchNorm in eval mode) makes the two runs the same model: 2 x 8
    # images per step with averaged gradients are one step of 16.
    config = write_config(tmp_path, freezing="probe")
    two = fit_on_one_and_two_processes(config, tiny_benchmark, tmp_path)
    assert "GLOBAL_RANK: 1" in two.stdout + two.stderr
    for window in (0, 1):
        single = load_predictions(tmp_path / "one", window)
        double = load_predictions(tmp_path / "two", window)
        # every image scored once, in the evaluation order, whatever the number of processes
        np.testing.assert_array_equal(single["identifier"], double["identifier"])
        np.testing.assert_array_equal(single["pairing"], double["pairing"])
        np.testing.assert_allclose(single["crop_scores"], double["crop_scores"], atol=1e-5)
        assert set(single["identifier"].tolist()) == set(double["identifier"].tolist())
    # only rank 0 wrote the directory
    assert (tmp_path / "two" / "window_1" / "DONE").is_file()
