"""Rows of known images computed once and kept on disk: the store behind the experiment caches.

The frozen-feature cache (``feature_cache.FeatureStore``: feature vectors) and the pixel cache
(``pixel_cache.PixelStore``: uint8 crops at the model's input size) are the same table with
other rows. The rows are known before anything is computed: the image IDs of an evaluation set,
or of the experiment's training rows, each with ``copies`` items (augmentation copies) of at
most ``crops`` rows (evaluation crops), each row an array of ``row_shape``. So a store is a
preallocated table, filled in place::

    store = RowStore(root, ids=ids, crops=5, row_shape=(768,), dtype="float32", fingerprint=fp)
    items = store.items(ids)                       # item = (ID position, copy)
    store.verify(items)                            # damaged items unmarked (computed again)
    todo = items[~store.filled(items)]             # what an interrupted run still lacks
    store.write(todo, crop_counts, rows, valid)    # rows, then checksums, then the marks
    rows, counts, valid = store.read_rows(items)

A store is a folder: ``<table>.npy`` (``[items x crops, *row_shape]``, memory-mapped),
``checksums.npy`` (one 64-bit XXH3 per item, of its slot's bytes seeded with the item's number),
``filled.npy`` (one byte per item: 0 = not computed, else its number of rows, + 128 when the
image was unreadable) and ``header.json`` (the fingerprint and the shape), written last when the
store is created.

- **Crash safety**: :meth:`RowStore.write` flushes the rows, then their checksums, before it
  marks the items filled; a mark is one byte, so a kill at any point leaves only complete items
  marked, and a rerun computes the unmarked ones.
- **Checked before trusted**: every file's size is checked against its header before it is
  mapped (a memory map would pad a truncated file back with zeros); a truncated store is named
  and built again. :meth:`RowStore.verify` recomputes the checksums of the items a run is about
  to use: a zeroed, edited or swapped item (the item's number is in its checksum) is named and
  unmarked, so it is computed again.
- **Fingerprint**: what the rows depend on; a store of another fingerprint is rebuilt, with a
  message naming it. A damaged header is named with the fix (a
  :class:`~aigenbench.errors.DataError`). One process writes a store (rank 0 under DDP), any
  number read it.

:class:`RaggedRowStore` holds items of different shapes (the pixel cache's deterministic training
parts, one image of its own size per (image ID, copy)) with the same items, marks, checksums,
header and checks; its arrays are appended to one data file, each item's offset and shape in an
index (its doc says how a kill and a damaged item are handled).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xxhash

from aigenbench.errors import DataError
from aigenbench.files import write_text_atomic
from aigenbench.scoring import crop_positions

UNREADABLE = 0x80
"""Set in an item's mark when its image could not be read (its rows are not ``valid``)."""
MAX_CROPS = UNREADABLE - 1
HEADER, FILLED, CHECKSUMS = "header.json", "filled.npy", "checksums.npy"
CHECKSUM = "xxh3_64"
"""The items' checksum, named in the header: a store of another one is built again."""
ArrayLike = Sequence[int] | np.ndarray | torch.Tensor


def as_int64(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.int64).reshape(-1)


def fingerprint_hash(fingerprint: str | Mapping[str, Any]) -> str:
    """A stable hash of a fingerprint (a mapping is hashed as sorted JSON)."""
    text = (
        fingerprint
        if isinstance(fingerprint, str)
        else json.dumps(fingerprint, sort_keys=True, default=str)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def ids_hash(ids: ArrayLike) -> str:
    """A hash of a set of image IDs (the rows a store holds are part of its fingerprint)."""
    return hashlib.sha256(np.unique(as_int64(ids)).tobytes()).hexdigest()


def canonical(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def _differences(old: Any, new: Any) -> list[str]:
    """The top-level fingerprint keys whose values differ (for the rebuild message)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return ["fingerprint"]
    keys = sorted(set(old) | set(new))
    return [k for k in keys if canonical(old.get(k)) != canonical(new.get(k))]


def item_checksum(item: int, data: memoryview | bytes) -> int:
    """The checksum of one item's slot: its bytes, seeded with its number (a swapped item
    differs). XXH3-64 checks ~13 GB/s per core, 14x BLAKE2b (benchmarks/pixel_store_checksums.py):
    the check before each window stays a few % of scoring the 10 GiB evaluation store on a GPU.
    It finds damage (zeroed, edited, truncated, swapped), not tampering: no key is involved."""
    return xxhash.xxh3_64_intdigest(data, seed=int(item))


def npy_size_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a whole ``.npy`` file (None: its size matches its header)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _fortran, dtype = read_header(handle)
            expected = handle.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        size = path.stat().st_size
    except (OSError, ValueError, EOFError) as error:
        return str(error) or type(error).__name__
    if size != expected:
        return f"{size} bytes, its header says {expected}: truncated or extended"
    return None


class RowStore:
    """Rows of known images on disk: ``copies`` items per image ID, each of at most ``crops``
    rows of ``row_shape`` (the module doc describes the files and the guarantees).

    ``what`` names the store in messages (``feature cache``), ``off`` is the setting that turns
    it off (the fix a message offers), ``table`` the name of the rows' file. ``writable=False``
    opens an existing store to read (a DDP rank other than 0); a missing, damaged or
    other-fingerprint store is then an error. ``say`` receives the rebuild and repair messages.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        ids: ArrayLike,
        row_shape: Sequence[int],
        dtype: str,
        fingerprint: str | Mapping[str, Any],
        layout: int,
        copies: int = 1,
        crops: int = 1,
        writable: bool = True,
        say: Callable[[str], None] | None = None,
        what: str = "cache",
        off: str = "",
        table: str = "rows.npy",
    ) -> None:
        if not 1 <= crops <= MAX_CROPS:
            raise ValueError(f"crops must be in 1..{MAX_CROPS}, got {crops}")
        self.root = Path(root)
        self.ids = np.unique(as_int64(ids))
        self.copies, self.crops = int(copies), int(crops)
        self.row_shape = tuple(int(n) for n in row_shape)
        self.dtype = np.dtype(dtype)
        self.writable = writable
        self.what, self.off, self.table = what, off, table
        self.rebuilt = False
        """True when this open found a store of other settings, or a damaged one, and started
        it afresh."""
        self.repaired = 0
        """Items :meth:`verify` found damaged (and unmarked) in this process."""
        fingerprint_data = fingerprint if isinstance(fingerprint, str) else dict(fingerprint)
        header = {
            "format": int(layout),
            "fingerprint": fingerprint_hash(fingerprint),
            "fingerprint_data": fingerprint_data,
            "ids": ids_hash(self.ids),
            "items": len(self.ids) * self.copies,
            "copies": self.copies,
            "crops": self.crops,
            "row_shape": list(self.row_shape),
            "dtype": self.dtype.name,
            "checksum": CHECKSUM,
        }
        self.header: dict[str, Any] = json.loads(canonical(header))  # as read back from disk
        self._say = say or (lambda text: None)
        self._open()

    # ------------------------------------------------------------------ opening

    @property
    def n_items(self) -> int:
        return len(self.ids) * self.copies

    @property
    def slot_rows(self) -> int:
        return self.crops

    def _fix(self) -> str:
        return f"delete the folder {self.root} (its rows are computed again)" + (
            f" or turn the cache off ({self.off})" if self.off else ""
        )

    def _tables(self) -> list[tuple[str, tuple[int, ...], np.dtype]]:
        return [
            (self.table, (self.n_items * self.crops, *self.row_shape), self.dtype),
            (CHECKSUMS, (self.n_items,), np.dtype(np.uint64)),
            (FILLED, (self.n_items,), np.dtype(np.uint8)),
        ]

    def _open(self) -> None:
        found = self._read_header()
        damaged = (
            [(name, npy_size_problem(self.root / name)) for name, _, _ in self._tables()]
            if found == self.header
            else []
        )
        damaged = [(name, problem) for name, problem in damaged if problem is not None]
        if found != self.header or damaged:
            if not self.writable and damaged:
                name, problem = damaged[0]
                raise DataError(
                    f"{self.what} file {self.root / name} is damaged ({problem}); {self._fix()}"
                )
            if not self.writable:
                raise DataError(
                    f"{self.what} {self.root / HEADER} is missing, damaged or was built for "
                    "other settings; the process that writes it (rank 0) should have built it: "
                    f"run again, or {self._fix()}"
                )
            if damaged:
                name, problem = damaged[0]
                self._say(
                    f"{self.what} file {self.root / name} is damaged ({problem}); the store is "
                    "built again and its rows computed again"
                )
                self.rebuilt = True
            elif found is not None:
                changed = _differences(
                    found.get("fingerprint_data"), self.header["fingerprint_data"]
                )
                shape = [
                    key
                    for key in ("ids", "copies", "crops", "row_shape", "dtype", "checksum")
                    if found.get(key) != self.header[key]
                ]
                self._say(
                    f"{self.what} {self.root}: built for other settings (differs: "
                    f"{', '.join(changed + shape) or 'format'}); its rows are discarded and "
                    "computed again"
                )
                self.rebuilt = True
            self._create()
        mode = "r+" if self.writable else "r"
        self._rows, self._checksums, self._filled = (
            self._map(name, mode, shape, dtype) for name, shape, dtype in self._tables()
        )
        self._opened()

    def _opened(self) -> None:
        """After the tables are mapped (a subclass checks its other files here)."""

    def _read_header(self) -> dict[str, Any] | None:
        path = self.root / HEADER
        if not path.is_file():
            return None
        try:
            header = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(header, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            raise DataError(
                f"{self.what} header {path} is damaged ({error}); {self._fix()}"
            ) from None
        return header

    def _create(self) -> None:
        """A new, empty store: the tables first, the header last (a kill before the header
        leaves a folder that the next open creates again)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / HEADER).unlink(missing_ok=True)
        for old in self.root.glob("*"):  # an earlier version's store (chunks and an index)
            if old.name in ("meta.json", "index.npz") or old.name.startswith("chunk_"):
                old.unlink()
        for name, shape, dtype in self._tables():
            temporary = self.root / f".{name}.tmp"
            table = np.lib.format.open_memmap(temporary, mode="w+", dtype=dtype, shape=shape)
            del table
            self._reserve(temporary)
            os.replace(temporary, self.root / name)
        write_text_atomic(self.root / HEADER, canonical(self.header))

    def _reserve(self, path: Path) -> None:
        """Give the table its disk space now: a full disk is an error here, not a crash
        (SIGBUS) while writing through the memory map later."""
        size = path.stat().st_size
        if not hasattr(os, "posix_fallocate"):
            return
        with open(path, "r+b") as handle:
            try:
                os.posix_fallocate(handle.fileno(), 0, size)
            except OSError as error:
                if error.errno in (getattr(os, "EOPNOTSUPP", -1), getattr(os, "EINVAL", -1)):
                    return  # a file system without preallocation: the table stays sparse
                path.unlink(missing_ok=True)
                free = shutil.disk_usage(self.root).free
                raise DataError(
                    f"{self.what} {self.root} needs {size / 2**30:.2f} GiB and "
                    f"{free / 2**30:.2f} GiB are free ({error.strerror}); free some disk space"
                    + (f", or turn the cache off ({self.off})" if self.off else "")
                ) from None

    def _map(self, name: str, mode: str, shape: tuple[int, ...], dtype: np.dtype) -> np.memmap:
        path = self.root / name
        problem = npy_size_problem(path)  # before mapping: "r+" would pad a short file
        table = None
        if problem is None:
            try:
                table = np.load(path, mmap_mode=mode)  # type: ignore[arg-type]
            except (OSError, ValueError, EOFError) as error:
                problem = str(error)
            else:
                problem = f"shape {table.shape} {table.dtype}, expected {shape} {dtype}"
        if table is None or table.shape != shape or table.dtype != dtype:
            raise DataError(f"{self.what} file {path} is damaged ({problem}); {self._fix()}")
        return table

    # ------------------------------------------------------------------ items

    def items(self, ids: ArrayLike, copies: ArrayLike | None = None) -> np.ndarray:
        """The item of each (image ID, copy); a KeyError names an ID the store does not hold."""
        ids = as_int64(ids)
        copies_array = np.zeros_like(ids) if copies is None else as_int64(copies)
        at = np.minimum(np.searchsorted(self.ids, ids), max(len(self.ids) - 1, 0))
        absent = (self.ids[at] != ids) if len(self.ids) else np.ones(len(ids), bool)
        if absent.any():
            raise KeyError(
                f"{self.what} {self.root} has no row for image {int(ids[absent.argmax()])}"
            )
        if len(ids) and (copies_array.min() < 0 or copies_array.max() >= self.copies):
            raise KeyError(f"{self.what} {self.root} holds copies 0..{self.copies - 1} only")
        return at * self.copies + copies_array

    def filled(self, items: np.ndarray) -> np.ndarray:
        """Whether each item's rows are stored."""
        return np.asarray(self._filled[items]) != 0

    def count(self) -> int:
        """How many items are stored."""
        return int(np.count_nonzero(np.asarray(self._filled)))

    def _slot(self, item: int) -> memoryview:
        return self._rows[item * self.crops : (item + 1) * self.crops].data.cast("B")

    def verify(self, items: ArrayLike) -> int:
        """Check the stored ``items`` against their checksums; a damaged one (zeroed, edited,
        swapped with another) is named and unmarked, so it is computed again. How many were
        damaged."""
        unique = np.unique(as_int64(items))
        stored_items = unique[self.filled(unique)]
        stored = np.asarray(self._checksums[stored_items])
        bad = [
            int(item)
            for item, checksum in zip(stored_items.tolist(), stored.tolist(), strict=True)
            if item_checksum(item, self._slot(item)) != checksum
        ]
        if not bad:
            return 0
        ids = self.ids[np.asarray(bad) // self.copies]
        self._say(
            f"{self.what} file {self.root / self.table}: {len(bad)} item(s) do not match their "
            f"checksums (images {sorted(set(ids.tolist()))[:5]}"
            f"{' ...' if len(set(ids.tolist())) > 5 else ''}): damaged on disk; they are "
            "computed again"
        )
        if self.writable:
            self._filled[np.asarray(bad)] = 0
            self._filled.flush()
        else:
            raise DataError(
                f"{self.what} file {self.root / self.table} is damaged (rows that do not match "
                f"their checksums); {self._fix()}"
            )
        self.repaired += len(bad)
        return len(bad)

    # ------------------------------------------------------------------ reading

    def read_rows(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stored rows of ``items`` in item order (``[R, *row_shape]``), each item's row
        count, and whether each item's image was readable. A KeyError names an item not
        computed yet."""
        marks = np.asarray(self._filled[items])
        if (marks == 0).any():
            raise KeyError(
                f"{self.what} {self.root} has no rows for item {int(items[marks.argmin()])} "
                "(image position x copies + copy): extract them first"
            )
        counts = (marks & MAX_CROPS).astype(np.int64)
        rows = np.repeat(items * self.crops, counts) + crop_positions(counts)
        return np.asarray(self._rows[rows]), counts, (marks & UNREADABLE) == 0

    # ------------------------------------------------------------------ writing

    def write(
        self,
        items: np.ndarray,
        counts: np.ndarray,
        rows: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Store the rows of ``items`` (``counts[i]`` rows each, consecutive in ``rows``), their
        checksums, and then mark them filled: rows and checksums reach the disk before the
        marks."""
        if not self.writable:
            raise RuntimeError(f"{self.what} {self.root} was opened read-only")
        items, counts = as_int64(items), as_int64(counts)
        if len(items) == 0:
            return
        if counts.min() < 1 or counts.max() > self.crops:
            raise ValueError(f"1 to {self.crops} crop rows per item, got {counts.max()}")
        if rows.shape != (int(counts.sum()), *self.row_shape):
            raise ValueError(
                f"rows of shape {rows.shape}, expected ({counts.sum()}, *{self.row_shape})"
            )
        where = np.repeat(items * self.crops, counts) + crop_positions(counts)
        self._rows[where] = rows.astype(self.dtype)
        spare = self.crops - counts  # a slot's unused rows: zero, as in a fresh table
        if spare.any():
            self._rows[np.repeat(items * self.crops + counts, spare) + crop_positions(spare)] = 0
        self._checksums[items] = [item_checksum(item, self._slot(item)) for item in items.tolist()]
        self._rows.flush()  # msync: the rows are on disk before any mark says so
        self._checksums.flush()
        marks = counts.astype(np.uint8) | np.where(np.asarray(valid, bool), 0, UNREADABLE)
        self._filled[items] = marks.astype(np.uint8)
        self._filled.flush()

    def __getstate__(self) -> dict[str, Any]:
        """What a DataLoader worker receives: the settings, not the mapped tables (a memory map
        would be pickled as a copy of the whole table); it maps them again, read-only."""
        state = {
            k: v
            for k, v in self.__dict__.items()
            if k not in ("_rows", "_checksums", "_filled", "_say")
        }
        state["writable"] = False
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._say = lambda text: None
        self._rows, self._checksums, self._filled = (
            self._map(name, "r", shape, dtype) for name, shape, dtype in self._tables()
        )
        self._opened()

    def close(self) -> None:
        for table in (self._rows, self._checksums, self._filled):
            if self.writable:
                table.flush()
        self._rows = self._checksums = self._filled = None  # type: ignore[assignment]


INDEX = "index.npy"
VARIABLE = -1
"""A ``row_shape`` dimension that differs from item to item (a :class:`RaggedRowStore`)."""


class RaggedRowStore(RowStore):
    """Items of different shapes: one array per (image ID, copy), ``row_shape`` with
    :data:`VARIABLE` dimensions (``(-1, -1, 3)``: images of any size). Items, marks, checksums,
    header, fingerprint and the checks before trusting are the row store's; the arrays are
    appended to one data file, since their sizes are known only once they are computed.

    Files: ``<table>`` (the items' bytes, one after the other), ``index.npy`` (per item: its
    byte offset in the data file, then its shape), ``checksums.npy`` (over the item's number,
    its shape and its bytes: an item read at the wrong place or with the wrong shape does not
    match), ``filled.npy`` (1 = stored, + 128 when its image was unreadable: then no array) and
    ``header.json``.

    - **Crash safety**: :meth:`write_items` appends the bytes and syncs them, then writes the
      index and the checksums, then the marks. Opening it to write cuts the data file back to
      the end of the last marked item: what a killed run appended and never marked is given
      back, so kills neither leak space nor let two items share it. An item found damaged by
      :meth:`verify` is unmarked and appended again when computed; its old bytes stay unused
      until the store is rebuilt (the waste is bounded by the damaged items).
    - **Checked before trusted**: the tables' sizes as in the row store, and the data file must
      hold every marked item: a shorter (truncated) data file has the items past its end named
      and computed again (a reader refuses it).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        ids: ArrayLike,
        row_shape: Sequence[int],
        dtype: str,
        fingerprint: str | Mapping[str, Any],
        layout: int,
        copies: int = 1,
        writable: bool = True,
        say: Callable[[str], None] | None = None,
        what: str = "cache",
        off: str = "",
        table: str = "rows.bin",
    ) -> None:
        self._fd: int | None = None
        self._end = 0
        super().__init__(
            root,
            ids=ids,
            row_shape=row_shape,
            dtype=dtype,
            fingerprint=fingerprint,
            layout=layout,
            copies=copies,
            crops=1,
            writable=writable,
            say=say,
            what=what,
            off=off,
            table=table,
        )

    def _tables(self) -> list[tuple[str, tuple[int, ...], np.dtype]]:
        return [
            (INDEX, (self.n_items, 1 + len(self.row_shape)), np.dtype(np.int64)),
            (CHECKSUMS, (self.n_items,), np.dtype(np.uint64)),
            (FILLED, (self.n_items,), np.dtype(np.uint8)),
        ]

    @property
    def _index(self) -> np.memmap:
        return self._rows  # the row store's first table: here the index, not the rows

    @property
    def _data_path(self) -> Path:
        return self.root / self.table

    def _create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / HEADER).unlink(missing_ok=True)  # a kill from here on: created again
        self._close_data()
        with open(self._data_path, "wb"):
            pass
        super()._create()

    def _ends(self, items: np.ndarray) -> np.ndarray:
        entries = np.asarray(self._index[items])
        sizes = np.prod(np.maximum(entries[:, 1:], 0), axis=1) * self.dtype.itemsize
        return entries[:, 0] + sizes

    def _opened(self) -> None:
        """The data file holds every marked item (else those past its end are named and
        computed again); a writer cuts it back to the last marked item's end."""
        path = self._data_path
        marked = np.flatnonzero(np.asarray(self._filled) != 0)
        size = path.stat().st_size if path.is_file() else -1
        ends = self._ends(marked)
        short = marked[ends > size]
        if len(short):
            ids = sorted(set(self.ids[short // self.copies].tolist()))
            state = "missing" if size < 0 else f"{size} bytes, shorter than its index says"
            message = (
                f"{self.what} file {path} is {state} ({len(short)} item(s) past its end: images "
                f"{ids[:5]}{' ...' if len(ids) > 5 else ''})"
            )
            if not self.writable:
                raise DataError(f"{message}; {self._fix()}")
            self._say(f"{message}; they are computed again")
            self._filled[short] = 0
            self._filled.flush()
            self.repaired += len(short)
            ends = ends[ends <= size]
        self._end = int(ends.max()) if len(ends) else 0
        if self.writable:
            if size < 0:
                path.touch()
            elif size > self._end:  # appended by a run killed before it marked the items
                os.truncate(path, self._end)

    def _data(self) -> int:
        if self._fd is None:
            flags = os.O_RDWR if self.writable else os.O_RDONLY
            self._fd = os.open(self._data_path, flags)
        return self._fd

    def _close_data(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _nbytes(self, shape: np.ndarray) -> int:
        return int(np.prod(np.maximum(shape, 0), dtype=np.int64)) * self.dtype.itemsize

    def _read(self, offset: int, size: int) -> bytearray:
        """``size`` bytes of the data file from ``offset`` (fewer when past its end)."""
        buffer = bytearray(max(size, 0))
        if size <= 0 or offset < 0:
            return buffer if size <= 0 else bytearray()
        read = os.preadv(self._data(), [buffer], offset)
        return buffer if read == size else buffer[:read]

    def _slot(self, item: int) -> bytes:  # type: ignore[override]
        entry = np.asarray(self._index[item])
        return entry[1:].tobytes() + bytes(self._read(int(entry[0]), self._nbytes(entry[1:])))

    def read_rows(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise TypeError("a ragged store's items have different shapes: use read_items")

    def read_items(self, items: ArrayLike) -> tuple[list[np.ndarray | None], np.ndarray]:
        """The stored array of each item (None: its image was unreadable) and whether each
        image was readable. A KeyError names an item not computed yet."""
        items = as_int64(items)
        marks = np.asarray(self._filled[items])
        if (marks == 0).any():
            raise KeyError(
                f"{self.what} {self.root} has no rows for item {int(items[marks.argmin()])} "
                "(image position x copies + copy): compute them first"
            )
        valid = (marks & UNREADABLE) == 0
        entries = np.asarray(self._index[items])
        arrays: list[np.ndarray | None] = []
        for entry, readable in zip(entries, valid.tolist(), strict=True):
            if not readable:
                arrays.append(None)
                continue
            size = self._nbytes(entry[1:])
            data = self._read(int(entry[0]), size)
            if len(data) != size:
                raise DataError(
                    f"{self.what} file {self._data_path} is damaged (an item past its end); "
                    f"{self._fix()}"
                )
            shape = tuple(int(n) for n in entry[1:])
            arrays.append(np.frombuffer(data, dtype=self.dtype).reshape(shape))
        return arrays, valid

    def write_items(self, items: ArrayLike, arrays: Sequence[np.ndarray | None]) -> None:
        """Store one array per item (None: its image was unreadable): the bytes appended and
        synced, then the index and checksums, then the marks."""
        if not self.writable:
            raise RuntimeError(f"{self.what} {self.root} was opened read-only")
        items = as_int64(items)
        if len(items) != len(arrays):
            raise ValueError(f"{len(items)} items and {len(arrays)} arrays")
        if len(items) == 0:
            return
        shapes = np.zeros((len(items), len(self.row_shape)), np.int64)
        blobs: list[bytes] = []
        for position, array in enumerate(arrays):
            if array is None:
                blobs.append(b"")
                continue
            if array.ndim != len(self.row_shape) or not all(
                n in (VARIABLE, m) for n, m in zip(self.row_shape, array.shape, strict=True)
            ):
                raise ValueError(f"an item of shape {array.shape}, expected {self.row_shape}")
            if array.dtype != self.dtype:  # never cast: the stored item must be the array
                raise ValueError(f"an item of dtype {array.dtype}, expected {self.dtype}")
            shapes[position] = array.shape
            blobs.append(np.ascontiguousarray(array).tobytes())
        sizes = np.asarray([len(blob) for blob in blobs], np.int64)
        offsets = self._end + np.concatenate([[0], np.cumsum(sizes)[:-1]])
        data = b"".join(blobs)
        try:
            written = 0
            while written < len(data):
                written += os.pwrite(self._data(), data[written:], self._end + written)
            os.fsync(self._data())  # the bytes are on disk before any mark says so
        except OSError as error:
            raise DataError(
                f"{self.what} {self._data_path}: cannot write {len(data) / 2**20:.1f} MiB "
                f"({error.strerror or error}); free some disk space"
                + (f", or turn the cache off ({self.off})" if self.off else "")
            ) from None
        self._end += len(data)
        self._index[items, 0] = offsets
        self._index[items, 1:] = shapes
        self._checksums[items] = [
            item_checksum(item, shape.tobytes() + blob)
            for item, shape, blob in zip(items.tolist(), shapes, blobs, strict=True)
        ]
        self._index.flush()
        self._checksums.flush()
        valid = np.asarray([array is not None for array in arrays])
        self._filled[items] = np.where(valid, 1, 1 | UNREADABLE).astype(np.uint8)
        self._filled.flush()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_fd"] = None  # each process opens the data file itself
        return state

    def close(self) -> None:
        self._close_data()
        super().close()


def ragged_needed_bytes(data_bytes: int, n_items: int, ndim: int) -> int:
    """The disk a ragged store of ``n_items`` items holding ``data_bytes`` in all takes."""
    return data_bytes + n_items * (8 * (1 + ndim) + 9) + 3 * 128


def needed_bytes(n_rows: int, row_shape: Sequence[int], dtype: str, n_items: int) -> int:
    """The disk a store of ``n_rows`` rows and ``n_items`` items takes (tables and marks)."""
    row = int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return n_rows * row + n_items * 9 + 3 * 128


def check_free_space(root: Path, needed: int, what: str, off: str) -> None:
    """Refuse, with the numbers, when the disk under ``root`` cannot hold ``needed`` more bytes
    (checked before anything is computed)."""
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise DataError(
            f"{what} {root} needs {needed / 2**30:.2f} GiB more and {free / 2**30:.2f} GiB are "
            f"free; free some disk space, or turn the cache off ({off})"
        )
