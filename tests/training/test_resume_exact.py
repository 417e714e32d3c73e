"""Stopping between or inside windows changes nothing, and the rerun really continues.

In-process stops at chosen steps (the signal path of ``interrupts.py``, or a simulated
``kill -9`` right after a periodic checkpoint), with a model whose results depend on every
random draw: dropout in the head, staged unfreezing at a step, a multiclass head, stochastic
augmentation. The rerun must give the uninterrupted run's predictions bit for bit AND train only
the steps that were missing (a rerun that restarts the window gives the same predictions, so the
step count is what proves it continued).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from aigenbench.cli import main
from aigenbench.evaluation.experiment import headline_text
from aigenbench.training import interrupts
from aigenbench.training.module import DetectorModule
from tests.training.conftest import assert_same_predictions, fit_args

pytestmark = pytest.mark.slow

STOCHASTIC_YAML = """\
model:
  backbone: timm:test_resnet
  pretrained: false
  freezing: staged
  unfreeze_at: {step: 10}
  backbone_lr_scale: 0.1
  head_dropout: 0.5
  task: multiclass
  input_size: 32
data:
  train_batch_size: 16
  eval_batch_size: 32
  num_workers: 0
  augmentation_factor: 1
  stochastic_augmentation: true
trainer:
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  log_every_n_steps: 1
experiment:
  checkpoint_every_n_steps: 2
  loggers: [csv]
"""


class Killed(Exception):
    """Stands for a kill -9: the process ends without any handler running."""


def write_stochastic_config(directory: Path) -> Path:
    path = directory / "stochastic.yaml"
    path.write_text(STOCHASTIC_YAML)
    return path


@pytest.fixture(scope="module")
def stochastic_reference(tmp_path_factory, tiny_benchmark):
    root = tmp_path_factory.mktemp("stochastic")
    config = write_stochastic_config(root)
    assert main(fit_args(config, tiny_benchmark, root, "ref")) == 0
    return root / "ref", config


def done_steps(run_dir: Path, window: int) -> int:
    return json.loads((run_dir / f"window_{window}" / "DONE").read_text())["steps"]


class StepCounter:
    """Counts the training steps run per window (DetectorModule.training_step calls)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps: dict[int, int] = {}
        real = DetectorModule.training_step

        def counted(module: DetectorModule, batch, batch_idx):
            self.steps[module.window] = self.steps.get(module.window, 0) + 1
            return real(module, batch, batch_idx)

        monkeypatch.setattr(DetectorModule, "training_step", counted)


def signal_at(monkeypatch: pytest.MonkeyPatch, window: int, step: int) -> None:
    """Ctrl-C arrives during window ``window`` once ``step`` optimiser steps are done."""
    real = interrupts.any_rank_signalled

    def fake(flag, trainer):
        module = trainer.lightning_module
        if trainer.training and module.window == window and trainer.global_step == step:
            flag.received = signal.SIGINT
        return real(flag, trainer)

    monkeypatch.setattr(interrupts, "any_rank_signalled", fake)


def kill_after(monkeypatch: pytest.MonkeyPatch, window: int, step: int) -> None:
    """The process dies right after batch ``step`` of ``window`` (its callbacks have run)."""

    def on_train_batch_end(module, *args):
        if module.window == window and module.trainer.global_step == step:
            raise Killed

    monkeypatch.setattr(DetectorModule, "on_train_batch_end", on_train_batch_end, raising=False)


def test_stop_inside_a_window_continues_from_its_step(
    stochastic_reference, tiny_benchmark, tmp_path, monkeypatch
):
    reference, config = stochastic_reference
    args = fit_args(config, tiny_benchmark, tmp_path, "stopped")
    with monkeypatch.context() as patch:
        signal_at(patch, window=1, step=3)
        assert main(args) == 130
    checkpoint = torch.load(
        tmp_path / "stopped" / "window_1" / "checkpoints" / "last.ckpt", weights_only=True
    )
    assert checkpoint["global_step"] == 3
    counter = StepCounter(monkeypatch)
    assert main(args) == 0
    assert counter.steps == {1: done_steps(reference, 1) - 3}, "the rerun did not continue"
    assert_same_predictions(reference, tmp_path / "stopped", 2)


def summary_metrics(run_dir: Path) -> dict:
    """summary.json's metrics, the predictions files' paths left out (other run folders)."""
    metrics = json.loads((run_dir / "summary.json").read_text())["metrics"]
    for window in metrics["per_window"]:
        window.pop("file")
    return metrics


def test_stop_between_windows_changes_nothing(
    stochastic_reference, tiny_benchmark, tmp_path, monkeypatch, capsys
):
    """Window 1 started by a fresh process draws what the uninterrupted run drew; the summary
    and headline, built from window 0's metrics.json read back and window 1's metrics in
    memory, equal the uninterrupted run's (every window in memory)."""
    reference, config = stochastic_reference
    args = fit_args(config, tiny_benchmark, tmp_path, "between")
    assert main([*args, "--window", "0"]) == 0
    counter = StepCounter(monkeypatch)
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert counter.steps == {1: done_steps(reference, 1)}
    assert_same_predictions(reference, tmp_path / "between", 2)
    expected = summary_metrics(reference)
    assert summary_metrics(tmp_path / "between") == expected
    assert f"averaged over time: {headline_text(expected['headline'])}" in printed


def test_periodic_checkpoints_keep_one_name_after_a_resume(
    stochastic_reference, tiny_benchmark, tmp_path, monkeypatch
):
    """Ctrl-C before the first periodic save, then a kill: the rerun resumes from the newest
    state (step 4 of the second run), which is in last.ckpt, never in last-v1.ckpt."""
    reference, config = stochastic_reference
    args = fit_args(config, tiny_benchmark, tmp_path, "names")
    checkpoints = tmp_path / "names" / "window_1" / "checkpoints"
    with monkeypatch.context() as patch:
        signal_at(patch, window=1, step=1)
        assert main(args) == 130
    with monkeypatch.context() as patch:
        kill_after(patch, window=1, step=4)
        with pytest.raises(Killed):
            main(args)
    (tmp_path / "names" / ".lock").unlink(missing_ok=True)
    assert sorted(path.name for path in checkpoints.iterdir()) == ["last.ckpt"]
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 4
    counter = StepCounter(monkeypatch)
    assert main(args) == 0
    assert counter.steps == {1: done_steps(reference, 1) - 4}
    assert sorted(path.name for path in checkpoints.iterdir()) == ["final.ckpt"]
    assert_same_predictions(reference, tmp_path / "names", 2)


def test_window_k_starts_from_window_k_minus_1_final_weights(
    stochastic_reference, tiny_benchmark, tmp_path, monkeypatch
):
    _, config = stochastic_reference
    started: dict[int, dict[str, torch.Tensor]] = {}

    def on_fit_start(module: DetectorModule) -> None:
        started[module.window] = {
            k: v.detach().clone() for k, v in module.detector.state_dict().items()
        }
        real_on_fit_start(module)

    real_on_fit_start = DetectorModule.on_fit_start
    monkeypatch.setattr(DetectorModule, "on_fit_start", on_fit_start)
    args = fit_args(config, tiny_benchmark, tmp_path, "chain")
    assert main([*args, "--window", "0"]) == 0
    assert main(args) == 0  # window 1 in a new "process": loaded from window 0's final.ckpt
    final = torch.load(
        tmp_path / "chain" / "window_0" / "checkpoints" / "final.ckpt", weights_only=True
    )["state_dict"]
    for key, value in started[1].items():
        torch.testing.assert_close(value, final[f"detector.{key}"], rtol=0, atol=0, msg=key)


def test_a_second_ctrl_c_stops_at_once_with_a_message(
    stochastic_reference, tiny_benchmark, tmp_path, monkeypatch, run_cli
):
    """Not Lightning's silent exit 1: status 130, a message, and the rerun still finishes."""
    reference, config = stochastic_reference
    real = interrupts.any_rank_signalled

    def pressed_twice(flag, trainer):
        if trainer.training and trainer.lightning_module.window == 1:
            if trainer.global_step == 3:
                flag._handle(signal.SIGINT, None)
            if trainer.global_step == 5:  # the second press lands before the first is handled
                flag._handle(signal.SIGINT, None)
            return False
        return real(flag, trainer)

    args = fit_args(config, tiny_benchmark, tmp_path, "twice")
    with monkeypatch.context() as patch:
        patch.setattr(interrupts, "any_rank_signalled", pressed_twice)
        result = run_cli(*args)
    assert result.exit_code == 130
    assert "second Ctrl-C" in result.err and "Run the same command again" in result.err
    assert run_cli(*args).exit_code == 0
    assert_same_predictions(reference, tmp_path / "twice", 2)
