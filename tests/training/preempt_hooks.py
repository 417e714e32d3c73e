"""Sends a cluster's stop sequence to this very process when a named phase of a run starts.

Imported by the run under test through ``--experiment.imports`` (a user's module, as the docs
describe), it wraps the method that begins the phase named by ``AIGENBENCH_TEST_PREEMPT_AT``
and, the first time that phase starts, delivers the requeue signal (SIGUSR1, SLURM's
``--signal=USR1@90``) and then SIGTERM, as SLURM does. Nothing happens when the variable is unset.
"""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from typing import Any

PHASE = os.environ.get("AIGENBENCH_TEST_PREEMPT_AT", "")
_sent = False


def stop_sequence() -> None:
    """SIGUSR1, then SIGTERM (once per process)."""
    global _sent
    if _sent:
        return
    _sent = True
    os.kill(os.getpid(), signal.SIGUSR1)
    os.kill(os.getpid(), signal.SIGTERM)


def wrap(owner: Any, name: str, when: Callable[..., bool], after: bool = False) -> None:
    real = getattr(owner, name)

    @functools.wraps(real)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not after and when(*args, **kwargs):
            stop_sequence()
        result = real(*args, **kwargs)
        if after and when(*args, **kwargs):
            stop_sequence()
        return result

    setattr(owner, name, wrapped)


def install(phase: str) -> None:
    from aigenbench.training.cached_data import FeatureExtraction
    from aigenbench.training.module import DetectorModule
    from aigenbench.training.window import WindowJob

    if phase == "startup":  # while the runner opens the dataset and makes the plan
        stop_sequence()
    elif phase == "first-window-setup":  # window 0's strategy, data and module are being built
        wrap(WindowJob, "strategy", lambda job, *a: job.window == 0)
    elif phase == "training":  # inside window 1's training, at its third batch
        wrap(
            DetectorModule,
            "training_step",
            lambda module, batch, index: module.window == 1 and index == 2,
        )
    elif phase == "evaluation":  # window 0 is trained, its evaluation set half scored
        wrap(
            DetectorModule,
            "validation_step",
            lambda module, batch, index, *a: module.window == 0 and index == 1,
        )
    elif phase == "between-windows":  # window 0 is DONE, window 1 not begun
        wrap(WindowJob, "run", lambda job: job.window == 0, after=True)
    elif phase == "feature-extraction":  # the frozen backbone's cache is being filled
        wrap(FeatureExtraction, "predict_step", lambda module, batch, index: index == 1)
    elif phase:
        raise ValueError(f"unknown phase {phase!r}")


install(PHASE)
