"""What the per-window checksum pass of a pixel store costs at the real benchmark's size.

Before a window uses a store, :meth:`RowStore.verify` recomputes the checksum (64-bit XXH3 of
the item's bytes seeded with its number; BLAKE2b-64 before, 14x slower) of every item it is
about to read. The real evaluation
store holds 72,000 images x 147 KiB (one 224 px ``uint8`` crop each): ~10.1 GiB, checked again
in each of the 9 windows. This script

1. times the checksum itself on items in memory (the store's; and, for comparison, BLAKE2b-64
   and zlib's CRC-32), in GB/s of one core;
2. builds a pixel store of ``--gib`` GiB (224 px rows) through the store's own write path
   (rows, checksums, marks, flushed), in a temporary folder deleted at the end;
3. times ``verify`` over every item cold-ish (the table's pages dropped from the page cache with
   ``posix_fadvise(DONTNEED)``: read from the disk) and warm (in the page cache), wall time and
   CPU time (GB/s per core);
4. extrapolates to the real stores: the evaluation store once per window and over 9 windows,
   against the window's evaluation time at a GPU rate (``--eval-rate``), and the training store
   (``--train-images`` x ``--copies``, each image used in ``--uses`` windows), against the
   training time at ``--train-rate`` for ``--epochs`` epochs.

    python benchmarks/pixel_store_checksums.py --gib 3    # a few GiB of free disk
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aigenbench.training.pixel_cache import TABLE, PixelStore
from aigenbench.training.row_store import CHECKSUM, item_checksum

SIZE = 224
ITEM = 3 * SIZE * SIZE  # bytes of one 224 px uint8 crop (147 KiB)
GB = 1e9
REAL_EVAL_ITEMS = 72_000


def blake2b_64(item: int, data: memoryview) -> int:
    """The checksum the store used before XXH3: BLAKE2b-64 of the item's number and bytes."""
    digest = hashlib.blake2b(int(item).to_bytes(8, "little"), digest_size=8)
    digest.update(data)
    return int.from_bytes(digest.digest(), "little")


def hashers() -> dict[str, Callable[[int, memoryview], int]]:
    """The store's checksum first, then the others it could use (or used)."""
    found: dict[str, Callable[[int, memoryview], int]] = {
        f"{CHECKSUM} (the store's)": item_checksum
    }
    if CHECKSUM != "blake2b_64":
        found["BLAKE2b-64 (hashlib)"] = blake2b_64
    try:
        import xxhash
    except ImportError:
        pass
    else:
        if CHECKSUM != "xxh3_64":
            found["XXH3-64 (xxhash)"] = lambda item, data: xxhash.xxh3_64_intdigest(data, seed=item)
    found["CRC-32 (zlib)"] = lambda item, data: zlib.crc32(data, item & 0xFFFFFFFF)
    return found


def kernel_rates(megabytes: int) -> dict[str, float]:
    """GB/s of one core for each checksum over items already in memory (best of 3)."""
    n = max(1, megabytes * 2**20 // ITEM)
    data = np.random.default_rng(0).integers(0, 256, n * ITEM, dtype=np.uint8)
    items = [memoryview(data[i * ITEM : (i + 1) * ITEM]) for i in range(n)]
    rates = {}
    for name, checksum in hashers().items():
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for index, item in enumerate(items):
                checksum(index, item)
            best = min(best, time.process_time() - start)
        rates[name] = n * ITEM / best / GB
    return rates


def build(root: Path, n_items: int, batch: int = 256) -> tuple[PixelStore, float]:
    """A full store of ``n_items`` 224 px rows through the store's write path; its wall time."""
    store = PixelStore(root, ids=np.arange(n_items), size=SIZE, fingerprint={"benchmark": 1})
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for first in range(0, n_items, batch):
        items = np.arange(first, min(first + batch, n_items))
        rows = rng.integers(0, 256, (len(items), 3, SIZE, SIZE), dtype=np.uint8)
        store.write(items, np.ones(len(items), np.int64), rows, np.ones(len(items), bool))
    return store, time.perf_counter() - start


def drop_from_page_cache(path: Path) -> None:
    """Evict the file's clean pages (no root needed): the next read comes from the disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of ``action``."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=0.25, help="store size (at most 4 here)")
    parser.add_argument("--dir", type=Path, default=None, help="where to build it (a temp dir)")
    parser.add_argument("--eval-rate", type=float, default=3000.0, help="GPU scoring, img/s")
    parser.add_argument("--train-rate", type=float, default=2500.0, help="GPU training, img/s")
    parser.add_argument("--train-images", type=int, default=288_000)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--uses", type=float, default=5.0, help="windows an image trains in")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    if args.gib > 4:
        parser.error("--gib above 4: build at most 4 GiB (the numbers scale linearly)")

    print(f"checksum kernels, items of {ITEM / 1024:.0f} KiB in memory, one core (CPU time):")
    kernels = kernel_rates(256)
    for name, rate in kernels.items():
        print(f"  {name:26s} {rate:6.2f} GB/s")

    n_items = int(args.gib * 2**30 // ITEM)
    parent = Path(tempfile.mkdtemp(prefix="pixel_store_", dir=args.dir))
    try:
        store, write_s = build(parent / "store", n_items)
        size = n_items * ITEM
        print(
            f"store: {n_items:,} items x {ITEM / 1024:.0f} KiB = {size / 2**30:.2f} GiB, written "
            f"in {write_s:.1f} s ({size / write_s / GB:.2f} GB/s, checksums included)"
        )
        items = np.arange(n_items)
        table = parent / "store" / TABLE
        drop_from_page_cache(table)
        cold = timed(lambda: store.verify(items))
        warm = min((timed(lambda: store.verify(items)) for _ in range(2)), key=lambda t: t[0])
        assert store.repaired == 0
        for name, (wall, cpu) in (("cold-ish", cold), ("warm", warm)):
            print(
                f"verify {name:8s}: {wall:6.1f} s wall, {cpu:6.1f} s CPU: "
                f"{size / wall / GB:.2f} GB/s wall, {size / cpu / GB:.2f} GB/s per core"
            )
        store.close()
    finally:
        shutil.rmtree(parent, ignore_errors=True)

    store_checksum = next(iter(kernels))
    eval_bytes = REAL_EVAL_ITEMS * ITEM
    eval_s = REAL_EVAL_ITEMS / args.eval_rate
    wall_rate = size / cold[0]
    warm_rate = size / warm[1]
    print(
        f"\nthe real evaluation store ({REAL_EVAL_ITEMS:,} x 1 crop = "
        f"{eval_bytes / 2**30:.1f} GiB), scored in {eval_s:.0f} s per window at "
        f"{args.eval_rate:,.0f} img/s:"
    )
    for name, rate in (("cold-ish (wall)", wall_rate), ("warm (per core)", warm_rate)):
        per_window = eval_bytes / rate
        print(
            f"  verify {name:16s}: {per_window:6.1f} s per window ({per_window / eval_s:.0%} of"
            f" its scoring), {9 * per_window / 60:5.1f} min over 9 windows"
        )
    for name, rate in kernels.items():
        if name != store_checksum:
            per_window = eval_bytes / (rate * GB)
            print(
                f"  with {name:20s}: {per_window:6.1f} s per window ({per_window / eval_s:.0%}),"
                f" CPU only"
            )
    items_total = args.train_images * args.copies * args.uses
    train_bytes = items_total * ITEM
    train_s = items_total * args.epochs / args.train_rate
    print(
        f"the real training store ({args.train_images:,} images x {args.copies} copies = "
        f"{args.train_images * args.copies * ITEM / 2**30:.0f} GiB), each item checked in "
        f"{args.uses:g} windows: {train_bytes / 2**30:,.0f} GiB over 9 windows, trained "
        f"in {train_s / 60:.0f} min at {args.train_rate:,.0f} img/s x {args.epochs} epoch(s):"
    )
    for name, rate in (("cold-ish (wall)", wall_rate), ("warm (per core)", warm_rate)):
        total = train_bytes / rate
        print(
            f"  verify {name:16s}: {total / 60:6.1f} min over 9 windows "
            f"({total / train_s:.0%} of the training time)"
        )


if __name__ == "__main__":
    main()
