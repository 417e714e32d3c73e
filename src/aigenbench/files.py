"""Writing files so that a reader never sees half of one: a temporary name, then a rename."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was, so a crash or
    a ``kill -9`` mid-write never leaves a truncated file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(descriptor, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(
            temporary, 0o666 & ~_umask()
        )  # mkstemp makes it 0600; give it a normal file's mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], object]) -> Path:
    """Call ``writer(handle)`` on a binary temporary file, then move it to ``path``."""
    with atomic_open(path, "wb") as handle:
        writer(handle)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    return write_atomic(path, lambda handle: handle.write(data))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """JSON (indented, NaN refused: use None for what is not defined)."""
    return write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
