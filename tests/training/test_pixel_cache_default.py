"""The pixel cache under the default, per-epoch augmentation: each (image, copy)'s deterministic
part decoded once for the whole experiment, the stochastic part redrawn per window and epoch,
batches equal to the images' own."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from aigenbench.training.pixel_cache import (
    DETERMINISTIC_PART,
    DeterministicPartStore,
    PixelCache,
)

from .conftest import assert_same_predictions, fit_args, run_aigenbench
from .test_pixel_cache import DecodeCounter, _assert_equal, _batches, _datamodule, _raw, _served

FACTOR = {"augmentation_factor": 3}
REPOSITORY = Path(__file__).resolve().parents[2]


def _epoch(loader, data, epoch: int) -> dict[str, torch.Tensor]:
    data.train_sampler.set_epoch(epoch)
    return _batches(loader)


def test_training_batches_equal_the_images_own_in_every_window_and_epoch(
    tiny_benchmark, tmp_path, monkeypatch
):
    """Served from the store, window 0 then window 1, epochs 0 and 1: every batch equals the
    one made from images (so: the right copy's entry, the right seed, the stochastic part
    redrawn per epoch and window); each (image, copy) is decoded once for both windows."""
    decodes = DecodeCounter(monkeypatch)
    first = _datamodule(tiny_benchmark, 0, **FACTOR)
    cache = PixelCache(tmp_path / "pixels", _raw(**FACTOR), first.plan)
    for window in (0, 1):
        data = _datamodule(tiny_benchmark, window, **FACTOR)
        loader = _served(data, cache, "train")
        plain = _datamodule(tiny_benchmark, window, **FACTOR)
        plain_loader = plain.train_dataloader()
        before = decodes.count
        served = [_epoch(loader, data, epoch) for epoch in (0, 1)]
        assert decodes.count == before  # the epochs decode nothing: all from the store
        for epoch, batches in enumerate(served):
            _assert_equal(batches, _epoch(plain_loader, plain, epoch))
        # the per-epoch draws matter: the same samples, other pixels in the next epoch
        order = [batches["id"] * 3 + batches["copy"] for batches in served]
        at = [torch.argsort(keys) for keys in order]
        assert not torch.equal(served[0]["image"][at[0]], served[1]["image"][at[1]])
    n_train = len(_datamodule(tiny_benchmark, 1, **FACTOR).train_dataset)  # cumulative: all
    assert cache.computed == {DETERMINISTIC_PART: n_train}
    store = cache.training_store(_datamodule(tiny_benchmark, 1, **FACTOR), _trainer())
    assert (
        isinstance(store, DeterministicPartStore) and cache.computed[DETERMINISTIC_PART] == n_train
    )
    assert store.count() == n_train


def test_each_copy_has_its_own_deterministic_part(tiny_benchmark, tmp_path):
    """The entry of (image, copy) holds that copy's pixels, seeded by the copy: the copies of
    one image differ, and each equals the pipeline's deterministic part of that copy."""
    data = _datamodule(tiny_benchmark, 0, **FACTOR)
    cache = PixelCache(tmp_path / "pixels", _raw(**FACTOR), data.plan)
    _served(data, cache, "train")
    store = cache.training_store(data, _trainer())
    assert isinstance(store, DeterministicPartStore)
    dataset = data.train_dataset
    for position in (0, 5):
        row_id = int(dataset.ids[position])
        parts, _ = store.read_items(store.items([row_id] * 3, [0, 1, 2]))
        image = dataset.decode_row(position)
        for copy, part in enumerate(parts):
            expected = data.train_pipeline.deterministic_part(image, row_id, copy)
            assert part is not None and np.array_equal(part, expected)
        assert not np.array_equal(parts[0], parts[1]) or not np.array_equal(parts[1], parts[2])


def test_a_zeroed_part_is_found_by_its_checksum_and_decoded_again(tiny_benchmark, tmp_path):
    said: list[str] = []
    data = _datamodule(tiny_benchmark, 0)
    cache = PixelCache(tmp_path / "p", _raw(), data.plan, said.append)
    expected = _batches(_served(data, cache, "train"))
    root = tmp_path / "p" / DETERMINISTIC_PART
    index = np.load(root / "index.npy")
    item = int(np.flatnonzero(np.load(root / "filled.npy"))[3])
    with open(root / "pixels.bin", "r+b") as handle:
        handle.seek(int(index[item, 0]))
        handle.write(bytes(int(np.prod(index[item, 1:]))))
    again = PixelCache(tmp_path / "p", _raw(), data.plan, said.append)
    _assert_equal(_batches(_served(data, again, "train")), expected)
    assert again.computed == {DETERMINISTIC_PART: 1}
    assert "do not match their checksums" in said[-1]


def test_loader_workers_read_the_store_in_their_own_processes(tiny_benchmark, tmp_path):
    """Two worker processes: each opens the store again (read-only, its own data file handle)
    and makes the same batches as the images do."""
    options = {"augmentation_factor": 2, "num_workers": 2}
    data = _datamodule(tiny_benchmark, 0, **options)
    cache = PixelCache(tmp_path / "pixels", _raw(**options), data.plan)
    served = _epoch(_served(data, cache, "train"), data, 1)
    plain = _datamodule(tiny_benchmark, 0, **options)
    _assert_equal(served, _epoch(plain.train_dataloader(), plain, 1))


def _trainer():
    from .test_pixel_cache import _trainer as trainer

    return trainer()


def _console(args: list[str], cwd, signal_at: int | None = None):
    env = {
        "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")]),
        "AIGENBENCH_TEST_SIGNAL_AT_SAMPLE": "" if signal_at is None else str(signal_at),
    }
    return run_aigenbench(args, env=env, cwd=cwd)


def test_a_signal_while_filling_stops_at_the_next_batch_and_the_rerun_finishes(
    tiny_benchmark, tiny_config, tmp_path
):
    """SIGTERM during the training store's fill (console command, its own process): it stops
    after the batch it is in, keeps what is filled, exits with a sentence; the rerun fills only
    the rest and predicts exactly as a run without the cache."""
    runs = tmp_path / "runs"
    hooks = ("--experiment.imports", '["tests.training.pixel_fill_hooks"]')
    cached = fit_args(tiny_config, tiny_benchmark, runs, "cached", "--data.pixel_cache", "true")
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    stopped = _console([*cached, *hooks], fresh, signal_at=40)  # in the fill's second batch
    assert stopped.returncode not in (0, 1), stopped.stderr
    assert "while filling the pixel cache" in stopped.stderr and "Traceback" not in stopped.stderr
    marks = np.load(runs / "cached" / "pixels" / DETERMINISTIC_PART / "filled.npy")
    batch = 32  # the tiny config's eval_batch_size: the fill's batches
    assert np.count_nonzero(marks) == 2 * batch  # the batch the signal came in is kept
    assert not (runs / "cached" / "window_0" / "checkpoints" / "last.ckpt").exists()

    again = _console([*cached, *hooks], fresh)
    assert again.returncode == 0, again.stderr
    marks = np.load(runs / "cached" / "pixels" / DETERMINISTIC_PART / "filled.npy")
    assert np.count_nonzero(marks) == len(marks)
    plain = _console(fit_args(tiny_config, tiny_benchmark, runs, "plain"), fresh)
    assert plain.returncode == 0, plain.stderr
    assert_same_predictions(runs / "plain", runs / "cached", windows=2)
