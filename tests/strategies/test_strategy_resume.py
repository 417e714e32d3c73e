"""A kill -9 inside a replay (herding) or an EWC window, or a crash between a window's final
weights and its strategy state: the rerun gives the uninterrupted predictions."""

from __future__ import annotations

import shutil
import signal

import pytest

from aigenbench.cli import main
from tests.strategies.test_strategy_runs import write
from tests.training.conftest import assert_same_predictions, fit_args
from tests.training.test_resume import start_fit, wait_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "strategy,selection", [("replay", "herding"), ("ewc", "random")], ids=["replay", "ewc"]
)
def test_kill_9_inside_a_strategy_window_resumes_to_the_same_predictions(
    strategy, selection, continual_benchmark, tmp_path
):
    config = write(tmp_path, strategy, selection=selection)
    assert main(fit_args(config, continual_benchmark, tmp_path / "ref", "run")) == 0
    reference = tmp_path / "ref" / "run"

    killed = tmp_path / "killed"
    process = start_fit(config, continual_benchmark, killed, "run")
    wait_for(lambda: (killed / "run" / "window_1" / "checkpoints" / "last.ckpt").is_file(), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "run" / "window_1" / "DONE").exists(), "killed too late to test"
    assert main(fit_args(config, continual_benchmark, killed, "run")) == 0
    assert_same_predictions(reference, killed / "run", 2)

    # A crash after window 0's final weights but before its strategy state: recomputed equal.
    copy = tmp_path / "copy" / "run"
    shutil.copytree(reference, copy)
    shutil.rmtree(copy / "window_1")
    for name in ("DONE", "strategy.json", "strategy.safetensors", "predictions_validate.npz"):
        (copy / "window_0" / name).unlink(missing_ok=True)
    (copy / ".lock").unlink(missing_ok=True)
    assert main(fit_args(config, continual_benchmark, tmp_path / "copy", "run")) == 0
    assert_same_predictions(reference, copy, 2)
    assert (copy / "window_0" / "strategy.json").read_text() == (
        reference / "window_0" / "strategy.json"
    ).read_text()
