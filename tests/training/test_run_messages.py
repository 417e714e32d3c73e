"""What ``fit`` says in a terminal or a log file: no noise, no nonsense for one window or copy."""

from __future__ import annotations

from tests.training.conftest import fit_args, run_aigenbench


def test_one_step_one_copy_run_says_it_plainly(tiny_benchmark, tiny_config, tmp_path, run_cli):
    done = run_aigenbench(
        fit_args(
            tiny_config,
            tiny_benchmark,
            tmp_path,
            "whole",
            "--config",
            "protocol/full_training",
            "--data.augmentation_factor",
            "1",
            "--protocol.train_subset_size",
            "64",
            "--trainer.log_every_n_steps",
            "50",  # more than the 4 steps of the run
        )
    )
    assert done.returncode == 0, done.stderr
    assert "64 training images, " in done.stdout  # not "x 1 copies"
    assert "copies" not in done.stdout
    assert "logging interval" not in done.stderr
    tables = run_cli("evaluate", tmp_path / "whole").out
    assert "0..-1" not in tables
    assert "one training step, no future window" in tables


def test_augmented_copies_are_named(tiny_benchmark, tiny_config, tmp_path, run_cli):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "four", "--window", "0"),
        "--data.augmentation_factor",
        "2",
        "--trainer.max_steps",
        "1",
    )
    assert result.exit_code == 0, result.err
    assert "training images x 2 augmented copies" in result.out
