"""The ragged row store: items of different shapes, with the row store's contracts (crash safe,
checksummed per item with its number and shape, checked before trusted, space never leaked)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from aigenbench.errors import DataError
from aigenbench.training.row_store import RaggedRowStore

IDS = [3, 10, 42, 77]
COPIES = 2
SHAPES = [(5, 7, 3), (9, 4, 3), (1, 1, 3), (6, 6, 3)]


def open_store(root: Path, said: list[str] | None = None, writable: bool = True) -> RaggedRowStore:
    return RaggedRowStore(
        root,
        ids=IDS,
        copies=COPIES,
        row_shape=(-1, -1, 3),
        dtype="uint8",
        fingerprint={"test": 1},
        layout=1,
        writable=writable,
        say=(said.append if said is not None else None),
        table="pixels.bin",
    )


def image(item: int) -> np.ndarray:
    """A distinct, non-square array per item (a swapped height and width would show)."""
    shape = SHAPES[item % len(SHAPES)]
    return np.random.default_rng(item).integers(0, 256, shape, dtype=np.uint8)


def fill(store: RaggedRowStore, items: list[int]) -> None:
    store.write_items(items, [image(item) for item in items])


def test_items_of_different_shapes_read_back_exactly(tmp_path):
    store = open_store(tmp_path / "s")
    items = store.items([42, 3, 77], [1, 0, 1])
    store.write_items(items[:2], [image(int(i)) for i in items[:2]])
    store.write_items(items[2:], [None])  # an unreadable image: marked, no array
    store.close()
    again = open_store(tmp_path / "s")
    arrays, valid = again.read_items(items)
    assert valid.tolist() == [True, True, False]
    for item, array in zip(items[:2].tolist(), arrays[:2], strict=True):
        assert array is not None
        assert array.shape == image(item).shape and np.array_equal(array, image(item))
    assert arrays[2] is None
    assert again.verify(items) == 0
    with pytest.raises(KeyError, match="no rows for item"):
        again.read_items(again.items([10]))


def test_a_zeroed_item_is_found_by_its_checksum_and_computed_again(tmp_path):
    said: list[str] = []
    store = open_store(tmp_path / "s", said)
    items = np.arange(store.n_items)
    fill(store, items.tolist())
    offset = int(store._index[5, 0])
    size = int(np.prod(store._index[5, 1:]))
    store.close()
    with open(tmp_path / "s" / "pixels.bin", "r+b") as handle:
        handle.seek(offset)
        handle.write(bytes(size))
    again = open_store(tmp_path / "s", said)
    assert again.verify(items) == 1
    assert not again.filled(np.array([5]))[0] and again.filled(np.delete(items, 5)).all()
    assert "do not match their checksums" in said[-1] and "[42]" in said[-1]  # item 5: ID 42


def test_a_wrong_shape_in_the_index_fails_the_checksum(tmp_path):
    store = open_store(tmp_path / "s")
    items = np.arange(store.n_items)
    fill(store, items.tolist())
    assert image(0).shape == (5, 7, 3)
    store._index[0, 1:] = [7, 5, 3]  # the same bytes, the sides swapped
    store._index.flush()
    assert store.verify(items) == 1


def test_a_truncated_data_file_has_its_lost_items_named_and_computed_again(tmp_path):
    said: list[str] = []
    store = open_store(tmp_path / "s", said)
    fill(store, list(range(store.n_items)))
    store.close()
    data = tmp_path / "s" / "pixels.bin"
    os.truncate(data, data.stat().st_size - 10)
    with pytest.raises(DataError, match="shorter than its index says"):
        open_store(tmp_path / "s", writable=False)
    again = open_store(tmp_path / "s", said)
    assert "shorter than its index says" in said[-1] and "computed again" in said[-1]
    assert again.count() == again.n_items - 1


def test_the_space_a_killed_writer_appended_is_given_back(tmp_path):
    """Bytes appended, never marked (a kill between the append and the marks): the next writer
    cuts them off, so reruns neither leak space nor let two items share it."""
    store = open_store(tmp_path / "s")
    fill(store, [0, 1])
    end = store._end
    store.close()
    with open(tmp_path / "s" / "pixels.bin", "ab") as handle:
        handle.write(b"\xff" * 1000)
    again = open_store(tmp_path / "s")
    assert (tmp_path / "s" / "pixels.bin").stat().st_size == end
    fill(again, [2, 3])
    assert again.verify(np.arange(4)) == 0
    assert (tmp_path / "s" / "pixels.bin").stat().st_size == end + sum(
        image(i).nbytes for i in (2, 3)
    )


WRITER = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
from training.test_ragged_store import open_store, image
from pathlib import Path
store = open_store(Path({root!r}))
while True:
    for item in range(store.n_items):
        store.write_items([item], [image(item + int(store._end) % 5)])
    print("round", flush=True)
"""


def test_kills_at_any_moment_leave_only_whole_items_and_no_leak(tmp_path):
    """A real writer process killed (SIGKILL) while it writes, several times: every marked item
    matches its checksum, and the data file ends at the last marked item."""
    root = tmp_path / "s"
    code = WRITER.format(tests=str(Path(__file__).parents[1]), root=str(root))
    for delay in (0.0, 0.003, 0.02):
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        assert process.stdout is not None
        process.stdout.readline()  # writing (one round done)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        store = open_store(root)
        marked = np.flatnonzero(np.asarray(store._filled))
        assert len(marked) == store.n_items
        assert store.verify(marked) == 0
        ends = store._ends(marked)
        assert (root / "pixels.bin").stat().st_size == (int(ends.max()) if len(ends) else 0)
        store.close()


def test_items_of_another_shape_or_dtype_are_refused(tmp_path):
    store = open_store(tmp_path / "s")
    with pytest.raises(ValueError, match="shape"):
        store.write_items([0], [np.zeros((4, 4), np.uint8)])
    with pytest.raises(ValueError, match="dtype"):
        store.write_items([0], [np.zeros((4, 4, 3), np.float32)])
    with pytest.raises(TypeError, match="read_items"):
        store.read_rows(np.array([0]))
