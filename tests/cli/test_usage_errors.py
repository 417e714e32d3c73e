"""Usage errors that say the fix: a missing backbone, a wrong choice or type, a near-miss
shorthand, and shipped config names for every command's --config."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dataset", "demo_data"], "no backbone: add a model config (--config models/"),
        (
            ["--backbone", "small:cnn", "--model.freezing", "probes"],
            "--model.freezing: probes is not one of probe, tune, staged, lora. "
            "Did you mean: probe?",
        ),
        (
            ["--backbone", "small:cnn", "--model.input_size", "abc"],
            "--model.input_size: abc is not a whole number",
        ),
        (["--backbone", "small:cnn", "--datset", "x"], "Did you mean: dataset?"),
    ],
)
def test_fit_usage_errors_are_one_sentence_with_the_fix(run_cli, args, expected):
    result = run_cli("fit", *args)
    assert result.exit_code == 2
    assert expected in result.err
    assert "Parser key" not in result.err and "typing.Literal" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_every_command_resolves_shipped_config_names(run_cli):
    # `demo` is found (its experiment keys are then not evaluate's settings), a typo is named
    shipped = run_cli("evaluate", "--config", "demo", "runs/x")
    assert "does not exist" not in shipped.err and "model." in shipped.err
    typo = run_cli("evaluate", "--config", "demoo", "runs/x")
    assert (
        typo.exit_code == 2 and "config file demoo does not exist. Did you mean: demo?" in typo.err
    )
