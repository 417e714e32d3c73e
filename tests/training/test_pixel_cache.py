"""The pixel cache: each evaluation image decoded once per experiment, batches equal to the
images' own, bit-identical predictions with and without it, the disk it needs said up front."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch

from aigenbench.data import decode, loading
from aigenbench.data.config import DataConfig
from aigenbench.data.datamodule import WindowDataModule
from aigenbench.data.sources import open_source
from aigenbench.protocol import make_plan
from aigenbench.training import pixel_cache
from aigenbench.training.pixel_cache import PixelCache, PixelDataModule

from .conftest import assert_same_predictions, fit_args


class DecodeCounter:
    """Counts the decodes of the data package (the work the cache saves)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = decode.decode_image

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        # Decoded images come from loading (whole) or from an EncodedImage (its kept region).
        monkeypatch.setattr(loading, "decode_image", counted)
        monkeypatch.setattr(decode, "decode_image", counted)


def _raw(seed: int = 4321, **data: Any) -> dict[str, Any]:
    return {"data": {"augmentation_seed": seed, **data}, "model": {"input_size": 32}}


def _datamodule(path: Path, window: int, seed: int = 4321, **config: Any) -> WindowDataModule:
    source = open_source(path)
    plan = make_plan(
        source.generators("train"), source.generators("validation"), None, source.timeline
    )
    options = {"num_workers": 0, "train_batch_size": 8, "eval_batch_size": 16}
    data = DataConfig(source=str(path), augmentation_seed=seed, **{**options, **config})
    return WindowDataModule(source, plan, window, data, input_size=32)


def _trainer() -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)


def _batches(loader: Any) -> dict[str, torch.Tensor]:
    batches = list(loader)
    return {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}


def _served(data: WindowDataModule, cache: PixelCache, stage: str = "validate") -> Any:
    module = PixelDataModule(data, cache)
    module.trainer = _trainer()
    return module.train_dataloader() if stage == "train" else module._eval_loader(stage)


def _assert_equal(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys()
    for key in left:
        assert left[key].dtype == right[key].dtype, key
        assert torch.equal(left[key], right[key]), key


def test_evaluation_crops_are_decoded_once_and_served_equal_in_every_window(
    tiny_benchmark, tmp_path, monkeypatch
):
    decodes = DecodeCounter(monkeypatch)
    cache = PixelCache(tmp_path / "pixels", _raw(), _datamodule(tiny_benchmark, 0).plan)
    n_eval = len(_datamodule(tiny_benchmark, 0).eval_dataset())
    for window in (0, 1):
        data = _datamodule(tiny_benchmark, window)
        before = decodes.count
        served = _batches(_served(data, cache))
        assert decodes.count - before == (n_eval if window == 0 else 0)
        _assert_equal(served, _batches(data.val_dataloader()))
    assert cache.computed == {"validate": n_eval}


def test_multicrop_rows_and_their_images_are_kept_together(tiny_benchmark, tmp_path):
    source = open_source(tiny_benchmark)
    plan = make_plan(
        source.generators("train"), source.generators("validation"), None, source.timeline
    )
    data = DataConfig(source=str(tiny_benchmark), num_workers=0, eval_batch_size=8)
    module = WindowDataModule(source, plan, 0, data, input_size=16, eval_crop="multicrop")
    cache = PixelCache(tmp_path / "pixels", _raw(), plan)
    served = _batches(_served(module, cache))
    assert len(served["image"]) == 5 * len(module.eval_dataset())  # 32 px images, 16 px crops
    _assert_equal(served, _batches(module.val_dataloader()))


def test_training_copies_come_from_their_own_entry(tiny_benchmark, tmp_path, monkeypatch):
    """A sample fixed per (image, copy) is read from the entry of that very copy."""
    options = {"stochastic_augmentation": False, "augmentation_factor": 3}
    data = _datamodule(tiny_benchmark, 0, **options)
    cache = PixelCache(tmp_path / "pixels", _raw(**options), data.plan)
    first = _batches(_served(data, cache, "train"))
    assert cache.computed == {"train": len(data.train_dataset)}
    _assert_equal(first, _batches(_datamodule(tiny_benchmark, 0, **options).train_dataloader()))
    copies = first["image"].view(-1, 3, *first["image"].shape[1:])  # not all three alike
    assert not torch.equal(copies[:, 0], copies[:, 1])

    decodes = DecodeCounter(monkeypatch)  # the next window: its rows not stored yet only
    later = _datamodule(tiny_benchmark, 1, **options)
    loader = _served(later, cache, "train")
    new = cache.computed["train"] - len(data.train_dataset)
    assert decodes.count == new and 0 < new < len(later.train_dataset)  # the reals are shared
    served = _batches(loader)
    later.train_sampler.set_epoch(1)
    second_epoch = _batches(loader)
    assert decodes.count == new  # reading epochs decodes nothing
    _assert_equal(served, _batches(_datamodule(tiny_benchmark, 1, **options).train_dataloader()))
    assert not torch.equal(second_epoch["id"], served["id"])  # another order, same samples
    assert torch.equal(second_epoch["id"].sort().values, served["id"].sort().values)


def test_another_degradation_seed_rebuilds_the_store(tiny_benchmark, tmp_path):
    said: list[str] = []
    plan = _datamodule(tiny_benchmark, 0).plan
    _served(_datamodule(tiny_benchmark, 0), PixelCache(tmp_path / "p", _raw(), plan, said.append))
    other = _datamodule(tiny_benchmark, 0, seed=7)
    cache = PixelCache(tmp_path / "p", _raw(seed=7), plan, said.append)
    served = _batches(_served(other, cache))
    assert any("data.augmentation_seed" in text or "settings" in text for text in said)
    _assert_equal(served, _batches(other.val_dataloader()))


def test_a_zeroed_pixel_entry_is_found_and_decoded_again(tiny_benchmark, tmp_path):
    said: list[str] = []
    data = _datamodule(tiny_benchmark, 0)
    cache = PixelCache(tmp_path / "p", _raw(), data.plan, said.append)
    expected = _batches(_served(data, cache))
    rows = np.load(tmp_path / "p" / "validate" / "pixels.npy", mmap_mode="r+")
    rows[7] = 0
    rows.flush()
    del rows
    again = PixelCache(tmp_path / "p", _raw(), data.plan, said.append)
    _assert_equal(_batches(_served(data, again)), expected)
    assert again.computed == {"validate": 1}
    assert "do not match their checksums" in said[-1]


def test_fit_with_the_pixel_cache_predicts_bit_identically_with_fewer_decodes(
    run_cli, tiny_benchmark, tiny_config, tmp_path, monkeypatch
):
    """Cumulative, 2 windows, 2 epochs, the default (per-epoch) augmentation: the
    cache serves every training copy's deterministic part and redraws the rest per epoch."""
    runs = tmp_path / "runs"
    options = ("--trainer.max_epochs", "2", "--data.augmentation_factor", "1")
    options += ("--protocol.benchmark_type", "cumulative")
    decodes = DecodeCounter(monkeypatch)
    plain = run_cli(*fit_args(tiny_config, tiny_benchmark, runs, "plain", *options))
    assert plain.exit_code == 0, plain.err
    without = decodes.count
    decodes.count = 0
    cached = run_cli(
        *fit_args(
            tiny_config, tiny_benchmark, runs, "cached", *options, "--data.pixel_cache", "true"
        )
    )
    assert cached.exit_code == 0, cached.err
    assert_same_predictions(runs / "plain", runs / "cached", windows=2)
    plan = _datamodule(tiny_benchmark, 0).plan
    n_eval, n_train = len(plan.evaluation("validate").ids), len(pixel_cache.training_ids(plan))
    assert decodes.count == n_eval + n_train  # each image once, each training copy once
    assert without > 2 * decodes.count
    assert "pixel cache: at most " in cached.out + cached.err
    assert (runs / "cached" / "pixels" / "validate" / "pixels.npy").is_file()
    assert (runs / "cached" / "pixels" / "train_deterministic" / "pixels.bin").is_file()


def test_fit_refuses_with_the_numbers_when_the_disk_lacks_the_space(
    run_cli, tiny_benchmark, tiny_config, tmp_path, monkeypatch
):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(pixel_cache.shutil, "disk_usage", lambda path: usage._replace(free=1000))
    from aigenbench.training import row_store

    monkeypatch.setattr(row_store.shutil, "disk_usage", lambda path: usage._replace(free=1000))
    args = fit_args(
        tiny_config, tiny_benchmark, tmp_path / "runs", "x", "--data.pixel_cache", "true"
    )
    result = run_cli(*args)
    assert result.exit_code != 0
    text = result.out + result.err
    # The quick bound (1080 x 1080 per training copy) does not fit: the headers give 32 x 32
    # images, whose deterministic part is at most 256 x 256 (the resized crop).
    assert "reading the training images' headers" in text
    evaluation = row_store.needed_bytes(128, (3, 32, 32), "uint8", 128)
    training = row_store.ragged_needed_bytes(256 * 256 * 256 * 3, 256, 3)
    assert f"needs {(evaluation + training) / 2**30:.2f} GiB more and 0.00 GiB are free" in text
    assert "train_deterministic at most 0.05 GiB" in text
    assert "--data.pixel_cache false" in text and "Traceback" not in text
    assert not (tmp_path / "runs" / "x" / "window_0" / "checkpoints").exists()
