"""One CLI: every command parses with jsonargparse, one flag style, readable usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from aigenbench.cli import COMMANDS
from aigenbench.suggest import close_keys


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_and_refuses_unknown_flags_with_exit_2(run_cli, command, tmp_path):
    assert run_cli(command, "--help").exit_code == 0
    (tmp_path / "config.yaml").write_text("model: {backbone: 'small:cnn'}\n")
    extra = {"data": ["synth", "out"], "validate": [tmp_path], "test": [tmp_path]}.get(command, [])
    result = run_cli(command, *extra, "--no_such_flag", "1")
    assert result.exit_code == 2
    assert "no_such_flag" in result.err
    assert "Traceback" not in result.err


def test_nested_key_suggestions():
    keys = ["model.std", "model.freezing", "model.optimizer.init_args.lr", "data.lr_scale"]
    assert close_keys("model.lr", keys)[0] == "model.optimizer.init_args.lr"
    assert close_keys("model.freezng", keys)[0] == "model.freezing"
    assert "data.lr_scale" not in close_keys("model.lr", keys)


def test_a_misplaced_key_suggests_where_it_lives(run_cli):
    result = run_cli("fit", "--model.backbone", "small:cnn", "--model.lr", "0.1")
    assert result.exit_code == 2
    assert "Did you mean: model.optimizer.init_args.lr" in result.err


def test_a_union_field_error_is_readable(run_cli):
    result = run_cli("fit", "--model.backbone", "small:cnn", "--model.unfreeze_at", "{window:2}")
    assert result.exit_code == 2
    assert "--model.unfreeze_at: {window:2} is not a valid value" in result.err
    assert "{window: 2}" in result.err
    assert "Union" not in result.err


def test_lightning_trainer_arguments_pass_through(tmp_path):
    from aigenbench.commands._config import parse_config
    from aigenbench.config import trainer_passthrough

    config = parse_config(
        [
            "--model.backbone=small:cnn",
            "--trainer.fast_dev_run=true",
            "--trainer.max_time=00:00:05:00",
            "--trainer.benchmark=true",
            "--seed_everything=7",
        ]
    )
    assert config.experiment.seed == 7
    assert config.raw["trainer"]["fast_dev_run"] is True  # recorded in config.yaml
    fit = trainer_passthrough(config, "fit")
    assert fit == {"fast_dev_run": True, "max_time": "00:00:05:00", "benchmark": True}
    assert trainer_passthrough(config, "evaluate") == {"benchmark": True}
    # Lightning's defaults are not recorded: experiment ids of existing settings do not move
    plain = parse_config(["--model.backbone=small:cnn"])
    assert "fast_dev_run" not in plain.raw["trainer"] and plain.lightning == {}


def test_an_evaluation_that_would_skip_images_is_refused(run_cli):
    result = run_cli("fit", "--model.backbone", "small:cnn", "--trainer.limit_val_batches", "3")
    assert result.exit_code == 2
    assert "protocol.validation_subset_size" in result.err


def test_config_file_and_print_config_on_a_plain_command(run_cli, tmp_path):
    settings = tmp_path / "windows.yaml"
    settings.write_text("per_window: 12\njson: true\n")
    result = run_cli("windows", "--config", settings)
    assert result.exit_code == 0
    assert len(yaml.safe_load(result.out)["windows"]) == 3  # 36 generators / 12
    printed = run_cli("windows", "--config", settings, "--per_window", "6", "--print_config")
    assert yaml.safe_load(printed.out)["per_window"] == 6


def test_dashed_spelling_reads_as_the_underscored_flag(run_cli):
    dashed = run_cli("windows", "--per-window", "12", "--json")
    assert dashed.out == run_cli("windows", "--per_window", "12", "--json").out


def test_a_closed_pipe_is_not_a_traceback():
    """``aigenbench windows --json | head``: the reader leaves before the output is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aigenbench.cli", "windows", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # the reader is gone before the command writes
    stderr = process.stderr.read()
    assert process.wait() == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
