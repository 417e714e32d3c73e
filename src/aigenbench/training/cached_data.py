"""A window's data served as cached backbone features, for a frozen backbone.

Evaluation images are degraded the same way in every window, so with a frozen backbone their
features are computed once per experiment and every window reads them back. Training samples
are cached per (image ID, augmentation copy) when the training pipeline has no stochastic part
(``data.stochastic_augmentation: false``): a sample then depends only on (ID, copy). The head
sees the same rows in the same order as from images, so the results are the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, Subset

from aigenbench.config import result_affecting
from aigenbench.data.batch import collate_evaluation, collate_training
from aigenbench.data.datamodule import WindowDataModule
from aigenbench.models.detector import Detector
from aigenbench.training.feature_cache import (
    CachedEvaluationSet,
    CachedTrainingSet,
    FeatureStore,
    extract_features,
    feature_fingerprint,
    feature_loader,
)

EVAL_PART = "evaluation"
TRAIN_PART = "train"

AUTOCAST = {"bf16-mixed": torch.bfloat16, "bf16": torch.bfloat16, "16-mixed": torch.float16}


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


class CachedFeatures:
    """The feature stores of an experiment and how to fill them, for one window.

    The backbone is frozen for the whole window, so its fingerprint (a hash of every weight)
    is computed once and serves both the training and the evaluation store.
    """

    def __init__(self, root: Path, raw_config: dict[str, Any], precision: str) -> None:
        self.root = root
        self.raw_config = raw_config
        self.autocast = AUTOCAST.get(str(precision))
        self._fingerprint: dict[str, Any] | None = None

    def store(self, detector: Detector, part: str) -> FeatureStore:
        if self._fingerprint is None:
            self._fingerprint = fingerprint(detector, self.raw_config)
        return FeatureStore(
            self.root / part,
            fingerprint={**self._fingerprint, "part": part},
            dim=detector.feature_dim,
        )

    def fill_evaluation(
        self, detector: Detector, data: WindowDataModule, stage: str, device: torch.device
    ) -> FeatureStore:
        detector.to(device)
        store = self.store(detector, EVAL_PART)
        evaluation = data.evaluation_set(stage)
        missing = set(store.missing_ids(EVAL_PART, evaluation.ids).tolist())
        if missing:
            keep = [i for i, row_id in enumerate(evaluation.ids) if row_id in missing]
            dataset = Subset(data.eval_dataset(stage), keep)
            extract_features(
                detector,
                self._loader(data, dataset, collate_evaluation),
                store,
                EVAL_PART,
                device=device,
                autocast_dtype=self.autocast,
            )
        return store

    def fill_training(
        self, detector: Detector, data: WindowDataModule, device: torch.device
    ) -> FeatureStore:
        detector.to(device)
        store = self.store(detector, TRAIN_PART)
        dataset = data.train_dataset
        ids, copies = training_rows(dataset)
        missing = np.flatnonzero(~store.contains(TRAIN_PART, ids, copies))
        if len(missing):
            extract_features(
                detector,
                self._loader(data, Subset(dataset, missing.tolist()), collate_training),
                store,
                TRAIN_PART,
                device=device,
                autocast_dtype=self.autocast,
            )
        return store

    @staticmethod
    def _loader(data: WindowDataModule, dataset: Any, collate: Any) -> DataLoader:
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


class FeatureDataModule(L.LightningDataModule):
    """``data`` (a WindowDataModule) with cached features instead of images.

    The training order, and its position when a run resumes, are ``data``'s own.
    """

    def __init__(
        self,
        data: WindowDataModule,
        *,
        train_store: FeatureStore | None = None,
        eval_store: FeatureStore | None = None,
    ) -> None:
        super().__init__()
        self.data = data
        self.train_store = train_store
        self.eval_store = eval_store

    def setup(self, stage: str) -> None:
        self.data.trainer = self.trainer  # its resume bookkeeping looks at the trainer

    def train_dataloader(self) -> DataLoader:
        assert self.train_store is not None
        dataset = self.data.train_dataset
        ids, copies = training_rows(dataset)
        labels = np.repeat(dataset.labels, dataset.augmentation_factor)
        generators = np.repeat(dataset.generator_ids, dataset.augmentation_factor)
        cached = CachedTrainingSet(self.train_store, TRAIN_PART, ids, copies, labels, generators)
        return feature_loader(
            cached, self.data.config.train_batch_size, sampler=_IndexOnly(self.data.train_sampler)
        )

    def _eval_loader(self, stage: str) -> DataLoader:
        assert self.eval_store is not None
        dataset = self.data.eval_dataset(stage)
        cached = CachedEvaluationSet(
            self.eval_store, EVAL_PART, dataset.ids, dataset.labels, dataset.generator_ids
        )
        return feature_loader(cached, self.data.config.eval_batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("validate")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.data.on_before_batch_transfer(batch, dataloader_idx)

    def state_dict(self) -> dict[str, Any]:
        return self.data.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.data.load_state_dict(state_dict)
