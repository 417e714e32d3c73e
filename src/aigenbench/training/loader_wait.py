"""Know when the loader is the bottleneck: how long training waits for data versus computes.

:class:`LoaderWait` times, per training batch, the gap between the end of one step
(``on_train_batch_end``) and the start of the next (``on_train_batch_start``, called once the
next batch is fetched): the time the device waited for the loader. The step itself runs from
``on_train_batch_start`` to ``on_train_batch_end``. On CUDA, kernels run asynchronously, so the
clock is read after ``torch.cuda.synchronize`` (on CUDA only: elsewhere nothing is queued). The
shares are logged per step (``train/data_wait_fraction``, cumulative over the window) and the
window's summary line says when the loader held the device back, with what helps. The first
:data:`WARM_UP` batches of a fit are not timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch

HELD_BACK = 0.25
"""The share of training time spent waiting for data from which the summary says so."""
WARM_UP = 2
"""Batches of a fit not timed: the first fetch starts the workers and the first steps carry
Lightning's one-time set-up (about 0.1 s measured on CPU), neither of which is steady state."""


@dataclass
class WaitTotals:
    """Seconds the training waited for data and computed, over the batches timed."""

    wait: float = 0.0
    compute: float = 0.0
    batches: int = 0

    @property
    def fraction(self) -> float:
        """The share of the training time spent waiting for data (0 when nothing was timed)."""
        total = self.wait + self.compute
        return self.wait / total if total > 0 else 0.0

    def held_back(self, threshold: float = HELD_BACK) -> bool:
        return self.batches > 0 and self.fraction >= threshold

    def advice(self, num_workers: int, pixel_cache: bool) -> str:
        """The sentence for the window's summary line."""
        helps = [f"more data workers (data.num_workers, now {num_workers})"]
        if not pixel_cache:
            helps.append("the pixel cache (data.pixel_cache: true)")
        return (
            f"the loader held the device back: training waited for data "
            f"{100 * self.fraction:.0f}% of its time ({self.wait:.1f} s of "
            f"{self.wait + self.compute:.1f} s); try {' or '.join(helps)}"
        )


def _clock(pl_module: L.LightningModule) -> float:
    device = pl_module.device
    if device.type == "cuda":  # queued kernels belong to the step that launched them
        torch.cuda.synchronize(device)
    return time.perf_counter()


class LoaderWait(L.Callback):
    """Times the training loop's wait for data and its steps (see the module doc)."""

    def __init__(self) -> None:
        self.totals = WaitTotals()
        self._seen = 0
        self._ended: float | None = None
        self._started: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._ended = _clock(pl_module)  # the first batch's fetch is waited for too

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        now = _clock(pl_module)
        if self._ended is not None and self._seen >= WARM_UP:
            self.totals.wait += now - self._ended
        self._started = now

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        now = _clock(pl_module)
        if self._started is not None and self._seen >= WARM_UP:
            self.totals.compute += now - self._started
            self.totals.batches += 1
        self._seen += 1
        self._ended, self._started = now, None
        pl_module.log(
            "train/data_wait_fraction",
            self.totals.fraction,
            on_step=True,
            on_epoch=False,
            batch_size=1,
        )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._ended = None  # the end-of-epoch work (checkpoints) is not a wait for data
