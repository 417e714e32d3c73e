"""A refused configuration leaves nothing in ``runs/``: every check that can refuse it runs
before the experiment folder is created or its config.yaml written (the console script, run
from a fresh folder, as a user runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import console
from tests.training.conftest import write_config

REFUSED = {
    # a method config, then a model config that swaps its backbone: refused when the model is
    # built (rine needs a ViT)
    "configs in the wrong order": (["--config", "methods/rine", "--config", "TINY"], "ViT"),
    "an unknown generator": (["--config", "TINY", "--timeline", "short.csv"], "SpectraGAN"),
    "an unknown backbone": (
        ["--config", "TINY", "--model.backbone", "timm:no_such_net"],
        "unknown timm model 'no_such_net'",
    ),
    "a Trainer option Lightning refuses": (
        ["--config", "TINY", "--trainer.max_epochs", "-3"],
        "Lightning refuses the trainer settings: `max_epochs`",
    ),
    "an optimizer value": (
        ["--config", "TINY", "--model.optimizer.init_args.lr", "-1"],
        "Invalid learning rate",
    ),
}


def user_folder(tmp_path: Path, dataset: Path) -> Path:
    """A fresh working folder with the tiny config and a timeline that lacks one generator."""
    work = tmp_path / "user"
    work.mkdir()
    write_config(work).rename(work / "tiny.yaml")
    lines = (dataset / "timeline.csv").read_text().splitlines()
    (work / "short.csv").write_text(
        "\n".join(line for line in lines if not line.startswith("SpectraGAN")) + "\n"
    )
    return work


def refused_fit(work: Path, dataset: Path, args: list[str], *extra: str):
    args = [str(work / "tiny.yaml") if arg == "TINY" else arg for arg in args]
    result = console(["fit", *args, "--dataset", str(dataset), *extra], work)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert result.returncode != 0, result.stdout
    assert len(errors) == 1 and errors[0].startswith("aigenbench fit: error: "), result.stderr
    return errors[0]


@pytest.mark.slow
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_configuration_writes_nothing_under_runs(case, tiny_benchmark, tmp_path):
    work = user_folder(tmp_path, tiny_benchmark)
    args, expected = REFUSED[case]
    assert expected in refused_fit(work, tiny_benchmark, args)
    assert not (work / "runs").exists()


@pytest.mark.slow
def test_a_refused_rerun_leaves_the_existing_experiment_as_it_was(tiny_benchmark, tmp_path):
    # An experiment folder whose start stopped before anything trained (its settings could still
    # be replaced by a corrected rerun): a refused rerun must not replace them.
    work = user_folder(tmp_path, tiny_benchmark)
    printed = console(
        ["fit", "--config", "tiny.yaml", "--dataset", str(tiny_benchmark), "--print_config"], work
    )
    assert printed.returncode == 0, printed.stderr
    run_dir = work / "runs" / "mine"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(printed.stdout)
    recorded = (run_dir / "config.yaml").read_bytes()
    method_option = ["--config", "tiny.yaml", "--model.method_args", "{foo: 1}"]
    for args in (REFUSED["a Trainer option Lightning refuses"][0], method_option):
        refused_fit(work, tiny_benchmark, args, "--experiment-id", "mine")
        assert (run_dir / "config.yaml").read_bytes() == recorded
        assert sorted(path.name for path in run_dir.iterdir()) == ["config.yaml"]
