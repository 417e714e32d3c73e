"""Interrupted runs resume to exactly the predictions of an uninterrupted one (CPU)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aigenbench.cli import main
from tests.training.conftest import assert_same_predictions, fit_args, write_config

# Enough steps per window that a kill lands mid-training: window 1 has 256 images x 2 copies.
EXTRA = ["--data.augmentation_factor", "2"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_benchmark):
    root = tmp_path_factory.mktemp("reference")
    config = write_config(root)
    assert main(fit_args(config, tiny_benchmark, root, "ref", *EXTRA)) == 0
    return root / "ref", config


def start_fit(config: Path, dataset: Path, runs: Path, experiment: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aigenbench.cli",
            *fit_args(config, dataset, runs, experiment, *EXTRA),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before the kill point:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the kill point never came")
        time.sleep(0.005)


KILL_POINTS = {
    # a periodic checkpoint of window 1 exists: killed in the middle of its training
    "mid-window": lambda run: (run / "window_1" / "checkpoints" / "last.ckpt").is_file(),
    # window 0 is finished: killed between windows (or at the very start of window 1)
    "between-windows": lambda run: (run / "window_0" / "DONE").is_file(),
    # window 0 has started: killed before its first checkpoint
    "first-steps": lambda run: (run / "window_0" / "membership.json").is_file(),
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_then_rerun_gives_the_uninterrupted_predictions(
    point, reference, tiny_benchmark, tmp_path
):
    reference_dir, config = reference
    process = start_fit(config, tiny_benchmark, tmp_path, "killed")
    wait_for(lambda: KILL_POINTS[point](tmp_path / "killed"), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "window_1" / "DONE").exists(), "killed too late to test"
    assert main(fit_args(config, tiny_benchmark, tmp_path, "killed", *EXTRA)) == 0
    assert_same_predictions(reference_dir, tmp_path / "killed", 2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_signal_saves_a_checkpoint_and_the_rerun_continues(
    signum, reference, tiny_benchmark, tmp_path
):
    reference_dir, config = reference
    run_dir = tmp_path / "stopped"
    process = start_fit(config, tiny_benchmark, tmp_path, "stopped")
    # Inside window 1's training (a periodic checkpoint exists): the stop saves at the batch.
    # A signal before a window trains stops there, with nothing to save (test_preemption.py).
    last = run_dir / "window_1" / "checkpoints" / "last.ckpt"
    wait_for(last.is_file, process)
    process.send_signal(signum)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "Run the same command again to continue" in output
    assert "Traceback" not in output
    assert last.is_file()
    assert not (run_dir / "window_1" / "DONE").exists()
    assert main(fit_args(config, tiny_benchmark, tmp_path, "stopped", *EXTRA)) == 0
    assert_same_predictions(reference_dir, run_dir, 2)


def test_crash_after_training_before_done_is_finished_from_final_weights(
    reference, tiny_benchmark, tmp_path
):
    """The state a crash leaves between final.ckpt and DONE: the rerun only scores the window."""
    reference_dir, config = reference
    copy = tmp_path / "copy"
    shutil.copytree(reference_dir, copy)
    for name in ("DONE", "predictions_validate.npz", "metrics.json"):
        (copy / "window_1" / name).unlink()
    (copy / ".lock").unlink(missing_ok=True)
    assert main(fit_args(config, tiny_benchmark, tmp_path, "copy", *EXTRA)) == 0
    done = json.loads((copy / "window_1" / "DONE").read_text())
    reference_done = json.loads((reference_dir / "window_1" / "DONE").read_text())
    assert (done["steps"], done["epochs"]) == (reference_done["steps"], reference_done["epochs"])
    assert done["world_size"] == reference_done["world_size"] == 1
    assert_same_predictions(reference_dir, copy, 2)
