"""Knowing when the loader is the bottleneck: the wait for data is timed apart from the steps,
logged, and named in the window's summary line with what helps."""

from __future__ import annotations

import csv
import time
from typing import Any

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from aigenbench.training.loader_wait import WARM_UP, LoaderWait, WaitTotals

from .conftest import fit_args


class Samples(Dataset):
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> torch.Tensor:
        time.sleep(self.delay)
        return torch.full((4,), float(index))


class Model(L.LightningModule):
    def __init__(self, step_seconds: float) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.step_seconds = step_seconds

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        time.sleep(self.step_seconds)
        return self.layer(batch).pow(2).mean()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _timed(delay: float, step_seconds: float) -> WaitTotals:
    wait = LoaderWait()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[wait],
    )
    trainer.fit(Model(step_seconds), DataLoader(Samples(delay), batch_size=2))
    return wait.totals


def test_a_slow_loader_is_seen_waiting_for():
    totals = _timed(delay=0.03, step_seconds=0.0)  # 60 ms per batch to load, ~1 ms to train
    assert totals.batches == 8 - WARM_UP
    assert totals.wait >= (8 - WARM_UP) * 0.06 * 0.9
    assert totals.held_back() and totals.fraction > 0.6
    advice = totals.advice(num_workers=0, pixel_cache=False)
    assert "data.num_workers, now 0" in advice and "data.pixel_cache: true" in advice


def test_a_fast_loader_is_not_blamed():
    totals = _timed(delay=0.0, step_seconds=0.1)  # instant batches, 100 ms steps
    assert totals.compute >= (8 - WARM_UP) * 0.1 * 0.9
    assert not totals.held_back()  # what remains is Lightning's own work between steps


def test_fit_names_a_slow_loader_in_the_windows_summary_and_logs_the_share(
    run_cli, tiny_benchmark, tiny_config, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    from aigenbench.data import datamodule

    original = datamodule.collate_training

    def slow(samples: Any) -> Any:
        time.sleep(8.0)  # far slower than a tiny model's step, even on a busy machine
        return original(samples)

    monkeypatch.setattr(datamodule, "collate_training", slow)
    runs = tmp_path / "runs"
    steps = ("--trainer.max_steps", str(WARM_UP + 1), "--experiment.window", "0")
    result = run_cli(*fit_args(tiny_config, tiny_benchmark, runs, "slow", *steps))
    assert result.exit_code == 0, result.err
    text = result.out + result.err
    lines = [line for line in text.splitlines() if line.startswith("window 0: AUROC")]
    assert lines and "the loader held the device back" in lines[0]
    assert "data.num_workers, now 0" in lines[0]
    with open(runs / "slow" / "logs" / "csv" / "window_0" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    shares = [float(r["train/data_wait_fraction"]) for r in rows if r["train/data_wait_fraction"]]
    assert shares and 0.25 <= shares[-1] <= 1.0
