"""The training feature cache is not used when the augmentation has a stochastic part: its
draws change with the epoch and window, a cached feature would freeze them."""

from __future__ import annotations

import pytest

from tests.training.conftest import assert_same_predictions, fit_args, write_config

pytestmark = pytest.mark.slow

STOCHASTIC = ["--data.stochastic_augmentation", "true", "--trainer.max_epochs", "2"]


def test_stochastic_augmentation_with_a_frozen_backbone_equals_an_uncached_run(
    run_cli, tiny_benchmark, tmp_path
):
    config = write_config(tmp_path, freezing="probe")
    auto = run_cli(*fit_args(config, tiny_benchmark, tmp_path, "auto", *STOCHASTIC))
    assert auto.exit_code == 0, auto.err
    off = run_cli(
        *fit_args(config, tiny_benchmark, tmp_path, "off", *STOCHASTIC),
        "--experiment.feature_cache",
        "off",
    )
    assert off.exit_code == 0, off.err
    assert_same_predictions(tmp_path / "off", tmp_path / "auto", 2)
    assert not (tmp_path / "auto" / "features" / "train").exists()
