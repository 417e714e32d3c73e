"""One window of an experiment: train it (or resume it), score it, record it."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import lightning as L
import numpy as np
import torch

from aigenbench.config import trainer_passthrough
from aigenbench.errors import ConfigError
from aigenbench.evaluation.experiment import (
    evaluate_window_predictions,
    headline_text,
    window_headline,
    write_window_metrics,
)
from aigenbench.evaluation.metrics import WindowEvaluation
from aigenbench.evaluation.predictions import predictions_file_name, save_predictions
from aigenbench.files import write_text_atomic
from aigenbench.protocol import REAL_GENERATOR
from aigenbench.training.cached_data import CachedFeatures, FeatureDataModule
from aigenbench.training.checkpoint_io import (
    AtomicCheckpointIO,
    BrokenCheckpoint,
    CheckpointInfo,
    inspect_checkpoint,
    move_aside,
    pick_resume_checkpoint,
    remove_rolling_checkpoints,
    remove_temporary_files,
)
from aigenbench.training.collect import collect_predictions
from aigenbench.training.experiment_dir import STRATEGY_FILES, DoneCheck
from aigenbench.training.interrupts import (
    CheckpointOnSignal,
    RunStateCheckpoint,
    StopEvaluationOnSignal,
)
from aigenbench.training.loader_wait import LoaderWait
from aigenbench.training.logs import WINDOWS_VERSION, TrainingRates, log_window_metrics
from aigenbench.training.pixel_cache import PixelCache, PixelDataModule
from aigenbench.training.preemption import cluster_plugins
from aigenbench.training.progress import WindowProgressBar
from aigenbench.training.shared_folder import SharedRunFolderCheck

if TYPE_CHECKING:
    from aigenbench.config import Config
    from aigenbench.data.datamodule import WindowDataModule
    from aigenbench.models.detector import Detector
    from aigenbench.protocol import BenchmarkPlan
    from aigenbench.training.experiment_dir import ExperimentDir
    from aigenbench.training.interrupts import SignalFlag
    from aigenbench.training.module import DetectorModule
    from aigenbench.training.strategies import Strategy

logger = logging.getLogger("aigenbench")


def copies_text(factor: int) -> str:
    """`` x 4 augmented copies`` (nothing for one copy: each image is seen once)."""
    return f" x {factor} augmented copies" if factor > 1 else ""


def window_seed(experiment_seed: int, window: int) -> int:
    """The seed of window ``window``: a function of (experiment seed, window) only."""
    return int(np.random.SeedSequence([experiment_seed, window]).generate_state(1)[0])


def world_size_of(trainer: L.Trainer) -> int:
    """Processes that train: devices per node (as Lightning resolved them) x nodes."""
    return int(trainer.num_devices) * int(trainer.num_nodes)


@dataclass
class WindowResult:
    window: int
    generators: list[str]
    seconds: float
    steps: int
    epochs: int
    n_train: int
    n_eval: int
    skipped: bool = False
    headline: dict[str, float | None] = field(default_factory=dict)
    world_size: int | None = None
    """Processes that trained it (None: not recorded)."""
    evaluation: WindowEvaluation | None = None
    """Its metrics, computed once from its predictions in memory (rank 0, when it was scored
    by this process; None when skipped)."""

    @classmethod
    def from_done(cls, window: int, generators: list[str], record: dict[str, Any]) -> WindowResult:
        """A window finished earlier, as its DONE record has it."""
        return cls(
            window,
            generators,
            0.0,
            record["steps"],
            record["epochs"],
            record["n_train"],
            record["n_eval"],
            skipped=True,
            world_size=record.get("world_size"),
        )


class ExperimentContext(Protocol):
    """What a window needs of its experiment (``ExperimentRunner`` provides it): the window
    depends on this, never on the runner's module, so imports go one way (runner -> window)."""

    config: Config
    plan: BenchmarkPlan
    dir: ExperimentDir
    flag: SignalFlag
    source: Any
    rank_zero: bool

    def say(self, text: str) -> None: ...

    def fit_command(self) -> str: ...


class WindowJob:
    """Trains, scores and records window ``window`` of ``runner``'s experiment."""

    def __init__(
        self,
        runner: ExperimentContext,
        window: int,
        previous: Detector | None,
        earlier: list[WindowResult] | None = None,
    ) -> None:
        self.runner = runner
        self.earlier = earlier or []
        """The results of windows 0..window-1 (what they trained: steps, epochs, world size)."""
        self.config = runner.config
        self.plan = runner.plan
        self.dir = runner.dir
        self.window = window
        self._previous = previous
        self._final: Detector | None = None
        self._state_stale = False
        """The strategy state on disk is not vouched for by DONE: computed again."""
        self._features: CachedFeatures | None = None
        self._pixels: PixelCache | None = None
        self.loader_wait = LoaderWait()
        """How long this window's training waited for data versus computed."""

    # ------------------------------------------------------------------------------ weights

    @property
    def final_detector(self) -> Detector:
        """This window's final weights (loaded from final.ckpt when the window was skipped)."""
        if self._final is None:
            self._final = self._load_final(self.window)
        return self._final

    def _load_final(self, window: int) -> Detector:
        from aigenbench.models.build import load_detector

        path = self.dir.final_checkpoint(window)
        try:
            inspect_checkpoint(path)
        except BrokenCheckpoint as error:
            raise ConfigError(
                f"{path} (the final weights of window {window}) is damaged ({error}). Run "
                f"`{self.runner.fit_command()}`: it checks every window and trains a damaged "
                "one again"
            ) from None
        return load_detector(path).detector

    def _starting_detector(self) -> Detector | None:
        """Window k starts from window k-1's final weights (None: build from the config)."""
        if self._previous is not None:
            return self._previous
        if self.window > 0:
            return self._load_final(self.window - 1)
        return None

    def _usable_final(self) -> CheckpointInfo | None:
        """This window's final.ckpt when it loads (trained, then stopped before DONE).

        A damaged one is moved aside with a message, and the window is trained again.
        """
        path = self.dir.final_checkpoint(self.window)
        if not path.is_file():
            return None
        try:
            return inspect_checkpoint(path)
        except BrokenCheckpoint as error:
            if self.runner.rank_zero:
                aside = move_aside(path)
                self.runner.say(
                    f"warning: {path} is damaged ({error}); moved it to {aside.name}, window "
                    f"{self.window} is trained again"
                )
            return None

    def _offsets(self) -> tuple[int, int]:
        """Optimiser steps and epochs of the earlier windows (staged switches count from 0)."""
        if len(self.earlier) < self.window:  # re-scoring: not needed to score
            return 0, 0
        earlier = self.earlier[: self.window]
        return sum(r.steps for r in earlier), sum(r.epochs for r in earlier)

    def _known_generator_ids(self) -> list[int]:
        names = {REAL_GENERATOR}
        for window in self.plan.windows[: self.window + 1]:
            names.update(window)
        return [i for i, name in enumerate(self.plan.generator_names) if name in names]

    def seed(self) -> None:
        """Seed every generator from (experiment seed, window): after the starting weights are
        loaded (loading draws random initial weights first) and before the detector and the data
        are built, so a window started in a fresh process draws exactly what an uninterrupted run
        draws."""
        L.seed_everything(window_seed(self.config.experiment.seed, self.window), verbose=False)

    def module(self, detector: Detector | None) -> DetectorModule:
        from aigenbench.models.method_registry import resolve_method

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
        datamodule = WindowDataModule(
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
        datamodule.unreadable_log = self.dir.unreadable_training_path(self.window)
        return datamodule

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
        if not strategy.plugins or (state_exists(window_dir) and not self._state_stale):
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

    def _loggers(self, version: str | None = None) -> list[Any]:
        """This window's loggers (``version``: ``windows`` for the per-window metrics axis)."""
        from aigenbench.training.logs import make_loggers

        experiment = self.config.experiment
        return make_loggers(
            list(experiment.loggers),
            self.dir.logs_dir,
            version or f"window_{self.window}",
            self.config.experiment_id,
            experiment.wandb_project,
        )

    def _fit_settings(self) -> dict[str, Any]:
        """The fit Trainer's settings (without its loggers, callbacks and folders)."""
        trainer = self.config.trainer
        return {
            **self._trainer_options(),
            "max_epochs": trainer.max_epochs,
            "max_steps": trainer.max_steps,
            "accumulate_grad_batches": trainer.accumulate_grad_batches,
            "gradient_clip_val": trainer.gradient_clip_val,
            "gradient_clip_algorithm": trainer.gradient_clip_algorithm,
            "log_every_n_steps": trainer.log_every_n_steps,
            "limit_train_batches": trainer.limit_train_batches,
            "limit_val_batches": 0,
            "num_sanity_val_steps": 0,
            **trainer_passthrough(self.config, "fit"),
        }

    def check_accepted(self) -> None:
        """Refuse now what this window would refuse once started: its Trainer settings and,
        when it starts from the config, its model (a method's backbone, ``method_args``).
        Nothing is written and no random draw of the run is consumed (run by the runner before
        the experiment folder exists, so a refused configuration leaves nothing in ``runs/``)."""
        from lightning.fabric.utilities.exceptions import MisconfigurationException
        from lightning.pytorch.utilities.seed import isolate_rng

        try:
            L.Trainer(**self._fit_settings(), logger=False, enable_checkpointing=False)
        except (MisconfigurationException, ValueError, TypeError) as error:
            raise ConfigError(
                f"Lightning refuses the trainer settings: {error} (change that --trainer.<option>;"
                " `aigenbench fit --help full` lists them)"
            ) from None
        if self.window == 0 and not self.dir.final_checkpoint(0).is_file():
            from aigenbench.training.schedules import build_optimizer

            with isolate_rng():  # built and dropped: window 0 builds it again, seeded
                module = self.module(None)
                build_optimizer(module.config.optimizer_settings, module.parameter_groups())

    def fit_trainer(self) -> L.Trainer:
        from lightning.pytorch.callbacks import ModelCheckpoint

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
            enable_version_counter=False,  # always last.ckpt, replaced (never last-v1.ckpt)
            **every,
        )
        run_state = RunStateCheckpoint()
        fit_trainer = L.Trainer(
            **self._fit_settings(),
            default_root_dir=self.dir.checkpoint_dir(self.window),
            logger=self._loggers() or False,
            plugins=[AtomicCheckpointIO(), *cluster_plugins(self.runner.flag)],
            callbacks=[
                SharedRunFolderCheck(self.dir.root),
                *self._progress_bar(),
                periodic,
                CheckpointOnSignal(self.runner.flag, self.dir.last_checkpoint(self.window)),
                run_state,
                TrainingRates(),
                self.loader_wait,
            ],
        )
        run_state.world_size = world_size_of(fit_trainer)
        return fit_trainer

    def eval_trainer(self) -> L.Trainer:
        return L.Trainer(
            **self._trainer_options(),
            **trainer_passthrough(self.config, "evaluate"),
            logger=False,
            enable_checkpointing=False,
            plugins=cluster_plugins(self.runner.flag),
            callbacks=[
                SharedRunFolderCheck(self.dir.root),
                *self._progress_bar(),
                StopEvaluationOnSignal(self.runner.flag),
            ],
        )

    def _progress_bar(self) -> list[L.Callback]:
        return [WindowProgressBar()] if self._show_progress() else []

    def _show_progress(self) -> bool:
        # In a log file a bar is a long line of carriage returns: the per-window lines suffice.
        return bool(self.config.trainer.enable_progress_bar) and sys.stderr.isatty()

    # ---------------------------------------------------------------------------------- run

    def run(self) -> WindowResult:
        window, started = self.window, time.perf_counter()
        generators = self.plan.windows[window]
        check = self.dir.check_done(window)
        if check.record is not None:
            record = check.record
            self.runner.say(f"\nwindow {window}: done earlier, skipped ({', '.join(generators)})")
            if self.runner.rank_zero:  # a kill between DONE and this clean-up leaves them behind
                remove_rolling_checkpoints(self.dir.checkpoint_dir(window))
            return WindowResult.from_done(window, generators, record)
        if check.problems:
            self._set_invalid_done_aside(check)
        final = self._usable_final()  # trained, then stopped before DONE
        trained = final is not None
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
        if final is not None:
            detector = self._load_final(window)
            self.seed()
            module = self.module(detector)
            datamodule = self.datamodule(module, train_ids=strategy.training_ids())
            steps, epochs, world_size = final.global_step, final.epoch, final.world_size
        else:
            self.seed()
            module = self.module(start)
            module.strategy = strategy
            datamodule = self.datamodule(module, train_ids=strategy.training_ids())
            steps, epochs, world_size = self._fit(module, datamodule)
        self._finish_strategy(strategy, module, datamodule)
        self._final = module.detector
        evaluation = self._score(module, datamodule, "validate")
        if self.runner.rank_zero and module.metric_results:
            write_text_atomic(
                self.dir.window_dir(window) / "method_metrics.json",
                json.dumps(module.metric_results, indent=2) + "\n",
            )
        headline: dict[str, float | None] = {}
        if self.runner.rank_zero and evaluation is not None:
            headline = window_headline(evaluation)
            log_window_metrics(self._loggers(WINDOWS_VERSION), window, evaluation.to_json())
            self.dir.mark_done(
                window,
                {
                    "generators": generators,
                    "steps": steps,
                    "epochs": epochs,
                    "world_size": world_size,
                    "n_train": n_train,
                    "n_eval": n_eval,
                    "seconds": round(time.perf_counter() - started, 3),
                    "headline": headline,
                    "strategy": {"name": strategy.name, **strategy.costs.to_dict()},
                },
            )
            remove_rolling_checkpoints(self.dir.checkpoint_dir(window))
            self.runner.say(
                f"window {window}: AUROC (%) {headline_text(headline)}" + self._loader_note()
            )
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
            world_size=world_size,
            evaluation=evaluation,
        )

    def _loader_note(self) -> str:
        """``; the loader held the device back ...`` when this window's training waited for
        data a large share of its time (nothing otherwise, or when nothing was trained)."""
        totals = self.loader_wait.totals
        if not totals.held_back():
            return ""
        data = self.config.data
        return f"; {totals.advice(data.num_workers, data.pixel_cache)}"

    def _set_invalid_done_aside(self, check: DoneCheck) -> None:
        """An untrustworthy DONE: rebuilt from final.ckpt, or the window trained again.

        The strategy state is a function of final.ckpt: one DONE does not vouch for (swapped
        from another window, zeroed, ...) is moved aside and computed again from final.ckpt.
        """
        done = self.dir.done_path(self.window)
        final = self.dir.final_checkpoint(self.window)
        window_dir = self.dir.window_dir(self.window)
        stale = check.final_damaged or any(name in check.unverified for name in STRATEGY_FILES)
        stale_state = [
            window_dir / n for n in STRATEGY_FILES if stale and (window_dir / n).is_file()
        ]
        # Every process decides from the same check (rank 0 alone moves the files).
        self._state_stale = bool(stale_state)
        if check.final_damaged:
            then = f"{final} is missing or not the file DONE recorded: the window is trained again"
        else:
            then = f"it is rebuilt from {final}, which is intact (the window is scored again"
            then += ", its strategy state computed again)" if stale_state else ")"
        self.runner.say(f"warning: {done} cannot be trusted ({'; '.join(check.problems)}); {then}")
        if self.runner.rank_zero:
            self.dir.set_done_aside(self.window)
            if check.final_damaged and final.is_file():
                move_aside(final)
            # The JSON first: without it the state is absent, never half there.
            for path in sorted(stale_state, key=lambda p: p.suffix != ".json"):
                move_aside(path)

    def _fit(self, module: DetectorModule, datamodule: WindowDataModule) -> tuple[int, int, int]:
        """Train (or continue) the window; its steps, epochs and world size."""
        directory = self.dir.checkpoint_dir(self.window)
        if self.runner.rank_zero:
            remove_temporary_files(directory)
        resume = pick_resume_checkpoint(
            directory, may_modify=self.runner.rank_zero, say=self.runner.say
        )
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
        world_size = world_size_of(trainer)
        self._check_world_size(world_size, resume)
        if resume is not None:
            self.runner.say(
                f"window {self.window}: resuming from {resume.path} (step {resume.global_step})"
            )
        data: L.LightningDataModule = datamodule
        cache = self._cache(module, training=True)
        store = cache.fill_training(module, datamodule, self.eval_trainer()) if cache else None
        if store is not None:
            data = FeatureDataModule(datamodule, train_store=store)
        elif self.config.data.pixel_cache:
            data = PixelDataModule(datamodule, self._pixel_cache())
        self.runner.flag.raise_if_received(f"before training window {self.window}")
        trainer.fit(
            module,
            datamodule=data,
            ckpt_path=str(resume.path) if resume is not None else None,
            weights_only=True,
        )
        module.on_window_end()
        # weights only: the next window starts from these with a fresh optimiser and schedule
        trainer.save_checkpoint(self.dir.final_checkpoint(self.window), weights_only=True)
        return int(trainer.global_step), int(trainer.current_epoch), world_size

    def _check_world_size(self, world_size: int, resume: CheckpointInfo | None) -> None:
        """Refuse to continue on another number of processes (unless asked): the overall batch
        and the position in the epoch depend on it, so the results would change."""
        recorded: list[tuple[str, int]] = []
        if resume is not None and resume.world_size is not None:
            recorded.append((str(resume.path), resume.world_size))
        for earlier in self.earlier:
            if isinstance(earlier.world_size, int):
                recorded.append((f"window {earlier.window}", earlier.world_size))
        differing = [(what, size) for what, size in recorded if size != world_size]
        if not differing:
            return
        what, size = differing[0]
        trainer = self.config.trainer
        text = (
            f"{what} was trained by {size} process(es) (devices x num_nodes); this run has "
            f"{world_size} (devices {trainer.devices!r} x num_nodes {trainer.num_nodes})"
        )
        if self.config.experiment.allow_world_size_change:
            self.runner.say(
                f"warning: {text}; continuing as asked (experiment.allow_world_size_change): "
                "the results differ from a run on one world size"
            )
            return
        raise ConfigError(
            f"{text}. The overall batch (train_batch_size x accumulate_grad_batches x processes) "
            "and the position in the epoch depend on it, so the results would change. Run with "
            f"{size} process(es) (e.g. --trainer.devices {size} --trainer.num_nodes 1), or pass "
            "--experiment.allow_world_size_change true to accept results that differ from an "
            "uninterrupted run"
        )

    def _cache(self, module: DetectorModule, *, training: bool) -> CachedFeatures | None:
        """The feature cache, when this window's backbone is frozen.

        Training features also need a training pipeline without stochastic part.
        """
        if self.config.experiment.feature_cache == "off":
            return None
        if not module.backbone_frozen_for_window():
            return None
        if training and self.config.data.stochastic_augmentation:
            return None
        if self._features is None:
            self._features = CachedFeatures(
                self.dir.features_dir, self.config.raw, self.plan, self.runner.say
            )
        return self._features

    def _pixel_cache(self) -> PixelCache:
        """The experiment's pixel stores (``data.pixel_cache``), shared by every window."""
        if self._pixels is None:
            self._pixels = PixelCache(
                self.dir.pixels_dir, self.config.raw, self.plan, self.runner.say, self.runner.flag
            )
        return self._pixels

    def _score(
        self, module: DetectorModule, datamodule: WindowDataModule, stage: str
    ) -> WindowEvaluation | None:
        """Score ``stage``; rank 0 writes the predictions file and metrics.json, the metrics
        computed once from the predictions in memory, and gets them (other ranks: None)."""
        trainer = self.eval_trainer()
        data: L.LightningDataModule = datamodule
        cache = self._cache(module, training=False)
        store = cache.fill_evaluation(module, datamodule, stage, trainer) if cache else None
        if store is not None:
            data = FeatureDataModule(datamodule, eval_store=store)
        elif self.config.data.pixel_cache:
            data = PixelDataModule(datamodule, self._pixel_cache())
        self.runner.flag.raise_if_received(f"before scoring window {self.window}")
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
        window_dir = self.dir.window_dir(self.window)
        path = window_dir / predictions_file_name(stage)
        save_predictions(path, predictions)
        metrics = evaluate_window_predictions(predictions, self.window, path)
        write_window_metrics(window_dir, self.window, stage, evaluation=metrics)
        return metrics

    def score(self, stage: str) -> tuple[Path, WindowEvaluation | None]:
        """Score this (finished) window's final weights on ``stage``: its predictions file and
        (rank 0) its metrics."""
        module = self.module(self._load_final(self.window))
        evaluation = self._score(module, self.datamodule(module, stage), stage)
        return self.dir.window_dir(self.window) / predictions_file_name(stage), evaluation
