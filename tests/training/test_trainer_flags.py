"""Lightning Trainer arguments reach the Trainer of every window (``--trainer.<name>``)."""

from __future__ import annotations

import json

from tests.training.conftest import fit_args


def test_fast_dev_run_trains_one_batch_per_window_and_still_scores_every_image(
    run_cli, tiny_benchmark, tiny_config, tmp_path
):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "dev"), "--trainer.fast_dev_run", "true"
    )
    assert result.exit_code == 0, result.err
    for window in (0, 1):
        done = json.loads((tmp_path / "dev" / f"window_{window}" / "DONE").read_text())
        assert done["steps"] == 1  # without fast_dev_run: 16 steps (256 images / batch 16)
        assert done["n_eval"] == 128
    config = (tmp_path / "dev" / "config.yaml").read_text()
    assert "fast_dev_run: true" in config
