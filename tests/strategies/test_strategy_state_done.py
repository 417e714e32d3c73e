"""A strategy's state is in DONE's checksums: zeroed, swapped or deleted, it is computed again
from final.ckpt (never used as found), and the next window trains as it would have."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aigenbench.cli import main
from tests.strategies.test_strategy_runs import write
from tests.training.conftest import assert_same_predictions, fit_args

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ewc_run(tmp_path_factory: pytest.TempPathFactory, continual_benchmark: Path):
    """A finished two-window EWC experiment (run dir, config)."""
    root = tmp_path_factory.mktemp("ewc")
    config = write(root, "ewc")
    assert main(fit_args(config, continual_benchmark, root / "runs", "run")) == 0
    return root / "runs" / "run", config


def zero(path: Path) -> None:
    path.write_bytes(b"\0" * path.stat().st_size)


def swap_from_window_1(path: Path) -> None:
    shutil.copy(path.parent.parent / "window_1" / path.name, path)


def delete(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("strategy.safetensors", zero),
        ("strategy.safetensors", swap_from_window_1),
        ("strategy.safetensors", delete),
        ("strategy.json", swap_from_window_1),
    ],
    ids=["zeroed-tensors", "swapped-tensors", "deleted-tensors", "swapped-json"],
)
def test_damaged_strategy_state_is_computed_again_from_final_weights(
    ewc_run, continual_benchmark, tmp_path, capsys, damage, name
):
    reference, config = ewc_run
    copy = tmp_path / "runs" / "run"
    shutil.copytree(reference, copy)
    (copy / ".lock").unlink(missing_ok=True)
    damage(copy / "window_0" / name)
    shutil.rmtree(copy / "window_1")  # window 1 trains again, from window 0's state

    assert main(fit_args(config, continual_benchmark, tmp_path / "runs", "run")) == 0
    out = capsys.readouterr().out
    assert f"{copy / 'window_0' / 'DONE'} cannot be trusted ({name}" in out
    assert "which is intact" in out and "its strategy state computed again" in out
    assert "window 0 is trained again" not in out and "the window is trained again" not in out
    for state in ("strategy.json", "strategy.safetensors"):
        assert (copy / "window_0" / state).read_bytes() == (
            reference / "window_0" / state
        ).read_bytes()
    assert_same_predictions(reference, copy, 2)


def test_done_lists_the_strategy_state(ewc_run):
    import json

    reference, _ = ewc_run
    files = json.loads((reference / "window_0" / "DONE").read_text())["files"]
    assert {"strategy.json", "strategy.safetensors"} <= set(files)


def test_a_later_window_alone_is_refused_naming_the_damaged_state(
    ewc_run, continual_benchmark, tmp_path, capsys
):
    reference, config = ewc_run
    copy = tmp_path / "runs" / "run"
    shutil.copytree(reference, copy)
    (copy / ".lock").unlink(missing_ok=True)
    zero(copy / "window_0" / "strategy.safetensors")
    shutil.rmtree(copy / "window_1")
    args = fit_args(config, continual_benchmark, tmp_path / "runs", "run", "--window", "1")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "window(s) 0 are not done (window 0: strategy.safetensors differs" in err
    assert "run them first" in err
    assert not (copy / "window_1" / "DONE").exists()
