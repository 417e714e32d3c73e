"""The progress bars: one tqdm line per window and stage, named after the window, with an ETA."""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm, convert_inf


def stage_label(pl_module: Any, what: str) -> str:
    """``window 3 · epoch 0`` / ``window 3 · scoring``; without a window just ``what``."""
    window = getattr(pl_module, "window", None)
    return what if window is None else f"window {window} · {what}"


def _restart(bar: Any, total: Any, description: str) -> None:
    bar.reset()
    bar.total = convert_inf(total)
    bar.initial = 0
    bar.set_description(description)


class WindowProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar that names the window ("window 3 · epoch 0", "window 3 · scoring")
    instead of "Epoch 0" / "Validation DataLoader 0", without the logger's version number."""

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, int | str | float | dict]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        label = stage_label(trainer.lightning_module, f"epoch {trainer.current_epoch}")
        _restart(self.train_progress_bar, self.total_train_batches, label)

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            total = self.total_val_batches_current_dataloader
            _restart(self.val_progress_bar, total, stage_label(pl_module, "scoring"))

    def on_test_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            total = self.total_test_batches_current_dataloader
            _restart(self.test_progress_bar, total, stage_label(pl_module, "scoring (test)"))

    def on_predict_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            total = self.total_predict_batches_current_dataloader
            _restart(self.predict_progress_bar, total, "scoring images")

    def init_predict_tqdm(self) -> Tqdm:
        # On stderr: `aigenbench predict` writes its CSV on stdout.
        return Tqdm(
            desc="scoring images",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
            bar_format=self.BAR_FORMAT,
        )
