"""The feature store checks its files before it trusts them: a truncated table, a zeroed body
and swapped items are named and their rows computed again (so the predictions stay right)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aigenbench.errors import DataError
from aigenbench.training.feature_cache import FeatureStore

from .test_feature_cache import IDS, Served, eval_samples, extract_eval, opener, probe


def _filled_store(root: Path) -> np.ndarray:
    """A store of every evaluation image, filled; its features as computed."""
    module = probe()
    store, computed = extract_eval(opener(root, module), module, Served(eval_samples()))
    assert computed == len(IDS)
    store.close()
    return np.load(root / "features.npy")


def _extract_again(root: Path) -> tuple[int, list[str], np.ndarray]:
    """Open the store as the next window does: (items computed, messages, features)."""
    module, said = probe(), []
    store, computed = extract_eval(
        opener(root, module, say=said.append), module, Served(eval_samples())
    )
    store.close()
    return computed, said, np.load(root / "features.npy")


def _npy_body_offset(path: Path) -> int:
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        np.lib.format.read_array_header_1_0(handle) if version == (1, 0) else (
            np.lib.format.read_array_header_2_0(handle)
        )
        return handle.tell()


def test_a_store_truncated_past_its_header_is_named_and_computed_again(tmp_path):
    root = tmp_path / "cache"
    computed_first = _filled_store(root)
    table = root / "features.npy"
    data = table.read_bytes()
    table.write_bytes(data[: _npy_body_offset(table) + 64])  # most rows gone, header whole

    computed, said, features = _extract_again(root)
    assert computed == len(IDS)  # every row computed again, none read as zeros
    assert any("features.npy is damaged" in text and "truncated" in text for text in said)
    assert np.array_equal(features, computed_first)
    assert table.stat().st_size == len(data)


def test_a_reader_refuses_a_truncated_store_with_the_fix(tmp_path):
    root = tmp_path / "cache"
    _filled_store(root)
    table = root / "features.npy"
    table.write_bytes(table.read_bytes()[:-16])
    with pytest.raises(DataError, match=r"damaged.*delete the folder"):
        opener(root, probe())(False)


def test_a_zeroed_body_of_the_same_size_is_found_and_computed_again(tmp_path):
    root = tmp_path / "cache"
    computed_first = _filled_store(root)
    table = root / "features.npy"
    offset = _npy_body_offset(table)
    data = bytearray(table.read_bytes())
    data[offset:] = bytes(len(data) - offset)
    table.write_bytes(bytes(data))

    computed, said, features = _extract_again(root)
    assert computed == len(IDS)
    assert any("do not match their checksums" in text for text in said)
    assert np.array_equal(features, computed_first)


def test_one_zeroed_item_is_found_and_only_it_is_computed_again(tmp_path):
    root = tmp_path / "cache"
    computed_first = _filled_store(root)
    rows = np.load(root / "features.npy", mmap_mode="r+")
    rows[5 * 3 : 5 * 3 + 1] = 0  # item 3 (image IDS[3]) of 5 crop slots: its one row zeroed
    rows.flush()
    del rows
    assert not np.load(root / "features.npy")[15].any()

    computed, said, features = _extract_again(root)
    assert computed == 1
    assert f"images [{IDS[3]}]" in said[0]
    # computed alone in its batch now: equal up to the backbone's batch-size rounding
    assert features[15].any()
    np.testing.assert_allclose(features, computed_first, rtol=0, atol=1e-6)


def test_swapped_items_are_found_and_computed_again(tmp_path):
    """Two items' rows and checksums swapped: every byte is a real row, yet both are caught."""
    root = tmp_path / "cache"
    computed_first = _filled_store(root)
    rows = np.load(root / "features.npy", mmap_mode="r+")
    sums = np.load(root / "checksums.npy", mmap_mode="r+")
    first, second = slice(0, 5), slice(5, 10)  # items 0 and 1 (5 crop slots each)
    rows[first], rows[second] = rows[second].copy(), rows[first].copy()
    sums[[0, 1]] = sums[[1, 0]]
    rows.flush(), sums.flush()
    del rows, sums

    computed, said, features = _extract_again(root)
    assert computed == 2
    assert f"images [{IDS[0]}, {IDS[1]}]" in said[0]
    # computed again in a batch of two: equal up to the backbone's batch-size rounding
    np.testing.assert_allclose(features, computed_first, rtol=0, atol=1e-6)


def test_an_intact_store_is_read_back_without_any_recomputation(tmp_path):
    root = tmp_path / "cache"
    computed_first = _filled_store(root)
    computed, said, features = _extract_again(root)
    assert computed == 0 and said == []
    assert np.array_equal(features, computed_first)


def test_the_copy_bound_refuses_the_first_copy_past_the_last(tmp_path):
    """Copy ``copies`` would be the next image's copy 0: refused, not read."""
    store = FeatureStore(tmp_path / "s", ids=[1, 2], copies=2, dim=3, fingerprint="fp")
    assert store.items([1, 1], [0, 1]).tolist() == [0, 1]
    with pytest.raises(KeyError, match=r"holds copies 0\.\.1 only"):
        store.items([1], [2])
    with pytest.raises(KeyError, match=r"holds copies 0\.\.1 only"):
        store.items([1], [-1])
