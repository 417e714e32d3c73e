"""Writing files so that a reader never sees half of one: a temporary name, then a rename.

A write that fails for lack of space, whatever raised it (``OSError`` ENOSPC/EDQUOT; torch's
``RuntimeError`` "unexpected pos" that ``torch.save`` raises after it, or with no errno at all
when torch writes the file itself; NumPy's "N requested and M written"), becomes one
:class:`DiskFull` sentence naming the folder, its free space and the space needed; the temporary
file is removed and the previous file kept.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from aigenbench.errors import AigenbenchError

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
WRITE_FAILED_TEXTS = (
    "no space left on device",
    "disk quota exceeded",
    "unexpected pos",  # torch's zip writer: a write came up short
    "file write failed",
    "iostream error",
    " written",  # NumPy's tofile: "100000 requested and 2032 written"
)
"""What the errors of a short write say when they carry no errno (torch's C++ writers, NumPy)."""


class DiskFull(AigenbenchError):
    """A write of the experiment failed for lack of space; the files written before are kept."""

    exit_code = 28  # ENOSPC


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def free_bytes(folder: Path) -> int | None:
    """Free space of the filesystem holding ``folder`` (its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def is_disk_full(error: BaseException, folder: Path | None = None, needed: int = 1) -> bool:
    """Whether ``error`` (or an error it came from) is a write that failed for lack of space.

    An errno says so; torch's writers raise a ``RuntimeError`` with none, which counts when the
    folder's filesystem has less than ``needed`` bytes free.
    """
    chain = list(_chain(error))
    if any(isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS for e in chain):
        return True
    texts = [str(e).lower() for e in chain if isinstance(e, (OSError, RuntimeError))]
    if any(t in text for text in texts for t in WRITE_FAILED_TEXTS[:2]):
        return True
    if folder is None or not any(t in text for text in texts for t in WRITE_FAILED_TEXTS):
        return False
    free = free_bytes(folder)
    return free is not None and free < max(needed, 1)


def disk_full(folder: Path, what: str, needed: int | None, *, at_least: bool = False) -> DiskFull:
    """The sentence: the folder, its free space, the space needed, and what to do."""
    free = free_bytes(folder)
    free_text = "unknown space" if free is None else human_bytes(free)
    if needed is None:
        needed_text = "more"
    else:
        needed_text = f"{'at least ' if at_least else 'about '}{human_bytes(needed)}"
    return DiskFull(
        f"no space left on the disk of {folder} while writing {what}: {free_text} free, "
        f"{needed_text} needed. The files written before are kept whole; free some space (or "
        "move the runs folder, experiment.runs_dir, to a bigger disk) and run the same command "
        "again: it continues from the last file written whole."
    )


def largest_file(folder: Path, pattern: str = "*.ckpt") -> int | None:
    """Size of the largest ``pattern`` file under ``folder`` (what a next write may need)."""
    sizes = (
        [p.stat().st_size for p in folder.rglob(pattern) if p.is_file()] if folder.is_dir() else []
    )
    return max(sizes) if sizes else None


@contextmanager
def disk_full_is_a_sentence(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Around a command's work in ``folder``: any write that fails for lack of space (files of
    libraries included: logs, memory maps) ends as one :class:`DiskFull` sentence."""
    folder = Path(folder)
    try:
        yield
    except AigenbenchError:
        raise
    except Exception as error:
        if not is_disk_full(error, folder):
            raise
        where = next(
            (Path(e.filename) for e in _chain(error) if isinstance(e, OSError) and e.filename),
            None,
        )
        what = f"{where.name}" if where is not None else "its files"
        raise disk_full(
            where.parent if where is not None else folder,
            what,
            largest_file(folder),
            at_least=True,
        ) from error


@contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", expected_bytes: int | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was, so a crash or
    a ``kill -9`` mid-write never leaves a truncated file under the final name. A failure for
    lack of space raises :class:`DiskFull` (``expected_bytes``: the size the file needs, when
    known; else what was written before it failed).
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
    except BaseException as error:
        written = Path(temporary).stat().st_size if Path(temporary).exists() else 0
        Path(temporary).unlink(missing_ok=True)
        needed = max(expected_bytes or 0, written + 1)
        recoverable = isinstance(error, Exception) and not isinstance(error, AigenbenchError)
        if recoverable and is_disk_full(error, path.parent, needed):
            raise disk_full(
                path.parent, path.name, needed, at_least=expected_bytes is None
            ) from error
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(
    path: str | os.PathLike[str],
    writer: Callable[[IO[bytes]], object],
    expected_bytes: int | None = None,
) -> Path:
    """Call ``writer(handle)`` on a binary temporary file, then move it to ``path``."""
    with atomic_open(path, "wb", expected_bytes) as handle:
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
