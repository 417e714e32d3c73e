"""The stores' item checksum (XXH3-64 seeded with the item's number): a store written with
another checksum (BLAKE2b-64, before) is named and built again, never read as damaged."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from aigenbench.training.pixel_cache import PixelStore
from aigenbench.training.row_store import HEADER, item_checksum


def _store(root, said):
    return PixelStore(root, ids=np.arange(6), size=8, fingerprint={"t": 1}, say=said.append)


def _blake2b_64(item: int, data: memoryview) -> int:
    digest = hashlib.blake2b(int(item).to_bytes(8, "little"), digest_size=8)
    digest.update(data)
    return int.from_bytes(digest.digest(), "little")


def test_a_store_of_the_earlier_checksum_is_rebuilt_with_a_message(tmp_path):
    said: list[str] = []
    store = _store(tmp_path / "s", said)
    rows = np.random.default_rng(0).integers(0, 256, (6, 3, 8, 8), dtype=np.uint8)
    store.write(np.arange(6), np.ones(6, np.int64), rows, np.ones(6, bool))
    assert store.verify(np.arange(6)) == 0 and store.count() == 6
    store.close()
    # the same store as the earlier version wrote it: BLAKE2b checksums, no checksum name
    checksums = np.load(tmp_path / "s" / "checksums.npy", mmap_mode="r+")
    checksums[:] = [_blake2b_64(i, rows[i].tobytes()) for i in range(6)]
    checksums.flush()
    del checksums
    header = json.loads((tmp_path / "s" / HEADER).read_text())
    del header["checksum"]
    (tmp_path / "s" / HEADER).write_text(json.dumps(header))

    again = _store(tmp_path / "s", said)
    assert again.rebuilt and again.count() == 0  # computed again, not trusted nor "damaged"
    assert "built for other settings (differs: checksum)" in said[-1]


def test_the_checksum_covers_the_bytes_and_the_item_number():
    data = np.arange(256, dtype=np.uint8).tobytes()
    edited = bytearray(data)
    edited[100] ^= 1
    assert item_checksum(3, data) == item_checksum(3, data)
    assert item_checksum(3, data) != item_checksum(3, bytes(edited))  # an edited byte
    assert item_checksum(3, data) != item_checksum(4, data)  # the same bytes at another item
    assert item_checksum(3, data) != item_checksum(3, bytes(len(data)))  # zeroed
