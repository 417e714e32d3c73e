"""A window's data served as cached backbone features, for a frozen backbone.

Evaluation images are degraded the same way in every window, so with a frozen backbone their
features are computed once per experiment and every window reads them back. Training samples
are cached per (image ID, augmentation copy) when the training pipeline has no stochastic part
(``data.stochastic_augmentation: false``): a sample then depends only on (ID, copy). The head
sees the same rows in the same order as from images, so the results are the same.

Features are computed by ``Trainer.predict`` (:class:`FeatureExtraction`) with the window's
Trainer settings (devices, strategy, precision): under DDP each process computes its share of
the missing rows, the rows are gathered in memory like evaluation rows, and rank 0 writes them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from aigenbench.config import result_affecting
from aigenbench.data.batch import collate_evaluation, collate_training
from aigenbench.data.datamodule import WindowDataModule
from aigenbench.data.sampler import ShardSampler
from aigenbench.models.detector import Detector
from aigenbench.protocol import BenchmarkPlan
from aigenbench.scoring import image_runs
from aigenbench.training.collect import gather_rows
from aigenbench.training.feature_cache import (
    CachedEvaluationSet,
    CachedTrainingSet,
    FeatureStore,
    feature_fingerprint,
    feature_loader,
)
from aigenbench.training.module import DetectorModule

TRAIN_PART = "train"
WRITE_EVERY = 32
"""Batches between two writes of the extracted rows (what a kill can lose)."""

StoreOpener = Callable[[bool], FeatureStore]
"""``open_store(writable)``: the store to fill (rank 0) or to read (the other ranks)."""


class _IndexOnly(Sampler[int]):
    """The training sampler's order without its epoch tag (cached rows need no epoch)."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler

    def __iter__(self) -> Iterator[int]:
        return (index for index, _epoch in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)


def fingerprint(detector: Detector, raw_config: dict[str, Any]) -> dict[str, Any]:
    """What cached features depend on: the backbone's weights, and every result-affecting data
    and model setting (pipelines, seeds, crops, sizes, precision)."""
    settings = {
        key: value
        for key, value in result_affecting(raw_config).items()
        if key.startswith(("data.", "model.input_size", "model.train_crop", "model.eval_crop"))
        or key.startswith(("model.method", "model.backbone_args"))  # a method's pixels/features
        or key in ("trainer.precision", "model.mean", "model.std", "model.backbone")
    }
    return feature_fingerprint(detector, settings=settings)


class FeatureExtraction(L.LightningModule):
    """The backbone features of the samples a store lacks, computed by ``Trainer.predict``.

    ``dataset`` holds image samples whose store items are ``(ids, copies)`` (``copies`` None:
    evaluation images, one item each with all its crops). The store is opened once the
    processes are up: rank 0 first (it creates or rebuilds it), then the others. Each process
    takes every world-size-th missing sample (padded to equal shares, so the periodic gathers
    line up); every :data:`WRITE_EVERY` batches and at the end, the rows of all processes are
    gathered and rank 0 writes them.
    """

    def __init__(
        self,
        module: DetectorModule,
        open_store: StoreOpener,
        dataset: Dataset,
        ids: np.ndarray,
        copies: np.ndarray | None,
        loader: Callable[[Dataset], DataLoader],
    ) -> None:
        super().__init__()
        self.module = module
        self._open_store = open_store
        self._dataset = dataset
        self._ids, self._copies = ids, copies
        self._loader = loader
        self.store: FeatureStore | None = None
        self.computed = 0
        """How many items were missing (and are now computed)."""
        self._pending: list[dict[str, np.ndarray]] = []

    def predict_dataloader(self) -> DataLoader:
        # After the processes are up: rank 0 creates (or rebuilds) the store before any reads.
        zero = self.trainer.is_global_zero
        if zero:
            self.store = self._open_store(True)
        self.trainer.strategy.barrier("feature store")
        if not zero:
            self.store = self._open_store(False)
        assert self.store is not None
        items = self.store.items(self._ids, self._copies)
        if zero:  # damaged rows (zeroed, edited, swapped) are unmarked before the others read
            self.store.verify(items)
        self.trainer.strategy.barrier("feature store checked")
        missing = np.flatnonzero(~self.store.filled(items))
        self.computed = len(missing)
        world, rank = self.trainer.world_size, self.trainer.global_rank
        if world > 1 and len(missing):
            missing = np.resize(missing, -(-len(missing) // world) * world)[rank::world]
        return self._loader(Subset(self._dataset, missing.tolist()))

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> int:
        assert self.store is not None
        features = self.module.batch_features(batch).float().cpu().numpy()
        ids = batch["id"].cpu().numpy()
        n = len(ids)
        if "crop_to_image" in batch:  # evaluation: an item is an image with all its crops
            first, counts = image_runs(batch["crop_to_image"].cpu().numpy())
            items = self.store.items(ids[first])
            valid = batch["valid"].cpu().numpy()[first]
        else:  # training: an item is an (image, copy)
            items = self.store.items(ids, batch["copy"].cpu().numpy())
            counts, valid = np.ones(n, np.int64), np.ones(n, bool)
        self._pending.append(
            {"items": items, "counts": counts, "features": features, "valid": valid}
        )
        if (batch_idx + 1) % WRITE_EVERY == 0:  # here, before a callback may stop the run
            self._write()
        return len(items)  # kept by no one (return_predictions=False); None would be warned about

    def on_predict_epoch_end(self) -> None:
        self._write()
        self.trainer.strategy.barrier("feature store written")  # before anyone reads it

    def _write(self) -> None:
        assert self.store is not None
        keys = ("items", "counts", "features", "valid")
        local = (
            {key: np.concatenate([rows[key] for rows in self._pending]) for key in keys}
            if self._pending
            else {}
        )
        self._pending = []
        for part in gather_rows(local, self.trainer.world_size):
            if self.trainer.is_global_zero and part:
                self.store.write(part["items"], part["counts"], part["features"], part["valid"])


def extract_features(
    trainer: L.Trainer,
    module: DetectorModule,
    open_store: StoreOpener,
    dataset: Dataset,
    ids: np.ndarray,
    copies: np.ndarray | None,
    loader: Callable[[Dataset], DataLoader],
) -> tuple[FeatureStore, int]:
    """Fill the store with the features of ``dataset``'s samples it lacks (``Trainer.predict``);
    the store, readable on every process, and how many items were computed."""
    extraction = FeatureExtraction(module, open_store, dataset, ids, copies, loader)
    # The loader draws from torch's generator: leave the window's training draws alone, so that
    # a run with the cache trains exactly as one without.
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*DataLoader` across ranks is zero.*")  # all stored
        trainer.predict(extraction, return_predictions=False)
    if trainer.is_global_zero and extraction.store is not None:
        return extraction.store, extraction.computed
    return open_store(False), extraction.computed  # opened after rank 0's last write


class CachedFeatures:
    """The feature stores of an experiment and how to fill them, for one window.

    The backbone is frozen for the whole window, so its fingerprint (a hash of every weight)
    is computed once and serves every store. Stores: ``train`` (the experiment's training rows,
    every window's, x augmentation copies) and one per evaluation stage (its images x crops).
    """

    def __init__(
        self,
        root: Path,
        raw_config: dict[str, Any],
        plan: BenchmarkPlan,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root
        self.raw_config = raw_config
        self.plan = plan
        self.say = say
        self._fingerprint: dict[str, Any] | None = None
        self._training_ids: np.ndarray | None = None

    def _store(
        self,
        detector: Detector,
        part: str,
        ids: np.ndarray,
        copies: int,
        crops: int,
        writable: bool,
    ) -> FeatureStore:
        if self._fingerprint is None:
            self._fingerprint = fingerprint(detector, self.raw_config)
        return FeatureStore(
            self.root / part,
            ids=ids,
            copies=copies,
            crops=crops,
            dim=detector.feature_dim,
            fingerprint={**self._fingerprint, "part": part},
            writable=writable,
            say=self.say,
        )

    def training_ids(self) -> np.ndarray:
        """Every training row of the experiment (all windows): the rows of the training store."""
        if self._training_ids is None:
            windows = range(self.plan.n_windows)
            self._training_ids = np.unique(
                np.concatenate([np.asarray(self.plan.training_ids(w), np.int64) for w in windows])
            )
        return self._training_ids

    def fill_training(
        self, module: DetectorModule, data: WindowDataModule, trainer: L.Trainer
    ) -> FeatureStore | None:
        """The training store, filled for this window's rows (None: rows outside the plan's)."""
        dataset = data.train_dataset
        ids, copies = training_rows(dataset)
        every = self.training_ids()
        if not np.isin(dataset.ids, every).all():
            return None
        open_store = partial(
            self._store, module.detector, TRAIN_PART, every, dataset.augmentation_factor, 1
        )
        loader = partial(self._loader, data, collate=collate_training)
        store, _ = extract_features(trainer, module, open_store, dataset, ids, copies, loader)
        return store

    def fill_evaluation(
        self, module: DetectorModule, data: WindowDataModule, stage: str, trainer: L.Trainer
    ) -> FeatureStore | None:
        """The store of ``stage``'s images, filled (None: a pipeline of unknown crop count)."""
        crops = getattr(data.eval_pipeline, "max_crops", None)
        if crops is None:
            return None
        dataset = data.eval_dataset(stage)  # type: ignore[arg-type]
        ids = np.asarray(dataset.ids, dtype=np.int64)
        open_store = partial(self._store, module.detector, stage, ids, 1, crops)
        loader = partial(self._loader, data, collate=collate_evaluation)
        store, _ = extract_features(trainer, module, open_store, dataset, ids, None, loader)
        return store

    @staticmethod
    def _loader(data: WindowDataModule, dataset: Dataset, collate: Any) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=data.config.eval_batch_size,
            collate_fn=collate,
            shuffle=False,
            **data._loader_options(),
        )


def training_rows(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """(ID, copy) of every training sample, in the dataset's index order."""
    factor = dataset.augmentation_factor
    return np.repeat(dataset.ids, factor), np.tile(np.arange(factor), len(dataset.ids))


class CachedWindowData(L.LightningDataModule):
    """A stand-in for ``data`` (a WindowDataModule) whose loaders read (some) rows from a cache:
    ``data``'s batch transfer and resume bookkeeping; subclasses make the loaders."""

    def __init__(self, data: WindowDataModule) -> None:
        super().__init__()
        self.data = data

    def setup(self, stage: str) -> None:
        self.data.trainer = self.trainer  # its resume bookkeeping looks at the trainer

    def _eval_loader(self, stage: str) -> DataLoader:
        raise NotImplementedError

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("validate")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.data.on_before_batch_transfer(batch, dataloader_idx)

    def state_dict(self) -> dict[str, Any]:
        return self.data.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.data.load_state_dict(state)


class FeatureDataModule(CachedWindowData):
    """``data`` (a WindowDataModule) with cached features instead of images.

    The training order, and its position when a run resumes, are ``data``'s own; under DDP
    every process reads its share, as from images.
    """

    def __init__(
        self,
        data: WindowDataModule,
        *,
        train_store: FeatureStore | None = None,
        eval_store: FeatureStore | None = None,
    ) -> None:
        super().__init__(data)
        self.train_store = train_store
        self.eval_store = eval_store

    def train_dataloader(self) -> DataLoader:
        assert self.train_store is not None
        dataset = self.data.train_dataset
        ids, copies = training_rows(dataset)
        labels = np.repeat(dataset.labels, dataset.augmentation_factor)
        generators = np.repeat(dataset.generator_ids, dataset.augmentation_factor)
        cached = CachedTrainingSet(self.train_store, ids, copies, labels, generators)
        return feature_loader(
            cached, self.data.config.train_batch_size, sampler=_IndexOnly(self.data.train_sampler)
        )

    def _eval_loader(self, stage: str) -> DataLoader:
        assert self.eval_store is not None
        dataset = self.data.eval_dataset(stage)  # type: ignore[arg-type]
        cached = CachedEvaluationSet(
            self.eval_store, dataset.ids, dataset.labels, dataset.generator_ids
        )
        return feature_loader(
            cached, self.data.config.eval_batch_size, sampler=ShardSampler(len(cached))
        )
