"""The training progress bar: one tqdm line per window and epoch, with an ETA and the loss."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar


class WindowProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar without the logger's version number (here it is the window name)."""

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, int | str | float | dict]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
