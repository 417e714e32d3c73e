"""A multi-node run needs its run folder on a filesystem every node shares: checked, not assumed.

Rank 0 writes the run's files (checkpoints, DONE, the feature cache) and the other processes read
some of them back (the feature cache after a barrier, a window's final weights on a rerun). A node
that sees another disk at the same path would wait for files that never come, or train from other
weights. So when a Trainer with several processes starts, rank 0 writes a token file in the run
folder; after a barrier every process looks for it (listing the folder, which also refreshes an
NFS client's cache) for up to :data:`VISIBILITY_TIMEOUT_S`; then all of them learn who could not
see it and, if any, every process stops with the same sentence instead of hanging.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path
from typing import ClassVar

import lightning as L
import torch

from aigenbench.errors import ConfigError
from aigenbench.files import write_text_atomic

VISIBILITY_TIMEOUT_S = 10.0
TOKEN_PREFIX = ".shared-folder-check-"


def _visible(path: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if path.is_file() or path.name in os.listdir(path.parent):
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


class SharedRunFolderCheck(L.Callback):
    """At a multi-process Trainer's set-up: does every process see rank 0's run folder?"""

    _checked: ClassVar[set[str]] = set()
    """Run folders already checked by this process (every process checks at the same points)."""

    def __init__(self, run_dir: Path, timeout_s: float = VISIBILITY_TIMEOUT_S) -> None:
        self.run_dir = Path(run_dir)
        self.timeout_s = timeout_s

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        key = str(self.run_dir.resolve())
        if trainer.world_size == 1 or key in self._checked:
            return
        strategy = trainer.strategy
        token = strategy.broadcast(uuid.uuid4().hex if trainer.is_global_zero else "", src=0)
        host = socket.gethostname()
        path = self.run_dir / f"{TOKEN_PREFIX}{token}"
        if trainer.is_global_zero:
            write_text_atomic(path, f"{host}\n")
        strategy.barrier("shared-run-folder")
        seen = _visible(path, self.timeout_s)
        flags = strategy.all_gather(torch.tensor([1 if seen else 0], device=strategy.root_device))
        blind = [rank for rank, flag in enumerate(flags.reshape(-1).tolist()) if not flag]
        strategy.barrier("shared-run-folder-done")
        if trainer.is_global_zero:
            path.unlink(missing_ok=True)
        if blind:
            who = "this process" if not seen else f"process(es) {blind}"
            raise ConfigError(
                f"{who} (global rank {trainer.global_rank} on host {host}) cannot see the run "
                f"folder {self.run_dir} that global rank 0 writes: a run on several nodes needs "
                "its runs folder (experiment.runs_dir) on a filesystem every node shares (NFS, "
                "Lustre, GPFS, ...) at the same path. Point --runs-dir at such a folder and start "
                f"the run again (blind ranks: {blind})"
            )
        self._checked.add(key)
