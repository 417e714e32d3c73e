"""The experiment directory: its layout, its lock, its config record and its window markers.

```
runs/<id>/config.yaml                      resolved config, written once
runs/<id>/.lock                            held by the process running the experiment
runs/<id>/window_<k>/membership.json       training IDs, evaluation IDs, pairing
runs/<id>/window_<k>/checkpoints/          last.ckpt (rolling), final.ckpt
runs/<id>/window_<k>/predictions_<stage>.npz
runs/<id>/window_<k>/metrics.json
runs/<id>/window_<k>/DONE                  written last: the window is complete
runs/<id>/logs/, features/, summary.json, report.html
```
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from aigenbench.config import config_differences, dump_yaml, load_yaml
from aigenbench.errors import ConfigError
from aigenbench.files import write_json_atomic, write_text_atomic

CONFIG_FILE = "config.yaml"
DONE_FILE = "DONE"
MEMBERSHIP_FILE = "membership.json"
LAST_CHECKPOINT = "last.ckpt"
FINAL_CHECKPOINT = "final.ckpt"


class ExperimentLocked(ConfigError):
    """Another process is running this experiment."""


class ExperimentDir:
    """Paths and bookkeeping of one experiment (``runs/<id>``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock: FileLock | None = None

    # ------------------------------------------------------------------------------ layout

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    def window_dir(self, window: int) -> Path:
        return self.root / f"window_{window}"

    def checkpoint_dir(self, window: int) -> Path:
        return self.window_dir(window) / "checkpoints"

    def last_checkpoint(self, window: int) -> Path:
        return self.checkpoint_dir(window) / LAST_CHECKPOINT

    def final_checkpoint(self, window: int) -> Path:
        return self.checkpoint_dir(window) / FINAL_CHECKPOINT

    def done_path(self, window: int) -> Path:
        return self.window_dir(window) / DONE_FILE

    # ------------------------------------------------------------------------------- state

    def is_done(self, window: int) -> bool:
        return self.done_path(window).is_file()

    def done_record(self, window: int) -> dict[str, Any]:
        try:
            return json.loads(self.done_path(window).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def mark_done(self, window: int, record: dict[str, Any]) -> None:
        write_json_atomic(self.done_path(window), {"window": window, **record})

    def resume_checkpoint(self, window: int) -> Path | None:
        """The newest checkpoint to continue ``window`` from: ``last.ckpt`` or a SLURM one."""
        directory = self.checkpoint_dir(window)
        candidates = [self.last_checkpoint(window), *directory.glob("hpc_ckpt_*.ckpt")]
        existing = [path for path in candidates if path.is_file()]
        return max(existing, key=lambda path: path.stat().st_mtime) if existing else None

    def write_membership(self, window: int, membership: dict[str, Any]) -> Path:
        return write_json_atomic(self.window_dir(window) / MEMBERSHIP_FILE, membership)

    # ------------------------------------------------------------------------------- lock

    def lock(self) -> None:
        """Refuse a second process on this experiment (the lock dies with the process)."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            owner = self._owner_text()
            raise ExperimentLocked(
                f"experiment {self.root} is being run by another process{owner}; wait for it, "
                f"or stop it (it resumes later), or use another --experiment-id"
            ) from None
        self._lock = lock
        write_text_atomic(
            self.root / ".lock.owner",
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}),
        )

    def _owner_text(self) -> str:
        try:
            owner = json.loads((self.root / ".lock.owner").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.get("since", 0)))
        return f" (pid {owner.get('pid')} on {owner.get('host')}, since {since})"

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ------------------------------------------------------------------------------ config

    def record_config(self, raw: dict[str, Any]) -> None:
        """Write config.yaml once; on a rerun, refuse settings that would change the results."""
        if not self.config_path.is_file():
            write_text_atomic(self.config_path, dump_yaml(raw))
            return
        differences = config_differences(load_yaml(self.config_path), raw)
        if differences:
            shown = "\n  ".join(differences[:12])
            more = f"\n  ... and {len(differences) - 12} more" if len(differences) > 12 else ""
            raise ConfigError(
                f"experiment {self.root} was started with other settings; resuming it with these "
                f"would mix results:\n  {shown}{more}\nRun it with its own config "
                f"({self.config_path}) or choose another --experiment-id"
            )
