"""Usage errors that say the fix: a missing backbone, a wrong choice or type, a near-miss
shorthand, and shipped config names for every command's --config."""

from __future__ import annotations

import pytest

from tests.cli.conftest import console


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
    # `demo` is found (and named a fit config: see the next test), a typo is named
    shipped = run_cli("evaluate", "--config", "demo", "runs/x")
    assert "does not exist" not in shipped.err and "is a `fit` config" in shipped.err
    typo = run_cli("evaluate", "--config", "demoo", "runs/x")
    assert (
        typo.exit_code == 2 and "config file demoo does not exist. Did you mean: demo?" in typo.err
    )


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "--config", "demo", "runs/x"],
        ["validate", "--config", "demo"],
        ["test", "runs/x", "--config", "demo"],
        ["robustness", "runs/x", "--config=methods/univfd"],
        ["report", "runs/x", "--config", "FILE"],
    ],
)
def test_a_fit_config_given_to_a_command_that_reads_an_experiment_says_what_to_run(args, tmp_path):
    # a fit config of the user's own, named by its path, is told apart as the shipped ones are
    (tmp_path / "mine.yaml").write_text("model:\n  backbone: small:cnn\n")
    args = ["mine.yaml" if arg == "FILE" else arg for arg in args]
    given = next(a.partition("=")[2] or args[i + 1] for i, a in enumerate(args) if "--config" in a)
    result = console(args, tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"aigenbench {args[0]}: error: --config {given} is a `fit` config (it sets "
        + ("model" if given != "demo" else "model, protocol, experiment")
        + f"), and `aigenbench {args[0]}` reads the settings of an experiment that fit made: "
        f"run `aigenbench {args[0]} runs/<experiment-id>` (train one first with `aigenbench fit "
        f"--config {given}`)"
    ]
    assert not (tmp_path / "runs").exists()


def test_a_config_of_the_commands_own_settings_is_still_read(run_cli, tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text("threshold: 0.3\n")
    result = run_cli("evaluate", "--config", own, tmp_path / "none")
    assert "is a `fit` config" not in result.err and "give an experiment directory" in result.err
