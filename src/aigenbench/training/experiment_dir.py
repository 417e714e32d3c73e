"""The experiment directory: its layout, its lock, its config record and its window markers.

```
runs/<id>/config.yaml                      resolved config, written once
runs/<id>/.lock                            held by the process running the experiment
runs/<id>/window_<k>/membership.json       training IDs, evaluation IDs, pairing
runs/<id>/window_<k>/checkpoints/          last.ckpt (rolling), final.ckpt
runs/<id>/window_<k>/predictions_<stage>.npz
runs/<id>/window_<k>/metrics.json
runs/<id>/window_<k>/DONE                  written last: JSON, the window is complete
runs/<id>/logs/, features/, summary.json, report.html
```

``DONE`` is JSON: the window, its optimiser steps and epochs, the world size that trained it
and the size and SHA-256 of each of the window's files. It is checked before it is trusted: an
invalid one is rebuilt from ``final.ckpt`` (the window is scored again), or, when ``final.ckpt``
itself is damaged, the window is trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from aigenbench.config import config_differences, dump_yaml
from aigenbench.errors import ConfigError
from aigenbench.files import write_json_atomic, write_text_atomic
from aigenbench.training.checkpoint_io import (
    FINAL_CHECKPOINT,
    LAST_CHECKPOINT,
    move_aside,
    rolling_checkpoints,
)

CONFIG_FILE = "config.yaml"
DONE_FILE = "DONE"
DONE_FORMAT = 1
MEMBERSHIP_FILE = "membership.json"
UNREADABLE_TRAINING_FILE = "unreadable_training_images.jsonl"
STRATEGY_FILES = ("strategy.json", "strategy.safetensors")
"""A continual strategy's state for window k+1 (``strategies.state``): derived from final.ckpt."""
DONE_FILES = (
    MEMBERSHIP_FILE,
    f"checkpoints/{FINAL_CHECKPOINT}",
    "predictions_validate.npz",
    "metrics.json",
    *STRATEGY_FILES,
)
"""The files of a finished window whose size and checksum ``DONE`` records (those it has)."""
_DONE_INTEGERS = ("window", "steps", "epochs", "n_train", "n_eval")


@dataclass
class DoneCheck:
    """What the ``DONE`` file of a window says and whether it can be trusted."""

    record: dict[str, Any] | None
    """The record when valid (None: absent or invalid)."""
    problems: list[str] = field(default_factory=list)
    """Why it cannot be trusted (empty when valid or absent)."""
    final_damaged: bool = False
    """``final.ckpt`` is missing or differs from what this window's ``DONE`` recorded."""
    unverified: list[str] = field(default_factory=list)
    """The window's files that ``DONE`` could not vouch for (missing, changed, or ``DONE``
    itself not this window's record): derived files among them are computed again."""

    @property
    def valid(self) -> bool:
        return self.record is not None


def file_digest(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file (read in 8 MiB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


class ExperimentLocked(ConfigError):
    """Another process is running this experiment."""


class ExperimentDir:
    """Paths and bookkeeping of one experiment (``runs/<id>``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock: FileLock | None = None
        self._checked: dict[int, tuple[tuple[Any, ...], DoneCheck]] = {}

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

    @property
    def pixels_dir(self) -> Path:
        return self.root / "pixels"

    def window_dir(self, window: int) -> Path:
        return self.root / f"window_{window}"

    def checkpoint_dir(self, window: int) -> Path:
        return self.window_dir(window) / "checkpoints"

    def last_checkpoint(self, window: int) -> Path:
        return self.checkpoint_dir(window) / LAST_CHECKPOINT

    def final_checkpoint(self, window: int) -> Path:
        return self.checkpoint_dir(window) / FINAL_CHECKPOINT

    def unreadable_training_path(self, window: int) -> Path:
        """JSON lines appended by the loaders: the window's training images that failed."""
        return self.window_dir(window) / UNREADABLE_TRAINING_FILE

    def unreadable_training_images(self) -> list[dict[str, Any]]:
        """Every training image that failed to decode, once, with the windows it was met in."""
        found: dict[int, dict[str, Any]] = {}
        for window_dir in sorted(self.root.glob("window_*")):
            path = window_dir / UNREADABLE_TRAINING_FILE
            if not path.is_file():
                continue
            window = int(window_dir.name.removeprefix("window_"))
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                    row_id = int(record["id"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill
                entry = found.setdefault(
                    row_id,
                    {"id": row_id, "path": record.get("path"), "reason": record.get("reason")},
                )
                entry.setdefault("windows", [])
                if window not in entry["windows"]:
                    entry["windows"].append(window)
        return [found[row_id] for row_id in sorted(found)]

    def done_path(self, window: int) -> Path:
        return self.window_dir(window) / DONE_FILE

    # ------------------------------------------------------------------------------- state

    def is_done(self, window: int) -> bool:
        """Whether ``window`` has a valid ``DONE`` (its files checked against their checksums)."""
        return self.check_done(window).valid

    def done_record(self, window: int) -> dict[str, Any]:
        """The valid ``DONE`` record of ``window``; a ConfigError when it has none."""
        check = self.check_done(window)
        if check.record is None:
            raise ConfigError(
                f"window {window} of {self.root} is not finished ({self.done_path(window)}: "
                f"{'; '.join(check.problems) or 'absent'}); run `aigenbench fit` again to "
                "finish it"
            )
        return check.record

    def mark_done(self, window: int, record: dict[str, Any]) -> None:
        """Write ``DONE`` (last): the record plus the size and SHA-256 of the window's files."""
        window_dir = self.window_dir(window)
        files = {
            name: file_digest(window_dir / name)
            for name in DONE_FILES
            if (window_dir / name).is_file()
        }
        write_json_atomic(
            self.done_path(window),
            {"format": DONE_FORMAT, **record, "window": window, "files": files},
        )

    def check_done(self, window: int) -> DoneCheck:
        """Read and validate ``DONE``: JSON, the fields, and every file it lists unchanged.

        The checksums are computed once per process while the files keep their size and time.
        """
        path = self.done_path(window)
        if not path.is_file():
            return DoneCheck(None)
        key = self._stat_key(window)
        cached = self._checked.get(window)
        if cached is not None and cached[0] == key:
            return cached[1]
        check = self._check_done(window, path)
        self._checked[window] = (key, check)
        return check

    def _stat_key(self, window: int) -> tuple[Any, ...]:
        key: list[Any] = []
        for name in (DONE_FILE, *DONE_FILES):
            try:
                stat = (self.window_dir(window) / name).stat()
                key.append((stat.st_size, stat.st_mtime_ns, stat.st_ino))
            except OSError:
                key.append(None)
        return tuple(key)

    def _check_done(self, window: int, path: Path) -> DoneCheck:
        # A DONE that is not this window's record says nothing about the window's files: they
        # are judged by themselves (final.ckpt must load), not by its checksums.
        not_a_record = self._untrusted_record(window, path)
        if not_a_record is not None:
            missing_final = not self.final_checkpoint(window).is_file()
            problems = [not_a_record]
            if missing_final:
                problems.append(f"{FINAL_CHECKPOINT} is missing")
            return DoneCheck(None, problems, missing_final, list(DONE_FILES))
        record = json.loads(path.read_text(encoding="utf-8"))
        problems, unverified = [], []
        final_damaged = False
        for name, expected in record["files"].items():
            if name not in DONE_FILES:
                continue
            damaged = self._file_problem(self.window_dir(window) / name, expected)
            if damaged:
                problems.append(damaged)
                unverified.append(name)
                final_damaged |= name.endswith(FINAL_CHECKPOINT)
        if problems:
            return DoneCheck(None, problems, final_damaged, unverified)
        return DoneCheck(record)

    @staticmethod
    def _untrusted_record(window: int, path: Path) -> str | None:
        """Why ``DONE`` is not a record of ``window`` at all (None: it is one)."""
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            return f"not readable JSON ({type(error).__name__})"
        if not isinstance(record, dict):
            return "not a JSON object"
        problems = []
        for key in _DONE_INTEGERS:
            value = record.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"{key} is {value!r}, not a count")
        if problems:
            return "; ".join(problems)
        if record.get("window") not in (window, None):
            return (
                f"it is the record of window {record.get('window')}, not of window {window} "
                "(copied from another window?)"
            )
        files = record.get("files")
        if not isinstance(files, dict) or f"checkpoints/{FINAL_CHECKPOINT}" not in files:
            return "it lists no checksums of the window's files"
        return None

    @staticmethod
    def _file_problem(path: Path, expected: Any) -> str | None:
        if not path.is_file():
            return f"{path.name} is missing"
        if not isinstance(expected, dict):
            return f"no checksum of {path.name}"
        if path.stat().st_size != expected.get("bytes"):
            return f"{path.name} has {path.stat().st_size} bytes, {expected.get('bytes')} recorded"
        if file_digest(path)["sha256"] != expected.get("sha256"):
            return f"{path.name} differs from the file the window wrote (checksum)"
        return None

    def set_done_aside(self, window: int) -> Path:
        """Move an invalid ``DONE`` to ``DONE.broken`` (kept for inspection)."""
        return move_aside(self.done_path(window))

    def has_trained_anything(self) -> bool:
        """Whether any window has a checkpoint or a DONE (settings then pin the experiment)."""
        for window_dir in self.root.glob("window_*"):
            checkpoints = window_dir / "checkpoints"
            if (window_dir / DONE_FILE).exists() or (checkpoints / FINAL_CHECKPOINT).exists():
                return True
            if checkpoints.is_dir() and rolling_checkpoints(checkpoints):
                return True
        return False

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

    def record_config(
        self,
        raw: dict[str, Any],
        say: Any = print,
        defaults: dict[str, Any] | None = None,
        comment: str = "",
    ) -> None:
        """Write config.yaml once; on a rerun, refuse settings that would change the results.

        Settings are pinned only once something was trained under them: a start that failed
        before its first checkpoint (missing weights, a bad subset) may be rerun corrected.
        ``defaults``: every setting at its default; a setting missing from an older config.yaml
        is compared as its default (see :func:`~aigenbench.config.config_differences`).
        ``comment``: ``# ...`` lines put at the top (warnings about these settings).
        """
        text = comment + dump_yaml(raw)
        if not self.config_path.is_file():
            write_text_atomic(self.config_path, text)
            return
        try:
            recorded = read_recorded_config(self.config_path)
        except ConfigError:
            if self.has_trained_anything():
                raise
            say(f"note: {self.config_path} was damaged and nothing was trained yet: rewritten")
            write_text_atomic(self.config_path, text)
            return
        differences = config_differences(recorded, raw, defaults)
        if differences and not self.has_trained_anything():
            say(
                f"note: nothing was trained yet under the settings of {self.config_path}; "
                "replaced by this command's settings"
            )
            write_text_atomic(self.config_path, text)
            return
        if differences:
            shown = "\n  ".join(differences[:12])
            more = f"\n  ... and {len(differences) - 12} more" if len(differences) > 12 else ""
            raise ConfigError(
                f"experiment {self.root} was started with other settings; resuming it with these "
                f"would mix results:\n  {shown}{more}\nRun it with its own config "
                f"({self.config_path}) or choose another --experiment-id"
            )


def read_recorded_config(path: Path) -> dict[str, Any]:
    """An experiment's config.yaml; a ConfigError naming it and the repair when damaged."""
    import yaml

    repair = (
        f"Restore it from a backup; or, if you are sure this command has the settings the "
        f"experiment was started with, delete it (`rm {path}`) and run the command again: it is "
        "written anew"
    )
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{path} is damaged ({reason}). {repair}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            f"{path} is damaged (it holds {type(data).__name__}, not the settings). {repair}"
        )
    return data
