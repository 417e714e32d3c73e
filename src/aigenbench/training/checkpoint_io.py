"""Checkpoint files that are either whole or absent, and choosing the one to resume from.

Every checkpoint of a window (the rolling ``last.ckpt``, ``final.ckpt``, the one saved on a
signal, SLURM's ``hpc_ckpt_*.ckpt``) is written by :class:`AtomicCheckpointIO`: a temporary file
in the checkpoint's own folder, flushed and fsynced, then renamed over the target. A full disk or
a ``kill -9`` mid-write leaves the previous file untouched (Lightning's own writer goes through a
temporary folder, and across filesystems its final move is a copy that can be cut short).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from aigenbench.errors import AigenbenchError
from aigenbench.files import write_atomic

LAST_CHECKPOINT = "last.ckpt"
FINAL_CHECKPOINT = "final.ckpt"
ROLLING_PATTERNS = (LAST_CHECKPOINT, "hpc_ckpt_*.ckpt", "last-v*.ckpt")
"""The checkpoints a window may resume from (``last-v*``: left by older versions)."""
BROKEN_SUFFIX = ".broken"


class CheckpointWriteError(AigenbenchError):
    """A checkpoint could not be written (disk full, quota, permissions)."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What a readable checkpoint says about itself (read without loading its tensors)."""

    path: Path
    global_step: int
    epoch: int
    world_size: int | None
    """Processes that trained it (None: written before this was recorded)."""


class BrokenCheckpoint(Exception):
    """The file is not a whole, readable checkpoint."""


def fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def tensor_bytes(content: Any) -> int:
    """The bytes of the tensors in a (nested) checkpoint: about the size of its file."""
    if isinstance(content, torch.Tensor):
        return int(content.untyped_storage().nbytes())
    if isinstance(content, dict):
        return sum(tensor_bytes(value) for value in content.values())
    if isinstance(content, (list, tuple)):
        return sum(tensor_bytes(value) for value in content)
    return 0


def save_checkpoint_atomic(checkpoint: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """``torch.save`` through a temporary file beside ``path``, fsync, rename.

    Lack of space raises ``DiskFull`` (from ``write_atomic``), whatever torch raised.
    """
    path = Path(path)
    try:
        write_atomic(path, lambda handle: torch.save(checkpoint, handle), tensor_bytes(checkpoint))
    except OSError as error:
        reason = "the disk is full" if error.errno == errno.ENOSPC else str(error)
        kept = f"the previous {path.name} is kept unchanged" if path.exists() else "nothing kept"
        raise CheckpointWriteError(
            f"could not write the checkpoint {path}: {reason} ({kept}). Free some space (or fix "
            "the folder's permissions) and run the same command again: it continues from the "
            "last checkpoint that was written whole."
        ) from error
    fsync_directory(path.parent)
    return path


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic beside its target (see the module's text)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        save_checkpoint_atomic(checkpoint, path)


def inspect_checkpoint(path: Path) -> CheckpointInfo:
    """Open a checkpoint without reading its tensors (memory-mapped) and read its counters.

    A truncated file (full disk, a copy cut short) has no zip directory at its end and fails
    here; so does a file that is not a checkpoint. Raises :class:`BrokenCheckpoint`.
    """
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise BrokenCheckpoint(f"{type(error).__name__}: {str(error).splitlines()[0]}") from None
    if not isinstance(content, dict) or "state_dict" not in content:
        raise BrokenCheckpoint("not a Lightning checkpoint (no state_dict)")
    world_size = None
    # The run state (rolling checkpoints), else the model's record (weights-only final.ckpt).
    for key in ("aigenbench_run_state", "aigenbench"):  # models.build.CHECKPOINT_KEY
        state = content.get(key)
        if world_size is None and isinstance(state, dict):
            world_size = state.get("world_size")
    return CheckpointInfo(
        path=path,
        global_step=int(content.get("global_step", 0)),
        epoch=int(content.get("epoch", 0)),
        world_size=None if world_size is None else int(world_size),
    )


def move_aside(path: Path) -> Path:
    """Rename a damaged file to ``<name>.broken`` (``.broken.1``, ... if taken); the new path."""
    target = path.with_name(path.name + BROKEN_SUFFIX)
    number = 0
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}{BROKEN_SUFFIX}.{number}")
    os.replace(path, target)
    return target


def rolling_checkpoints(directory: Path) -> list[Path]:
    """The checkpoints of ``directory`` a window may resume from."""
    found: list[Path] = []
    for pattern in ROLLING_PATTERNS:
        found += [path for path in sorted(directory.glob(pattern)) if path.is_file()]
    return found


def pick_resume_checkpoint(
    directory: Path, *, may_modify: bool, say: Callable[[str], None]
) -> CheckpointInfo | None:
    """The checkpoint with the most optimiser steps (then the newest) among those that load.

    A damaged one is moved aside (``may_modify``: only the process that owns the files does) with
    a message naming it; either way it is not used, so every process decides alike.
    """
    usable: list[CheckpointInfo] = []
    for path in rolling_checkpoints(directory):
        try:
            usable.append(inspect_checkpoint(path))
        except BrokenCheckpoint as error:
            if may_modify:
                aside = move_aside(path)
                say(
                    f"warning: checkpoint {path} is damaged ({error}); moved it to {aside.name} "
                    "and resuming from the newest checkpoint that loads (delete it once the run "
                    "is done)"
                )
    if not usable:
        return None
    return max(usable, key=lambda info: (info.global_step, info.path.stat().st_mtime))


def remove_rolling_checkpoints(directory: Path) -> None:
    """A finished window keeps only final.ckpt: drop resume checkpoints and temporary files."""
    for path in rolling_checkpoints(directory):
        path.unlink(missing_ok=True)
    for leftover in directory.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def remove_temporary_files(directory: Path) -> None:
    """Temporary files of writes cut short by a kill (never a complete checkpoint)."""
    if directory.is_dir():
        for leftover in directory.glob(".*.ckpt.*.tmp"):
            leftover.unlink(missing_ok=True)
