"""The Lightning DataModule of one window: training set (PROTOCOL.md §4) and evaluation set (§5).

Build it from an opened source, the plan, the window (None: evaluation only) and the data config::

    source = open_source(config.data)
    plan = make_plan(source.generators("train"), source.generators("validation"), protocol_config)
    datamodule = WindowDataModule(source, plan, window=3, config=config.data, input_size=224)

**Resuming.** The datamodule counts the training samples handed to the model in the current epoch
(``on_before_batch_transfer``) and returns them from ``state_dict()``; Lightning stores that in
every checkpoint and gives it back through ``load_state_dict()`` when a fit resumes from one, before
the training iterator is created, so the resumed epoch skips exactly the samples already trained.
A runner that does not resume through Lightning calls ``resume_at(epoch, samples_done)`` before
``trainer.fit``. The LightningModule must not override ``on_before_batch_transfer`` (Lightning
would use only one of the two). With several processes, give the Trainer
``use_distributed_sampler=False``: the samplers here shard by rank themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from aigenbench.classpath import instantiate
from aigenbench.data.batch import collate_evaluation, collate_training
from aigenbench.data.config import DataConfig
from aigenbench.data.crops import EvalCrop, TrainCrop
from aigenbench.data.loading import EvaluationDataset, TrainingDataset, worker_init_fn
from aigenbench.data.pipelines import (
    EvalAugmentation,
    EvalPipeline,
    TrainAugmentation,
    TrainPipeline,
)
from aigenbench.data.sampler import ShardSampler, WindowSampler
from aigenbench.data.sources import ImageSource, open_source
from aigenbench.errors import ConfigError
from aigenbench.protocol import BenchmarkPlan, EvaluationSet

Stage = str  # "validate" | "test"


def make_train_pipeline(
    config: DataConfig,
    input_size: int,
    crop: TrainCrop,
    method: TrainAugmentation | None = None,
) -> TrainPipeline:
    """The configured training pipeline (``config.train_pipeline`` or the default), with a
    method's augmentation (checked against the protocol in benchmark mode)."""
    defaults: dict[str, Any] = {
        "input_size": input_size,
        "crop": crop,
        "seed": config.augmentation_seed,
        "maximum_processing_size": config.maximum_processing_size,
        "stochastic": config.stochastic_augmentation,
    }
    if method is not None:  # only then: a user pipeline need not know these arguments
        if method.deterministic is not None:
            defaults["augmentation"] = method.deterministic
        if method.stochastic is not None:
            defaults["stochastic_steps"] = method.stochastic
            defaults["benchmark"] = config.degradations
    return instantiate(config.train_pipeline or TrainPipeline, "data.train_pipeline", **defaults)


def make_eval_pipeline(
    config: DataConfig,
    input_size: int,
    crop: EvalCrop,
    method: EvalAugmentation | None = None,
) -> EvalPipeline:
    """The configured evaluation pipeline (``config.eval_pipeline`` or the default), with a
    method's augmentation after the mandatory degradations."""
    span = config.eval_jpeg_quality_range
    defaults: dict[str, Any] = {
        "input_size": input_size,
        "crop": crop,
        "seed": config.augmentation_seed,
        "maximum_processing_size": config.maximum_processing_size,
        "degradations": config.degradations,
        "jpeg_quality": tuple(config.eval_jpeg_quality),
        "jpeg_quality_range": None if span is None else (int(span[0]), int(span[1])),
    }
    if method is not None:
        defaults.update(
            {
                key: value
                for key, value in (
                    ("before_crops", method.before_crops),
                    ("per_crop", method.per_crop),
                    ("crops", method.crops),
                )
                if value is not None
            }
        )
    return instantiate(config.eval_pipeline or EvalPipeline, "data.eval_pipeline", **defaults)


class WindowDataModule(L.LightningDataModule):
    """Training and evaluation data of one window (see the module doc)."""

    def __init__(
        self,
        source: ImageSource | str,
        plan: BenchmarkPlan,
        window: int | None,
        config: DataConfig,
        *,
        input_size: int = 224,
        train_crop: TrainCrop = "resize",
        eval_crop: EvalCrop = "resize",
        stage: Stage = "validate",
        train_pipeline: TrainPipeline | None = None,
        eval_pipeline: EvalPipeline | None = None,
        train_ids: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.source = open_source(source) if isinstance(source, str) else source
        self.plan = plan
        if window is not None:
            plan.check_window(window)
        self.window = window
        # A continual strategy trains a window on its own rows plus rows of earlier windows.
        self._train_ids = None if train_ids is None else [int(i) for i in train_ids]
        self.unreadable_log: Path | None = None
        """Where the training set appends its unreadable images (see TrainingDataset)."""
        self.config = config
        self.input_size = input_size
        self.stage = stage
        self.train_pipeline = train_pipeline or make_train_pipeline(config, input_size, train_crop)
        self.eval_pipeline = eval_pipeline or make_eval_pipeline(config, input_size, eval_crop)
        self._sampler: WindowSampler | None = None
        self._resume: dict[str, int] | None = None
        self._consumed_epoch = -1
        self._consumed = 0

    # ------------------------------------------------------------------------------- metadata

    @property
    def generator_names(self) -> list[str]:
        """Generator id -> name (id 0 = real)."""
        return self.plan.generator_names

    def evaluation_set(self, stage: Stage | None = None) -> EvaluationSet:
        return self.plan.evaluation(stage or self.stage)  # type: ignore[arg-type]

    # -------------------------------------------------------------------------------- datasets

    @cached_property
    def train_dataset(self) -> TrainingDataset:
        if self.window is None:
            raise ConfigError(
                "this datamodule is for evaluation only (window=None): it has no training set"
            )
        return self.rows_dataset(self.training_ids, self.config.augmentation_factor)

    @property
    def training_ids(self) -> list[int]:
        """The rows this window trains on: the plan's, or those given (``train_ids``)."""
        if self.window is None:
            raise ConfigError(
                "this datamodule is for evaluation only (window=None): it has no training set"
            )
        if self._train_ids is not None:
            return list(self._train_ids)
        return self.plan.training_ids(self.window)

    def rows_dataset(self, ids: Sequence[int], augmentation_factor: int = 1) -> TrainingDataset:
        """Training rows ``ids`` through this window's training pipeline (``augmentation_factor``
        copies each; 1: copy 0 only, what a strategy's post-window passes read)."""
        generator_of = dict(zip(self.plan.train.ids, self.plan.train.generators, strict=True))
        dataset = TrainingDataset(
            self.source,
            ids,
            [generator_of[row_id] for row_id in ids],
            self.plan.generator_names,
            self.train_pipeline,
            augmentation_factor=augmentation_factor,
            window=self.window or 0,
            seed=self.config.augmentation_seed,
            max_pixels=self.config.max_image_pixels,
        )
        dataset.unreadable_log = self.unreadable_log
        return dataset

    def rows_loader(self, ids: Sequence[int], batch_size: int | None = None) -> DataLoader:
        """Batches of training rows ``ids`` (copy 0, in the order given, not sharded by rank);
        ``batch_size`` defaults to the training one."""
        return DataLoader(
            self.rows_dataset(ids),
            batch_size=batch_size or self.config.train_batch_size,
            shuffle=False,
            collate_fn=collate_training,
            **self._loader_options(),
        )

    def eval_dataset(self, stage: Stage | None = None) -> EvaluationDataset:
        evaluation = self.evaluation_set(stage)
        return EvaluationDataset(
            self.source,
            evaluation.ids,
            evaluation.generators,
            self.plan.generator_names,
            self.eval_pipeline,
            split="validation",
            max_pixels=self.config.max_image_pixels,
        )

    # ----------------------------------------------------------------------------- dataloaders

    def _loader_options(self) -> dict[str, Any]:
        workers = self.config.num_workers
        pin = (
            self.config.pin_memory
            if self.config.pin_memory is not None
            else torch.cuda.is_available()
        )
        options: dict[str, Any] = {"num_workers": workers, "pin_memory": pin}
        if workers > 0:
            options.update(
                worker_init_fn=worker_init_fn,
                persistent_workers=self.config.persistent_workers,
                prefetch_factor=self.config.prefetch_factor,
            )
        return options

    @property
    def train_sampler(self) -> WindowSampler:
        if self._sampler is None:
            assert self.window is not None
            sampler = WindowSampler(
                len(self.train_dataset), self.config.augmentation_seed, self.window
            )
            if self._resume is not None:
                sampler.load_state_dict(self._resume)
            self._sampler = sampler
        return self._sampler

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_dataset,
            batch_size=self.config.train_batch_size,
            sampler=self.train_sampler,
            collate_fn=collate_training,
            **self._loader_options(),
        )

    def _eval_dataloader(self, stage: Stage) -> DataLoader:
        dataset = self.eval_dataset(stage)
        return DataLoader(
            dataset,
            batch_size=self.config.eval_batch_size,
            sampler=ShardSampler(len(dataset)),
            collate_fn=collate_evaluation,
            **self._loader_options(),
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_dataloader("validate")

    def test_dataloader(self) -> DataLoader:
        return self._eval_dataloader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._eval_dataloader(self.stage)

    # -------------------------------------------------------------------------------- resuming

    def resume_at(self, epoch: int, samples_done: int) -> None:
        """Start the training order of ``epoch`` after ``samples_done`` samples (this rank's)."""
        self._resume = {"epoch": int(epoch), "samples_done": int(samples_done)}
        self._consumed_epoch, self._consumed = int(epoch), int(samples_done)
        if self._sampler is not None:
            self._sampler.load_state_dict(self._resume)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        trainer = self.trainer
        if trainer is not None and trainer.training and self._sampler is not None:
            if self._consumed_epoch != self._sampler.epoch:
                self._consumed_epoch, self._consumed = self._sampler.epoch, 0
            self._consumed += len(batch["id"])
        return batch

    def state_dict(self) -> dict[str, Any]:
        if self.window is None or self._consumed_epoch < 0:
            return {}
        epoch, done = self._consumed_epoch, self._consumed
        if self._sampler is not None and done >= len(self._sampler):
            epoch, done = epoch + 1, 0
        return {"window": self.window, "epoch": epoch, "samples_done": done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict or state_dict.get("window") != self.window:
            return
        self.resume_at(state_dict["epoch"], state_dict["samples_done"])
