"""One window of an experiment: train it (or resume it), score it, record it."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch

from aigenbench.config import trainer_passthrough
from aigenbench.evaluation.experiment import headline_text, window_headline, write_window_metrics
from aigenbench.evaluation.predictions import predictions_file_name, save_predictions
from aigenbench.files import write_text_atomic
from aigenbench.protocol import REAL_GENERATOR
from aigenbench.training.cached_data import CachedFeatures, FeatureDataModule
from aigenbench.training.collect import collect_predictions
from aigenbench.training.interrupts import (
    CheckpointOnSignal,
    RandomStateCheckpoint,
    StopEvaluationOnSignal,
)
from aigenbench.training.progress import WindowProgressBar

if TYPE_CHECKING:
    from aigenbench.data.datamodule import WindowDataModule
    from aigenbench.models.detector import Detector
    from aigenbench.training.module import DetectorModule
    from aigenbench.training.runner import ExperimentRunner, WindowResult
    from aigenbench.training.strategies import Strategy

logger = logging.getLogger("aigenbench")


def copies_text(factor: int) -> str:
    """`` x 4 augmented copies`` (nothing for one copy: each image is seen once)."""
    return f" x {factor} augmented copies" if factor > 1 else ""


class WindowJob:
    """Trains, scores and records window ``window`` of ``runner``'s experiment."""

    def __init__(self, runner: ExperimentRunner, window: int, previous: Detector | None) -> None:
        self.runner = runner
        self.config = runner.config
        self.plan = runner.plan
        self.dir = runner.dir
        self.window = window
        self._previous = previous
        self._final: Detector | None = None
        self._features: CachedFeatures | None = None

    # ------------------------------------------------------------------------------ weights

    @property
    def final_detector(self) -> Detector:
        """This window's final weights (loaded from final.ckpt when the window was skipped)."""
        if self._final is None:
            self._final = self._load_final(self.window)
        return self._final

    def _load_final(self, window: int) -> Detector:
        from aigenbench.models.build import load_detector

        return load_detector(self.dir.final_checkpoint(window)).detector

    def _starting_detector(self) -> Detector | None:
        """Window k starts from window k-1's final weights (None: build from the config)."""
        if self._previous is not None:
            return self._previous
        if self.window > 0:
            return self._load_final(self.window - 1)
        return None

    def _final_progress(self) -> tuple[int, int]:
        """Optimiser steps and epochs of this window, as its final checkpoint records them."""
        from aigenbench.models.build import read_checkpoint

        content = read_checkpoint(self.dir.final_checkpoint(self.window))
        return int(content.get("global_step", 0)), int(content.get("epoch", 0))

    def _offsets(self) -> tuple[int, int]:
        steps = epochs = 0
        for earlier in range(self.window):
            record = self.dir.done_record(earlier)
            steps += int(record.get("steps", 0))
            epochs += int(record.get("epochs", 0))
        return steps, epochs

    def _known_generator_ids(self) -> list[int]:
        names = {REAL_GENERATOR}
        for window in self.plan.windows[: self.window + 1]:
            names.update(window)
        return [i for i, name in enumerate(self.plan.generator_names) if name in names]

    def module(self, detector: Detector | None) -> DetectorModule:
        from aigenbench.models.methods import resolve_method

        if detector is None:
            L.seed_everything(self.config.experiment.seed + self.window, verbose=False)
        steps, epochs = self._offsets()
        return resolve_method(self.config.model.method)(
            self.config.model,
            self.plan.generator_names,
            window=self.window,
            step_offset=steps,
            epoch_offset=epochs,
            known_generator_ids=self._known_generator_ids(),
            detector=detector,
        )

    # --------------------------------------------------------------------------------- data

    def datamodule(
        self,
        module: DetectorModule,
        stage: str = "validate",
        train_ids: list[int] | None = None,
    ) -> WindowDataModule:
        """The window's data, with the pixel augmentations of ``module``'s method."""
        from aigenbench.data.datamodule import (
            WindowDataModule,
            make_eval_pipeline,
            make_train_pipeline,
        )

        model, data = self.config.model, self.config.data
        return WindowDataModule(
            self.runner.source,
            self.plan,
            self.window,
            data,
            input_size=model.input_size,
            train_crop=model.train_crop,
            eval_crop=model.eval_crop,
            stage=stage,
            train_ids=train_ids,
            train_pipeline=make_train_pipeline(
                data, model.input_size, model.train_crop, module.train_augmentation()
            ),
            eval_pipeline=make_eval_pipeline(
                data, model.input_size, model.eval_crop, module.eval_augmentation()
            ),
        )

    def membership(self, strategy: Strategy | None = None) -> dict[str, Any]:
        evaluation = self.plan.evaluation("validate")
        membership: dict[str, Any] = {
            "window": self.window,
            "generators": self.plan.windows[self.window],
            "train_ids": self.plan.training_ids(self.window),
            "eval_ids": list(evaluation.ids),
            "pairing": {str(row_id): gen for row_id, gen in evaluation.pairing.items()},
        }
        if strategy is not None and strategy.replayed_ids():
            membership["train_ids"] = strategy.training_ids()
            membership["replayed_ids"] = strategy.replayed_ids()
        return membership

    # --------------------------------------------------------------------- continual strategy

    def strategy(self, previous: Detector | None) -> Strategy:
        """This window's continual strategy, given window k-1's detector and the state it left."""
        from aigenbench.training.strategies import (
            StrategyConfig,
            WindowContext,
            build_strategy,
            load_state,
        )

        config = self.config.strategy or StrategyConfig()
        state: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        if config.name != "finetune" and self.window > 0:
            state = load_state(self.dir.window_dir(self.window - 1))
        context = WindowContext(
            self.plan,
            self.window,
            self.config.experiment.seed,
            previous=previous,
            previous_state=state[0],
            previous_tensors=state[1],
        )
        return build_strategy(config, context)

    def _finish_strategy(
        self, strategy: Strategy, module: DetectorModule, datamodule: WindowDataModule
    ) -> None:
        """Once the weights are final: the state window k+1 starts from (memory, Fisher)."""
        from aigenbench.training.strategies import save_state, state_exists

        module.strategy = None  # the teacher is not needed past training
        window_dir = self.dir.window_dir(self.window)
        if not strategy.plugins or state_exists(window_dir):
            return
        device = self.eval_trainer().strategy.root_device
        module.to(device)
        with torch.random.fork_rng(devices=[]):  # loaders draw seeds: leave the next window's alone
            strategy.after_window(module, datamodule.rows_loader, device)
        if self.runner.rank_zero:
            save_state(window_dir, *strategy.state())

    # ------------------------------------------------------------------------------ trainers

    def _trainer_options(self) -> dict[str, Any]:
        trainer = self.config.trainer
        return {
            "accelerator": trainer.accelerator,
            "devices": trainer.devices,
            "num_nodes": trainer.num_nodes,
            "strategy": trainer.strategy,
            "precision": trainer.precision,
            "deterministic": trainer.deterministic,
            "enable_progress_bar": self._show_progress(),
            "use_distributed_sampler": False,  # the data samplers shard by rank themselves
            "enable_model_summary": False,
        }

    def _loggers(self) -> list[Any]:
        from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

        chosen = self.config.experiment.loggers
        version = f"window_{self.window}"
        loggers: list[Any] = []
        if "tensorboard" in chosen:
            loggers.append(
                TensorBoardLogger(self.dir.logs_dir, name="tensorboard", version=version)
            )
        if "csv" in chosen:
            loggers.append(CSVLogger(self.dir.logs_dir, name="csv", version=version))
        if "wandb" in chosen:
            loggers.append(self._wandb_logger())
        return loggers

    def _wandb_logger(self) -> Any:
        from lightning.pytorch.loggers import WandbLogger  # wandb itself: checked by the runner

        return WandbLogger(
            project=self.config.experiment.wandb_project,
            group=self.config.experiment_id,
            name=f"{self.config.experiment_id}/window_{self.window}",
            save_dir=str(self.dir.logs_dir),
        )

    def fit_trainer(self) -> L.Trainer:
        from lightning.pytorch.callbacks import ModelCheckpoint

        trainer = self.config.trainer
        experiment = self.config.experiment
        every: dict[str, Any] = (
            {"every_n_train_steps": experiment.checkpoint_every_n_steps}
            if experiment.checkpoint_every_n_steps
            else {"train_time_interval": timedelta(minutes=experiment.checkpoint_every_minutes)}
        )
        periodic = ModelCheckpoint(
            dirpath=self.dir.checkpoint_dir(self.window),
            save_top_k=0,
            save_last=True,
            save_on_train_epoch_end=True,
            **every,
        )
        return L.Trainer(
            **self._trainer_options(),
            max_epochs=trainer.max_epochs,
            max_steps=trainer.max_steps,
            accumulate_grad_batches=trainer.accumulate_grad_batches,
            gradient_clip_val=trainer.gradient_clip_val,
            gradient_clip_algorithm=trainer.gradient_clip_algorithm,
            log_every_n_steps=trainer.log_every_n_steps,
            limit_train_batches=trainer.limit_train_batches,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            **trainer_passthrough(self.config, "fit"),
            default_root_dir=self.dir.checkpoint_dir(self.window),
            logger=self._loggers() or False,
            callbacks=[
                *self._progress_bar(),
                periodic,
                CheckpointOnSignal(self.runner.flag, self.dir.last_checkpoint(self.window)),
                RandomStateCheckpoint(),
            ],
        )

    def eval_trainer(self) -> L.Trainer:
        return L.Trainer(
            **self._trainer_options(),
            **trainer_passthrough(self.config, "evaluate"),
            logger=False,
            enable_checkpointing=False,
            callbacks=[*self._progress_bar(), StopEvaluationOnSignal(self.runner.flag)],
        )

    def _progress_bar(self) -> list[L.Callback]:
        return [WindowProgressBar()] if self._show_progress() else []

    def _show_progress(self) -> bool:
        # In a log file a bar is a long line of carriage returns: the per-window lines suffice.
        return bool(self.config.trainer.enable_progress_bar) and sys.stderr.isatty()

    # ---------------------------------------------------------------------------------- run

    def run(self) -> WindowResult:
        from aigenbench.training.runner import WindowResult

        window, started = self.window, time.perf_counter()
        generators = self.plan.windows[window]
        if self.dir.is_done(window):
            record = self.dir.done_record(window)
            self.runner.say(f"\nwindow {window}: done earlier, skipped ({', '.join(generators)})")
            if self.runner.rank_zero:  # a kill between DONE and this clean-up leaves it behind
                self.dir.last_checkpoint(window).unlink(missing_ok=True)
            return WindowResult(
                window,
                generators,
                0.0,
                int(record.get("steps", 0)),
                int(record.get("epochs", 0)),
                int(record.get("n_train", 0)),
                int(record.get("n_eval", 0)),
                skipped=True,
            )
        trained = self.dir.final_checkpoint(window).is_file()  # then stopped before DONE
        start = None if trained else self._starting_detector()
        strategy = self.strategy(start)  # before training: LwF copies its teacher from `start`
        n_train = len(strategy.training_ids())
        n_eval = len(self.plan.evaluation("validate"))
        earlier = strategy.costs.memory_images
        self.runner.say(
            f"\nwindow {window}/{self.plan.n_windows - 1}: {', '.join(generators)} | "
            f"{n_train} training images"
            + (f" ({earlier} of earlier windows, strategy {strategy.name})" if earlier else "")
            + copies_text(self.config.data.augmentation_factor)
            + f", {n_eval} evaluation images"
        )
        if self.runner.rank_zero:
            self.dir.write_membership(window, self.membership(strategy))
        steps = epochs = 0
        if trained:
            module = self.module(self._load_final(window))
            datamodule = self.datamodule(module, train_ids=strategy.training_ids())
            steps, epochs = self._final_progress()
        else:
            module = self.module(start)
            module.strategy = strategy
            datamodule = self.datamodule(module, train_ids=strategy.training_ids())
            steps, epochs = self._fit(module, datamodule)
        self._finish_strategy(strategy, module, datamodule)
        self._final = module.detector
        predictions_path = self._score(module, datamodule, "validate")
        if self.runner.rank_zero and module.metric_results:
            write_text_atomic(
                self.dir.window_dir(window) / "method_metrics.json",
                json.dumps(module.metric_results, indent=2) + "\n",
            )
        headline: dict[str, float | None] = {}
        if self.runner.rank_zero and predictions_path is not None:
            metrics = write_window_metrics(self.dir.window_dir(window), window, "validate")
            headline = window_headline(json.loads(metrics.read_text(encoding="utf-8")))
            self.dir.mark_done(
                window,
                {
                    "generators": generators,
                    "steps": steps,
                    "epochs": epochs,
                    "n_train": n_train,
                    "n_eval": n_eval,
                    "seconds": round(time.perf_counter() - started, 3),
                    "headline": headline,
                    "strategy": {"name": strategy.name, **strategy.costs.to_dict()},
                },
            )
            self.dir.last_checkpoint(window).unlink(missing_ok=True)
            self.runner.say(f"window {window}: AUROC (%) {headline_text(headline)}")
            if strategy.plugins:
                costs = strategy.costs
                self.runner.say(
                    f"window {window}: strategy {strategy.name}: {costs.memory_images} images of "
                    f"earlier windows, {costs.extra_forward_images} extra forward passes, "
                    f"{costs.seconds:.1f} s"
                )
        return WindowResult(
            window,
            generators,
            time.perf_counter() - started,
            steps,
            epochs,
            n_train,
            n_eval,
            headline=headline,
        )

    def _fit(self, module: DetectorModule, datamodule: WindowDataModule) -> tuple[int, int]:
        resume = self.dir.resume_checkpoint(self.window)
        if resume is not None:
            self.runner.say(f"window {self.window}: resuming from {resume}")
        # Weights loaded from a checkpoint come in eval mode; training starts in train mode (a
        # frozen backbone keeps itself in eval mode).
        module.train()
        module.on_window_start()
        # Torch's generator (dropout, a method's random draws) starts each window from the same
        # state whatever ran before it in this process: an earlier window's feature extraction,
        # or nothing at all when a rerun starts at this window. A resumed window then restores
        # the checkpoint's state at its first batch.
        torch.manual_seed(self.config.experiment.seed + self.window)
        trainer = self.fit_trainer()
        data: L.LightningDataModule = datamodule
        cache = self._cache(module, trainer, training=True)
        if cache is not None:
            store = cache.fill_training(module.detector, datamodule, trainer.strategy.root_device)
            data = FeatureDataModule(datamodule, train_store=store)
        trainer.fit(
            module,
            datamodule=data,
            ckpt_path=str(resume) if resume is not None else None,
            weights_only=True,
        )
        module.on_window_end()
        # weights only: the next window starts from these with a fresh optimiser and schedule
        trainer.save_checkpoint(self.dir.final_checkpoint(self.window), weights_only=True)
        return int(trainer.global_step), int(trainer.current_epoch)

    def _cache(
        self, module: DetectorModule, trainer: L.Trainer, *, training: bool
    ) -> CachedFeatures | None:
        """The feature cache, when this window's backbone is frozen and one process runs it.

        Training features also need a training pipeline without stochastic part.
        """
        if self.config.experiment.feature_cache == "off" or trainer.world_size > 1:
            return None
        if not module.backbone_frozen_for_window():
            return None
        if training and self.config.data.stochastic_augmentation:
            return None
        if self._features is None:
            self._features = CachedFeatures(
                self.dir.features_dir, self.config.raw, self.config.trainer.precision
            )
        return self._features

    def _score(
        self, module: DetectorModule, datamodule: WindowDataModule, stage: str
    ) -> Path | None:
        trainer = self.eval_trainer()
        data: L.LightningDataModule = datamodule
        cache = self._cache(module, trainer, training=False)
        if cache is not None:
            store = cache.fill_evaluation(
                module.detector, datamodule, stage, trainer.strategy.root_device
            )
            data = FeatureDataModule(datamodule, eval_store=store)
        if stage == "test":
            trainer.test(module, datamodule=data, verbose=False)
        else:
            trainer.validate(module, datamodule=data, verbose=False)
        evaluation = self.plan.evaluation(stage)  # type: ignore[arg-type]
        predictions = collect_predictions(
            module.eval_outputs,
            trainer.world_size,
            self.plan,
            evaluation,
            getattr(datamodule.eval_pipeline, "degradation_codes", None),  # user pipelines: none
        )
        if predictions is None:  # not rank 0
            return None
        path = self.dir.window_dir(self.window) / predictions_file_name(stage)
        save_predictions(path, predictions)
        return path

    def score(self, stage: str) -> Path:
        """Score this (finished) window's final weights on ``stage``."""
        module = self.module(self._load_final(self.window))
        path = self._score(module, self.datamodule(module, stage), stage)
        if self.runner.rank_zero and path is not None:
            write_window_metrics(self.dir.window_dir(self.window), self.window, stage)
        return path or self.dir.window_dir(self.window) / predictions_file_name(stage)
