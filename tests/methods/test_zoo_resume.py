"""Zoo methods killed with SIGKILL in the middle of a window resume to the predictions of an
uninterrupted run. Covered: NPR (preprocessing), RINE (intermediate tokens, frozen backbone,
cached evaluation features), Effort (SVD residuals, loss terms), LoRA (peft adapters);
UnivFD and CNNDetection train the default network, whose resume tests/training covers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from aigenbench.cli import main
from tests.training.conftest import assert_same_predictions, fit_args
from tests.training.test_resume import wait_for

from .conftest import zoo_yaml

EXTRA = ["--data.augmentation_factor", "2"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["effort", "lora", "npr", "rine"])
def test_kill_9_mid_window_then_rerun_gives_the_uninterrupted_predictions(
    name, tiny_benchmark, tmp_path
):
    config = zoo_yaml(tmp_path, name)
    assert main(fit_args(config, tiny_benchmark, tmp_path, "reference", *EXTRA)) == 0
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aigenbench.cli",
            *fit_args(config, tiny_benchmark, tmp_path, "killed", *EXTRA),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    killed = tmp_path / "killed"
    wait_for(lambda: (killed / "window_1" / "checkpoints" / "last.ckpt").is_file(), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "window_1" / "DONE").exists(), "killed too late to test"
    assert main(fit_args(config, tiny_benchmark, tmp_path, "killed", *EXTRA)) == 0
    assert_same_predictions(tmp_path / "reference", killed, 2)
