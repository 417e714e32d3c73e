"""Training logs that survive a resume and say what happened.

- ``logs/<logger>/window_<k>/``: per optimiser step, the loss, the learning rate of each
  parameter group (``train/lr_head``, ``train/lr_backbone``), whether the backbone is being
  trained (``train/backbone_trainable``: the staged switch is visible) and ``train/images_per_s``.
- ``logs/<logger>/windows/``: per finished window k (the step axis is k), the evaluation metrics
  ``eval/<subset>_auroc`` and ``eval/<subset>_ap`` for next, past, growing and whole.

A resumed window appends to its files: Lightning's CSV logger would delete them ("Previous log
files ... will be deleted"); TensorBoard adds an event file beside the earlier ones; W&B runs
have stable ids and are resumed, W&B's step being the trainer's (offline, each start of a
window is a folder of its own under the window's run id, its steps following on). Steps between
the last checkpoint and a kill are trained again after the resume, so they appear twice in the
curves: what really happened.
"""

from __future__ import annotations

import csv
import re
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

SUBSETS = ("next", "past", "growing", "whole")
WINDOWS_VERSION = "windows"


class AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, continuing an existing ``metrics.csv`` instead of deleting it."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                self.metrics_keys = list(next(csv.reader(handle), []))


class AppendingCSVLogger(CSVLogger):
    """A CSVLogger whose files survive a resume (rows are appended)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> AppendingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment  # type: ignore[return-value]


def wandb_id(experiment_id: str, part: str) -> str:
    """A stable W&B run id (so a rerun resumes the same run): letters, digits, - and _."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"{experiment_id}-{part}")[-120:]


def make_loggers(
    chosen: list[str], logs_dir: Path, version: str, experiment_id: str, wandb_project: str
) -> list[Logger]:
    """The loggers of one window (``version`` ``window_<k>``) or of the window axis."""
    from lightning.pytorch.loggers import TensorBoardLogger

    loggers: list[Logger] = []
    if "tensorboard" in chosen:
        loggers.append(TensorBoardLogger(logs_dir, name="tensorboard", version=version))
    if "csv" in chosen:
        loggers.append(AppendingCSVLogger(logs_dir, name="csv", version=version))
    if "wandb" in chosen:
        loggers.append(
            window_wandb_logger()(
                project=wandb_project,
                group=experiment_id,
                name=f"{experiment_id}/{version}",
                id=wandb_id(experiment_id, version),
                resume="allow",
                save_dir=str(logs_dir),
            )
        )
    return loggers


def window_wandb_logger() -> Any:
    """Lightning's WandbLogger whose run ends with its Trainer: each window (and the window
    axis, at each point) is its own W&B run, grouped by experiment and resumed by its id;
    without the finish, the next window's logger would reuse the run still in progress."""
    from lightning.pytorch.loggers import WandbLogger  # wandb itself: checked by the runner
    from lightning.pytorch.utilities import rank_zero_only

    class WindowWandbLogger(WandbLogger):
        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
            if step is None:
                return super().log_metrics(metrics, step)
            # W&B's own step is the trainer's: a window resumed from its checkpoint continues
            # its run at that step, where W&B alone would count from 0 again in each offline
            # folder (it cannot resume an offline run: wandb/wandb#4624), so the folders of one
            # window line up when synced.
            self.experiment.log({**metrics, "trainer/global_step": step}, step=step)

        def finalize(self, status: str) -> None:
            super().finalize(status)
            if self._experiment is not None:
                self._experiment.finish(exit_code=0 if status == "success" else 1)
                self._experiment = None

    return WindowWandbLogger


def window_metric_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """``eval/<subset>_auroc`` and ``_ap`` of a window's metrics (undefined ones left out)."""
    scalars: dict[str, float] = {}
    for subset in SUBSETS:
        values = metrics.get(subset) or {}
        for name in ("auroc", "ap"):
            value = values.get(name)
            if value is not None:
                scalars[f"eval/{subset}_{name}"] = float(value)
    return scalars


def log_window_metrics(loggers: list[Logger], window: int, metrics: dict[str, Any]) -> None:
    """One point per window on the ``windows`` loggers: step = window index."""
    scalars = window_metric_scalars(metrics)
    for logger in loggers:
        logger.log_metrics(scalars, step=window)
        logger.save()
        logger.finalize("success")


class TrainingRates(L.Callback):
    """Logs each parameter group's learning rate, whether the backbone trains, and images/s.

    Images/s is averaged over the last ``log_every_n_steps`` batches (data loading included).
    """

    def __init__(self, window: int = 20) -> None:
        self._times: deque[tuple[float, int]] = deque(maxlen=window + 1)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._times.clear()
        self._times.append((time.perf_counter(), 0))

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        size = len(batch["label"]) if isinstance(batch, dict) and "label" in batch else 0
        total = self._times[-1][1] + size if self._times else size
        self._times.append((time.perf_counter(), total))
        values: dict[str, float] = {}
        for optimizer in trainer.optimizers:
            for index, group in enumerate(optimizer.param_groups):
                values[f"train/lr_{group.get('name', f'group{index}')}"] = float(group["lr"])
        detector = getattr(pl_module, "detector", None)
        if detector is not None:
            values["train/backbone_trainable"] = 0.0 if detector.backbone_frozen else 1.0
        if len(self._times) > 1:
            (start, first), (end, last) = self._times[0], self._times[-1]
            if end > start:
                values["train/images_per_s"] = (last - first) * trainer.world_size / (end - start)
        for name, value in values.items():
            pl_module.log(name, value, on_step=True, on_epoch=False, batch_size=max(size, 1))
