"""Strategies through the runner: replay feeds past rows, costs are recorded, a kill -9 inside
a replay or an EWC window resumes to the uninterrupted predictions, LwF runs on cached features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aigenbench.cli import main
from aigenbench.training.module import DetectorModule
from tests.training.conftest import assert_same_predictions, fit_args

pytestmark = pytest.mark.slow

CONFIG = """\
protocol:
  benchmark_type: continual_learning
model:
  backbone: small:cnn
  pretrained: false
  freezing: {freezing}
  input_size: 32
data:
  train_batch_size: 16
  eval_batch_size: 64
  num_workers: 0
  augmentation_factor: 2
  stochastic_augmentation: false
trainer:
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  log_every_n_steps: 1
experiment:
  checkpoint_every_n_steps: 2
  loggers: [csv]
strategy:
  name: {strategy}
  memory_size: 40
  selection: {selection}
"""


def write(directory: Path, strategy: str, freezing: str = "tune", selection: str = "random"):
    path = directory / f"{strategy}_{freezing}_{selection}.yaml"
    path.write_text(CONFIG.format(strategy=strategy, freezing=freezing, selection=selection))
    return path


@pytest.fixture
def seen_rows(monkeypatch):
    """The row IDs of every training batch, per window (what the model was trained on)."""
    seen: dict[int, list[int]] = {}
    original = DetectorModule.training_step

    def recording(self, batch, batch_idx):
        seen.setdefault(self.window, []).extend(batch["id"].tolist())
        return original(self, batch, batch_idx)

    monkeypatch.setattr(DetectorModule, "training_step", recording)
    return seen


@pytest.mark.parametrize("strategy", ["replay", "finetune", "cumulative"])
def test_training_rows_of_the_second_window(
    strategy, seen_rows, continual_benchmark, continual_plan, tmp_path
):
    config = write(tmp_path, strategy)
    assert main(fit_args(config, continual_benchmark, tmp_path, "run")) == 0
    run = tmp_path / "run"
    own0, own1 = set(continual_plan.training_ids(0)), set(continual_plan.training_ids(1))
    seen0, seen1 = set(seen_rows[0]), set(seen_rows[1])
    assert seen0 == own0
    past = seen1 - own1
    done = json.loads((run / "window_1" / "DONE").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["strategy"]["name"] == strategy
    if strategy == "finetune":
        assert seen1 == own1
        assert done["strategy"]["memory_images"] == 0
        assert not (run / "window_0" / "strategy.json").exists()
        return
    if strategy == "cumulative":
        assert seen1 == own0 | own1
        assert done["strategy"]["memory_images"] == len(own0)
        return
    memory = json.loads((run / "window_0" / "strategy.json").read_text())["replay_memory"]
    replayed = {row for group in memory.values() for row in group}
    assert len(replayed) == 40 and replayed <= own0
    assert past == replayed  # every memory row, and nothing else of the past, was trained on
    assert seen_rows[1].count(next(iter(replayed))) == 2  # both augmentation copies
    membership = json.loads((run / "window_1" / "membership.json").read_text())
    assert set(membership["replayed_ids"]) == replayed
    assert done["strategy"]["memory_images"] == 40
    assert summary["strategy"]["windows"]["1"]["memory_images"] == 40


def test_ewc_state_holds_the_final_weights_as_anchor(continual_benchmark, tmp_path):
    from safetensors.torch import load_file

    from aigenbench.models.build import load_detector

    config = write(tmp_path, "ewc")
    assert main(fit_args(config, continual_benchmark, tmp_path, "run", "--window", "0")) == 0
    window = tmp_path / "run" / "window_0"
    # estimating the Fisher leaves the detector as it was (batch-norm statistics included)
    plain = write(tmp_path, "finetune")
    assert main(fit_args(plain, continual_benchmark, tmp_path, "plain", "--window", "0")) == 0
    assert_same_predictions(tmp_path / "plain", tmp_path / "run", 1)
    tensors = load_file(str(window / "strategy.safetensors"))
    detector = load_detector(window / "checkpoints" / "final.ckpt").detector
    for name, parameter in detector.named_parameters():
        torch.testing.assert_close(tensors[f"ewc.anchor.{name}"], parameter.detach())
        assert (tensors[f"ewc.fisher.{name}"] >= 0).all()
    assert any(tensors[k].sum() > 0 for k in tensors if k.startswith("ewc.fisher."))


def test_lwf_on_cached_features_gives_the_predictions_of_images(
    seen_rows, continual_benchmark, tmp_path
):
    config = write(tmp_path, "lwf", freezing="probe")
    assert main(fit_args(config, continual_benchmark, tmp_path, "cached")) == 0
    assert (tmp_path / "cached" / "features").is_dir()
    assert (
        main(
            fit_args(
                config, continual_benchmark, tmp_path, "images", "--experiment.feature_cache", "off"
            )
        )
        == 0
    )
    assert_same_predictions(tmp_path / "cached", tmp_path / "images", 2)
    metrics = (tmp_path / "cached" / "logs" / "csv" / "window_1" / "metrics.csv").read_text()
    header, *rows = metrics.splitlines()
    column = header.split(",").index("train/strategy_penalty_step")
    penalties = [float(r.split(",")[column]) for r in rows if r.split(",")[column]]
    assert penalties and max(penalties) > 0


def test_a_strategy_on_the_cumulative_protocol_is_refused(run_cli, continual_benchmark, tmp_path):
    config = write(tmp_path, "replay")
    result = run_cli(
        *fit_args(
            config, continual_benchmark, tmp_path, "run", "--protocol.benchmark_type", "cumulative"
        )
    )
    assert result.exit_code == 2
    assert "continual_learning" in result.err + result.out
    assert "Traceback" not in result.err


def test_bad_strategy_settings_are_refused(run_cli, continual_benchmark, tmp_path):
    config = write(tmp_path, "ewc")
    result = run_cli(
        *fit_args(config, continual_benchmark, tmp_path, "run", "--strategy.ewc_decay", "1.5")
    )
    assert result.exit_code == 2
    assert "strategy.ewc_decay" in result.err + result.out
