"""Records, per process, what the pixel cache does in a run under test; optionally crashes it.

Imported by the run under test through ``--experiment.imports`` (as ``preempt_hooks``). With
``AIGENBENCH_TEST_PIXEL_LOG`` set to a folder, every process appends one line per event to
``events_rank<k>.txt`` (``<time> <event>``): ``decode`` (an image decoded), ``write <n>`` (n items
written to a pixel store), ``open <part> <writable>`` (a pixel store opened) and ``read`` (rows
read from a store). With ``AIGENBENCH_TEST_PIXEL_CRASH_AFTER_WRITES=n``, global rank 0 kills its
whole process group (every rank, as a node that loses power) right after its n-th write to a
pixel store; writes then happen every batch, so a fill is interrupted part-way.
``AIGENBENCH_TEST_PIXEL_CRASH_SIGNAL`` (default ``SIGKILL``) names the signal instead: ``SIGTERM``
is a cluster's stop, sent to every rank as SLURM does.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOG = os.environ.get("AIGENBENCH_TEST_PIXEL_LOG", "")
CRASH_AFTER = int(os.environ.get("AIGENBENCH_TEST_PIXEL_CRASH_AFTER_WRITES", "0"))
CRASH_SIGNAL = signal.Signals[os.environ.get("AIGENBENCH_TEST_PIXEL_CRASH_SIGNAL", "SIGKILL")]
_writes = 0


def rank() -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


def record(event: str) -> None:
    with open(Path(LOG) / f"events_rank{rank()}.txt", "a", encoding="utf-8") as log:
        log.write(f"{time.time():.6f} {event}\n")


def wrap(owner: Any, name: str, event: Callable[..., str]) -> None:
    real = getattr(owner, name)

    @functools.wraps(real)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        record(event(*args, **kwargs))
        return result

    setattr(owner, name, wrapped)


def install() -> None:
    from aigenbench.data import decode, loading
    from aigenbench.training import pixel_cache
    from aigenbench.training.row_store import RowStore

    def decoded(*args: Any, **kwargs: Any) -> str:
        return "decode"

    # Decoded images come from loading (whole) or from an EncodedImage (its kept region).
    for module in (decode, loading):
        wrap(module, "decode_image", decoded)
    wrap(
        pixel_cache.PixelStore,
        "__init__",
        lambda store, *a, **k: f"open {store.root.name} {int(store.writable)}",
    )
    wrap(RowStore, "read_rows", lambda store, items: f"read {len(items)}")
    real_write = RowStore.write

    def write(store: RowStore, items: Any, *args: Any) -> None:
        global _writes
        real_write(store, items, *args)
        record(f"write {len(items)}")
        _writes += 1
        if CRASH_AFTER and _writes == CRASH_AFTER and rank() == 0:
            os.killpg(os.getpgrp(), CRASH_SIGNAL)

    RowStore.write = write  # type: ignore[method-assign]
    if CRASH_AFTER:
        pixel_cache.WRITE_EVERY = 1


if LOG:
    install()
