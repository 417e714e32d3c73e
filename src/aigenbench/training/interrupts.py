"""Stopping a window cleanly on Ctrl-C or SIGTERM: finish the batch, save ``last.ckpt``, stop.

A signal only raises a flag; the training loop looks at it after each batch, where the state is
consistent (the same point at which periodic checkpoints are taken), so the resumed run continues
exactly where this one stopped. A second Ctrl-C stops at once (no new checkpoint: the rerun
continues from the last one written), with the same exit status 130 and a message.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch

from aigenbench.errors import AigenbenchError


class RunInterrupted(AigenbenchError):
    """Training stopped on a signal after saving a checkpoint; rerunning the command resumes."""

    exit_code = 130


class StoppedAtOnce(RunInterrupted):
    """A second Ctrl-C: stop now, without saving (the last checkpoint written stays valid)."""


class SignalFlag:
    """Installs handlers for SIGINT and SIGTERM that record the signal instead of raising."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalFlag:
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Outside the main thread signals cannot be handled here: they stay as they are.
            with contextlib.suppress(ValueError):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.received == signal.SIGINT:
            # The second Ctrl-C: stop now. Not a KeyboardInterrupt, which Lightning turns into a
            # silent exit(1); checkpoints are written atomically, so stopping mid-write is safe.
            raise StoppedAtOnce(
                "stopped at once on a second Ctrl-C, without saving; the last checkpoint written "
                "is intact. Run the same command again to continue from it."
            )
        if self.received is None:
            # The batch under way finishes first: on a big model on CPU that takes a while.
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            print(
                f"\n{name} received: stopping after the current batch (on a large model on CPU "
                "this can take a minute), then saving last.ckpt; press Ctrl-C again to stop at "
                "once without saving",
                file=sys.stderr,
                flush=True,
            )
        self.received = signum

    def interrupted(self, where: str) -> RunInterrupted:
        name = signal.Signals(self.received or signal.SIGTERM).name
        return RunInterrupted(
            f"stopped on {name} {where}; what is finished is saved. Run the same command again "
            f"to continue from there."
        )

    def raise_if_received(self, where: str) -> None:
        if self.received is not None:
            raise self.interrupted(where)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def any_rank_signalled(flag: SignalFlag, trainer: L.Trainer) -> bool:
    """Whether any process got a signal (every process must stop at the same batch)."""
    local = torch.tensor([1 if flag.received is not None else 0])
    if trainer.world_size > 1:
        local = local.to(trainer.strategy.root_device)
        torch.distributed.all_reduce(local, op=torch.distributed.ReduceOp.MAX)
    return bool(local.item())


class CheckpointOnSignal(L.Callback):
    """After each training batch: if a signal arrived (on any rank), save a checkpoint, stop.

    The stop is raised at the next point the loop reaches (the next batch's start, the end of
    the epoch or of training), not at once: Lightning sends the batch's logged values to the
    loggers after ``on_train_batch_end``, and that batch is in the checkpoint, so a resume never
    trains it again; raising at once would lose its row from the logs.
    """

    def __init__(self, flag: SignalFlag, path: Path) -> None:
        self.flag = flag
        self.path = path
        self._stop: RunInterrupted | None = None

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self._stop is not None or not any_rank_signalled(self.flag, trainer):
            return
        trainer.save_checkpoint(self.path, weights_only=False)
        name = signal.Signals(self.flag.received or signal.SIGTERM).name
        self._stop = RunInterrupted(
            f"stopped on {name} at step {trainer.global_step}; the state is saved in {self.path}. "
            f"Run the same command again to continue from there."
        )

    def _raise_if_stopping(self) -> None:
        if self._stop is not None:
            raise self._stop

    def on_train_batch_start(self, *args: Any, **kwargs: Any) -> None:
        self._raise_if_stopping()

    def on_train_epoch_end(self, *args: Any, **kwargs: Any) -> None:
        self._raise_if_stopping()

    def on_train_end(self, *args: Any, **kwargs: Any) -> None:
        self._raise_if_stopping()


class StopEvaluationOnSignal(L.Callback):
    """During an evaluation or a feature extraction: stop after the batch when a signal arrived
    (nothing to save: a rerun scores the window again from its final weights, and computes the
    features the cache still lacks)."""

    def __init__(self, flag: SignalFlag) -> None:
        self.flag = flag

    def _check(self, trainer: L.Trainer, where: str = "while scoring the evaluation set") -> None:
        if any_rank_signalled(self.flag, trainer):
            raise self.flag.interrupted(where)

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._check(trainer)

    def on_test_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._check(trainer)

    def on_predict_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._check(trainer, "while computing the cached features")


class RunStateCheckpoint(L.Callback):
    """Keeps torch's random state and the world size in checkpoints.

    The random state makes stochastic layers (dropout) resume exactly. It is put back at the
    first training batch after a resume, not when the checkpoint is read: between the two,
    Lightning creates the data iterator, which draws from torch's generator (the uninterrupted
    run made that draw before the checkpoint was taken).
    """

    key = "aigenbench_run_state"

    def __init__(self, world_size: int | None = None) -> None:
        self.world_size = world_size
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict
    ) -> None:
        state: dict[str, Any] = {"cpu": torch.get_rng_state(), "world_size": self.world_size}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state()
        checkpoint[self.key] = state

    def on_load_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict
    ) -> None:
        state = checkpoint.get(self.key)
        self._pending = state if isinstance(state, dict) and "cpu" in state else None

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        state, self._pending = self._pending, None
        if state is None:
            return
        torch.set_rng_state(state["cpu"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])
