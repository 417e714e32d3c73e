"""Preemption at any moment: signals handled for the whole life of a command, SLURM requeue.

A cluster stops a job with a warning signal (SLURM's ``--signal=USR1@90``: the *requeue signal*)
and later SIGTERM. Lightning handles them only inside ``trainer.fit/validate/predict``, while a
run spends real time outside them (data set-up, evaluation bookkeeping, reports), where the
default action of SIGUSR1 kills the process. So the command installs one :class:`SignalFlag`
before anything else and keeps it until it ends: a signal only raises the flag, and the run stops
at its next safe point (inside training: a checkpoint at the batch boundary; elsewhere: the last
finished step, e.g. before a window's training or scoring). Lightning's own SLURM requeue is
turned off (:func:`cluster_plugins`); when the requeue signal stopped the run under SLURM, global
rank 0 calls ``scontrol requeue <job>`` once and the command exits with
:data:`REQUEUED_EXIT_CODE`. The requeued job runs the same command, which resumes.

This module imports no torch, so the CLI can install the handlers before importing anything heavy.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

from aigenbench.errors import AigenbenchError, ConfigError
from aigenbench.suggest import did_you_mean

DEFAULT_REQUEUE_SIGNAL = "SIGUSR1"
INTERRUPTED_EXIT_CODE = 130
REQUEUED_EXIT_CODE = 75
"""sysexits' EX_TEMPFAIL: stopped for now, the job is requeued and continues."""


class RunInterrupted(AigenbenchError):
    """Stopped on a signal at a safe point (what is finished is saved); rerunning resumes."""

    exit_code = INTERRUPTED_EXIT_CODE


class StoppedAtOnce(RunInterrupted):
    """A second Ctrl-C: stop now, without saving (the last checkpoint written stays valid)."""


class Requeued(RunInterrupted):
    """Stopped on the requeue signal under SLURM; the job was requeued and will resume."""

    exit_code = REQUEUED_EXIT_CODE


def parse_signal(name: str | int) -> signal.Signals:
    """``SIGUSR1``, ``USR1`` or ``10`` -> the signal (a ``ConfigError`` naming the choices)."""
    text = str(name).strip().upper()
    if text.isdigit():
        with contextlib.suppress(ValueError):
            return signal.Signals(int(text))
    else:
        text = text if text.startswith("SIG") else f"SIG{text}"
        with contextlib.suppress(KeyError):
            return signal.Signals[text]
    choices = ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGCONT", "SIGURG"]
    raise ConfigError(
        f"experiment.requeue_signal {name!r} is not a signal.{did_you_mean(text, choices)} Use "
        "the one given to sbatch --signal (SIGUSR1 for --signal=USR1@90)"
    )


class SignalFlag:
    """Handlers for SIGINT, SIGTERM and the requeue signal that record the signal, not raise.

    Entered once per command (nested entries are no-ops), so a process never has a moment without
    them. A second Ctrl-C stops at once.
    """

    def __init__(self, requeue_signal: signal.Signals = signal.SIGUSR1) -> None:
        self.received: int | None = None
        """The first signal received (a later one does not replace it)."""
        self.requeue_requested = False
        """Whether the requeue signal arrived (first or later)."""
        self.requeue_signal = requeue_signal
        self.stop: RunInterrupted | None = None
        """The stop a callback prepared (training: where the checkpoint was saved)."""
        self._previous: dict[int, Any] = {}
        self._depth = 0

    def _signals(self) -> tuple[int, ...]:
        return (signal.SIGINT, signal.SIGTERM, self.requeue_signal)

    def _install(self, signum: int) -> None:
        # Outside the main thread signals cannot be handled here: they stay as they are.
        with contextlib.suppress(ValueError):
            previous = signal.signal(signum, self._handle)
            self._previous.setdefault(signum, previous)

    def __enter__(self) -> SignalFlag:
        self._depth += 1
        if self._depth == 1:
            for signum in self._signals():
                self._install(signum)
        return self

    def use_requeue_signal(self, requeue_signal: signal.Signals) -> None:
        """Handle ``requeue_signal`` instead of the current one (``experiment.requeue_signal``)."""
        if requeue_signal == self.requeue_signal:
            return
        old, self.requeue_signal = self.requeue_signal, requeue_signal
        if self._depth:
            if old not in (signal.SIGINT, signal.SIGTERM) and old in self._previous:
                signal.signal(old, self._previous.pop(old))
            self._install(requeue_signal)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.received == signal.SIGINT:
            # The second Ctrl-C: stop now. Not a KeyboardInterrupt, which Lightning turns into a
            # silent exit(1); checkpoints are written atomically, so stopping mid-write is safe.
            raise StoppedAtOnce(
                "stopped at once on a second Ctrl-C, without saving; the last checkpoint written "
                "is intact. Run the same command again to continue from it."
            )
        if signum == self.requeue_signal:
            self.requeue_requested = True
        if self.received is None:
            # The batch under way finishes first: on a big model on CPU that takes a while.
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            again = "; press Ctrl-C again to stop at once without saving"
            print(
                f"\n{name} received: stopping after the current batch (on a large model on CPU "
                "this can take a minute), then saving what is finished"
                + (again if signum == signal.SIGINT else ""),
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

    def any_rank_received(self) -> bool:
        """Whether any process got a signal: every process must stop at the same point."""
        local = self.received is not None
        distributed = sys.modules.get("torch.distributed")
        if (
            distributed is None
            or not distributed.is_available()
            or not distributed.is_initialized()
        ):
            return local
        if distributed.get_world_size() == 1:
            return local
        import torch

        flag = torch.tensor([1 if local else 0])
        if distributed.get_backend() == "nccl":
            flag = flag.cuda()
        distributed.all_reduce(flag, op=distributed.ReduceOp.MAX)
        return bool(flag.item())

    def raise_if_received(self, where: str) -> None:
        """A safe point outside Lightning's loops: stop here if a signal arrived (any rank)."""
        if self.any_rank_received():
            raise self.interrupted(where)

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        for signum, handler in self._previous.items():
            with contextlib.suppress(ValueError):
                signal.signal(signum, handler)
        self._previous.clear()


_ACTIVE: SignalFlag | None = None


def active_flag() -> SignalFlag | None:
    """The flag the running command installed (None: the runner is used as a library)."""
    return _ACTIVE


def launched_as_rank_zero() -> bool:
    """Whether this process is global rank 0, judged before any Trainer exists (env vars)."""
    for variable in ("RANK", "SLURM_PROCID"):
        if variable in os.environ:
            return os.environ[variable] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def under_slurm() -> bool:
    """Lightning's test for a SLURM-managed job (not an interactive ``srun bash``)."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    return bool(SLURMEnvironment.detect())


def slurm_job_id() -> str | None:
    """The id to requeue: ``<array job>_<task>`` for an array job, else the job id."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_job and os.environ.get("SLURM_ARRAY_TASK_ID"):
        return f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def cluster_plugins(flag: SignalFlag | None) -> list[Any]:
    """The Trainer's cluster environment under SLURM, with Lightning's own requeue turned off
    (this module requeues, whatever phase the signal arrives in)."""
    if not under_slurm():
        return []
    from lightning.fabric.plugins.environments import SLURMEnvironment

    requeue_signal = flag.requeue_signal if flag is not None else signal.SIGUSR1
    return [SLURMEnvironment(auto_requeue=False, requeue_signal=requeue_signal)]


def requeue(stop: RunInterrupted, flag: SignalFlag) -> RunInterrupted:
    """What a stop becomes: under SLURM on the requeue signal, rank 0 requeues the job."""
    if isinstance(stop, StoppedAtOnce) or not flag.requeue_requested or not under_slurm():
        return stop
    job = slurm_job_id()
    if job is None or not re.fullmatch(r"[0-9_]+", job):
        return RunInterrupted(f"{stop} SLURM's job id is unknown ({job!r}): resubmit the job.")
    if not launched_as_rank_zero():
        return Requeued(f"{stop} Global rank 0 requeues SLURM job {job}.")
    try:
        done = subprocess.run(
            ["scontrol", "requeue", job], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return RunInterrupted(
            f"{stop} `scontrol requeue {job}` failed ({error}): resubmit the job."
        )
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        return RunInterrupted(
            f"{stop} `scontrol requeue {job}` failed (exit {done.returncode}"
            f"{': ' + reason[-1] if reason else ''}): resubmit the job (is it submitted with "
            "sbatch --requeue?)."
        )
    return Requeued(
        f"{stop} SLURM job {job} is requeued (scontrol requeue {job}): it runs the same command "
        "again, which continues from there."
    )


@contextlib.contextmanager
def preemptible() -> Iterator[SignalFlag]:
    """The whole life of a command: signals raise a flag; a stop on the requeue signal under
    SLURM requeues the job (exit :data:`REQUEUED_EXIT_CODE`)."""
    global _ACTIVE
    flag = SignalFlag()
    with flag:
        _ACTIVE = flag
        try:
            yield flag
        except RunInterrupted as stop:
            raise requeue(stop, flag) from None
        except SystemExit as leaving:
            # Lightning's own SIGTERM handling ends training with SIGTERMException (a SystemExit,
            # status 0) right after the batch our callback saved: it is our stop.
            if type(leaving).__name__ != "SIGTERMException" or flag.received is None:
                raise
            prepared = flag.stop or flag.interrupted("after the current batch")
            raise requeue(prepared, flag) from None
        finally:
            _ACTIVE = None
