"""The LightningModule of one window: loss, optimiser and schedule, freezing, evaluation rows.

It is also the default detection *method* and the base class of every other one
(``aigenbench.methods.Method``): a method overrides the hooks below that it needs
(docs/METHODS.md): ``build_detector`` (the network: preprocessing, backbone, neck, head),
``compute_loss`` (a loss and its extra terms), ``parameter_groups`` / ``configure_optimizers``,
``register_metrics``, ``scores_fusion``, ``train_augmentation`` / ``eval_augmentation`` (pixels),
``on_window_start`` / ``on_window_end``, and Lightning's ``training_step`` / ``evaluation_step``.

Batches follow the data contract (docs/DESIGN.md): ``image`` uint8 ``[N, 3, H, W]`` (the
module normalises on the device), ``label``, ``generator_id``, ``id`` and, in training,
``copy``; in evaluation one row per crop with ``crop_to_image`` and ``valid``. A batch may
carry ``features`` (``[N, D]``, from :mod:`aigenbench.training.feature_cache`) instead of
``image``: the frozen backbone is then skipped and only the head runs.

Precision, gradient clipping, accumulation and devices belong to the Trainer.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig

from aigenbench import scoring
from aigenbench.data.pipelines import EvalAugmentation, TrainAugmentation
from aigenbench.errors import ConfigError
from aigenbench.models.build import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_KEY,
    build_default_detector,
    build_detector,
    num_outputs,
)
from aigenbench.models.config import ModelConfig
from aigenbench.models.detector import Detector
from aigenbench.models.fusion import fuse_crops, resolve_fusion
from aigenbench.models.method_registry import method_name, resolve_method
from aigenbench.training.schedules import build_optimizer, build_scheduler

logger = logging.getLogger(__name__)

EvalRows = dict[str, torch.Tensor]
LossTerms = torch.Tensor | Mapping[str, torch.Tensor]
"""What ``compute_loss`` returns: the loss, or ``{"loss": total, "<term>": value, ...}``."""


@dataclass
class NoOptions:
    """The default method has no options of its own."""


class DetectorModule(L.LightningModule):
    """Trains and evaluates a :class:`~aigenbench.models.detector.Detector` for one window.

    Args:
        config: the model config (a ModelConfig or its ``to_dict()``).
        generator_names: generator id -> name, id 0 real (``BenchmarkPlan.generator_names``);
            sets the number of classes of a multiclass head (fixed across windows).
        window: index of the window being trained (0-based): ``staged`` with
            ``unfreeze_at: {window: k}`` trains the backbone from window k on.
        step_offset, epoch_offset: optimiser steps / epochs done in earlier windows, so that
            ``unfreeze_at: {step: n}`` / ``{epoch: e}`` count from the experiment's start.
        known_generator_ids: multiclass only: the class ids trained so far (real included);
            the fake score is 1 - P(real) over these classes (None: all classes).
        detector: start from this detector (the previous window's weights) instead of
            building one from ``config`` (which loads the pretrained weights).
    """

    Options: ClassVar[type] = NoOptions
    """A method's own settings: a dataclass built from ``model.method_args``."""

    def __init__(
        self,
        config: ModelConfig | Mapping[str, Any],
        generator_names: Sequence[str] = ("",),
        *,
        window: int = 0,
        step_offset: int = 0,
        epoch_offset: int = 0,
        known_generator_ids: Sequence[int] | None = None,
        detector: Detector | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            config = ModelConfig.from_dict(dict(config))
        config = self._own_method(config)
        self.config = config
        self.options = self.parse_options(config)
        self.generator_names = [str(n) for n in generator_names]
        self.window = int(window)
        self.step_offset = int(step_offset)
        self.epoch_offset = int(epoch_offset)
        self.known_generator_ids = (
            None if known_generator_ids is None else [int(i) for i in known_generator_ids]
        )
        outputs = num_outputs(config, self.generator_names)
        if detector is None:
            detector = build_detector(config, self.generator_names, method=type(self))
        elif detector.num_outputs != outputs:
            raise ConfigError(
                f"the given detector has {detector.num_outputs} outputs, the {config.task} task "
                f"with {len(self.generator_names)} generator names needs {outputs}"
            )
        self.detector = detector
        self._fusion = resolve_fusion(config.fusion)
        self._class_mask: torch.Tensor | None = None
        if self.known_generator_ids is not None and config.task == "multiclass":
            mask = torch.zeros(outputs, dtype=torch.bool)
            mask[self.known_generator_ids] = True
            mask[0] = True  # the real class is always known
            self._class_mask = mask
        if config.channels_last:
            self.detector.backbone.to(memory_format=torch.channels_last)
        self._apply_initial_freezing()
        self.eval_outputs: list[EvalRows] = []
        """Per evaluation batch: the rows of the predictions file (CPU tensors)."""
        self._images_seen = 0
        self._compiled = False
        # continual strategy (training/strategies): a term added to the loss; set by the window
        self.strategy: Any = None
        self.metrics = torch.nn.ModuleDict(self.register_metrics())
        """Evaluation metrics (torchmetrics), updated with per-image scores and labels."""
        self.metric_results: dict[str, float] = {}
        """The metrics' values at the end of the last evaluation."""
        # Plain data only, so checkpoints load with weights_only=True.
        self.save_hyperparameters(self._record())

    # ------------------------------------------------------------------ the method

    @classmethod
    def _own_method(cls, config: ModelConfig) -> ModelConfig:
        """The config naming this class as its method (checkpoints rebuild what trained)."""
        if config.method == "default":
            return config if cls is DetectorModule else replace(config, method=method_name(cls))
        named = resolve_method(config.method)
        if named is cls:
            return config
        if cls is DetectorModule:
            raise ConfigError(
                f"model.method is {config.method!r}: build its class, "
                f"resolve_method({config.method!r})(config, ...), not DetectorModule"
            )
        return replace(config, method=method_name(cls))

    @classmethod
    def parse_options(cls, config: ModelConfig) -> Any:
        """``model.method_args`` as this method's :attr:`Options` (ConfigError if unknown)."""
        known = {f.name for f in dataclasses.fields(cls.Options)}
        unknown = sorted(set(config.method_args) - known)
        if unknown:
            raise ConfigError(
                f"model.method_args: {unknown} are not options of method {config.method!r}; "
                f"its options: {sorted(known) or 'none'}"
            )
        try:
            return cls.Options(**config.method_args)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"model.method_args of method {config.method!r}: {error}") from None

    @classmethod
    def build_detector(
        cls,
        config: ModelConfig,
        generator_names: Sequence[str],
        *,
        pretrained: bool | str | None = None,
    ) -> Detector:
        """The network (a :class:`Detector` or subclass). Default: backbone + linear head."""
        return build_default_detector(config, generator_names, pretrained=pretrained)

    def train_augmentation(self) -> TrainAugmentation | None:
        """Training pixels: a deterministic part and a stochastic part (None: the data config's
        defaults). Runs in data workers: return picklable callables, not bound methods."""
        return None

    def eval_augmentation(self) -> EvalAugmentation | None:
        """Evaluation/predict pixels after the mandatory degradations: before the crops, the
        crops themselves (``make_eval_crops``), per crop (None: the model config's crops)."""
        return None

    def register_metrics(self) -> dict[str, Any]:
        """Evaluation metrics: name -> torchmetrics ``Metric`` fed ``(scores, labels)`` per image
        (fake probability, 0 real / 1 fake). Their values go to ``method_metrics.json``."""
        return {}

    def on_window_start(self) -> None:
        """Called once before a window trains (also again when a window resumes, before the
        checkpoint's weights replace the current ones)."""

    def on_window_end(self) -> None:
        """Called once after a window trained, before its final weights are saved."""

    # ------------------------------------------------------------------ freezing

    @property
    def switch_pending(self) -> bool:
        """``staged`` with a step/epoch switch still ahead (it may happen during this fit)."""
        at = self.config.unfreeze_at
        return (
            self.config.freezing == "staged"
            and at is not None
            and at.unit != "window"
            and self.detector.backbone_frozen
        )

    def backbone_frozen_for_window(self) -> bool:
        """True when the backbone cannot change during this window (its features are cacheable).

        ``probe``; ``staged`` before its window. A step/epoch switch counts as "may change".
        """
        if self.config.freezing == "probe":
            return True
        at = self.config.unfreeze_at
        return (
            self.config.freezing == "staged"
            and at is not None
            and at.unit == "window"
            and self.window < at.value
        )

    def _apply_initial_freezing(self) -> None:
        freezing, at = self.config.freezing, self.config.unfreeze_at
        if freezing == "probe":
            self.detector.freeze_backbone()
        elif freezing in ("tune", "lora"):  # lora: only the adapters (trainable_marker) train
            self.detector.unfreeze_backbone()
        else:
            assert at is not None
            reached = {"window": self.window, "step": self.step_offset, "epoch": self.epoch_offset}[
                at.unit
            ]
            if reached >= at.value:
                self.detector.unfreeze_backbone()
            else:
                # A window switch cannot happen mid-window: plain frozen. A step/epoch switch can:
                # keep requires_grad so distributed wrappers register the parameters.
                self.detector.freeze_backbone(requires_grad=at.unit != "window")

    def _maybe_unfreeze(self) -> None:
        if not self.switch_pending:
            return
        at = self.config.unfreeze_at
        assert at is not None
        reached = (
            self.step_offset + self.trainer.global_step
            if at.unit == "step"
            else self.epoch_offset + self.trainer.current_epoch
        )
        if reached >= at.value:
            self.detector.unfreeze_backbone()
            logger.info(
                "staged: backbone unfrozen at %s %d (backbone lr = %.3g x head lr)",
                at.unit,
                reached,
                self.config.backbone_lr_scale,
            )

    def on_fit_start(self) -> None:
        self._check_distributed_switch()
        if self.detector.backbone_frozen:
            # A frozen backbone is in eval mode on purpose; Lightning warns about it every fit.
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")

    def on_train_epoch_start(self) -> None:
        self._maybe_unfreeze()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._maybe_unfreeze()

    def _check_distributed_switch(self) -> None:
        if not self.switch_pending:
            return
        strategy = self.trainer.strategy
        kwargs = getattr(strategy, "_ddp_kwargs", None)
        if (
            kwargs is not None
            and self.trainer.world_size > 1
            and not kwargs.get("find_unused_parameters", False)
        ):
            raise ConfigError(
                "freezing: staged with a step/epoch switch under DDP needs "
                "strategy: ddp_find_unused_parameters_true (the frozen backbone gets no "
                "gradients before the switch); or switch at a window boundary "
                "(unfreeze_at: {window: k})"
            )

    # ------------------------------------------------------------------ forward

    def setup(self, stage: str) -> None:
        if self.config.compile and not self._compiled:
            self.detector.backbone.compile()
            self._compiled = True

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``[N, outputs]`` (``image``: uint8 or normalised float; or ``features``)."""
        return self.outputs(batch)["logits"]

    def outputs(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The detector's ``head_outputs``: ``logits`` and whatever else its method's loss uses."""
        return self.detector.head_outputs(self.batch_features(batch))

    def batch_features(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Backbone features of a batch (computed, or cached ones the batch carries)."""
        if "features" in batch:
            if not self.detector.backbone_frozen:
                raise ConfigError(
                    "a batch of cached features reached a detector whose backbone is training "
                    "(tune, or staged after its switch): features are only valid for a frozen "
                    "backbone; turn the feature cache off for this window"
                )
            return batch["features"]
        x = batch["image"]
        if x.dtype == torch.uint8:
            x = self.detector.normalize(x)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.detector.features(x)

    def fake_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Fake probability per row (CPU, float32): :func:`aigenbench.scoring.fake_scores` of
        the logits, the classes not trained yet left out (sigmoid; or 1 - softmax(real))."""
        masked = self._masked(logits.detach().float()).cpu()
        return torch.from_numpy(scoring.fake_scores(masked.numpy()))

    def _masked(self, logits: torch.Tensor) -> torch.Tensor:
        if self._class_mask is None:
            return logits
        mask = self._class_mask.to(logits.device)
        return logits.masked_fill(~mask, float("-inf"))

    def training_loss(
        self, logits: torch.Tensor, batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        logits = logits.float()
        if self.config.task == "binary":
            return F.binary_cross_entropy_with_logits(logits[:, 0], batch["label"].float())
        return F.cross_entropy(logits, batch["generator_id"].long())

    def compute_loss(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> LossTerms:
        """The training loss of a batch from the detector's outputs; a method with extra terms
        returns ``{"loss": total, "<term>": value, ...}`` (each term is logged)."""
        return self.training_loss(outputs["logits"], batch)

    # ------------------------------------------------------------------ steps

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        outputs = self.outputs(batch)
        logits = outputs["logits"]
        terms = self.compute_loss(outputs, batch)
        loss = terms if isinstance(terms, torch.Tensor) else terms["loss"]
        size = len(logits)
        if not isinstance(terms, torch.Tensor):
            for name, value in terms.items():
                if name != "loss":
                    self.log(f"train/{name}", value, on_step=True, on_epoch=True, batch_size=size)
        # continual strategy hook: replay needs none, LwF / EWC add their term here
        if self.strategy is not None and self.strategy.has_penalty:
            penalty = self.strategy.penalty(self, batch, logits)
            loss = loss + penalty
            self.log(
                "train/strategy_penalty", penalty, on_step=True, on_epoch=True, batch_size=size
            )
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        if self.trainer.optimizers:
            self.log(
                "train/lr",
                self.trainer.optimizers[0].param_groups[0]["lr"],
                on_step=True,
                batch_size=size,
            )
        return loss

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> EvalRows:
        return self.evaluation_step(batch, "validate")

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> EvalRows:
        return self.evaluation_step(batch, "test")

    def predict_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> EvalRows:
        return self.evaluation_step(batch, "predict")

    def evaluation_step(self, batch: Mapping[str, torch.Tensor], stage: str) -> EvalRows:
        """Score a batch of crops; append its predictions-file rows to :attr:`eval_outputs`.

        Per crop: ``score`` (fake probability), ``loss`` (binary log-loss of the score),
        ``label``, ``generator_id``, ``id``, ``valid``, ``crop_to_image`` (global over this
        evaluation on this process) and, for multiclass, ``logits`` (classes not yet trained
        set to -inf). Per image (crops fused with ``config.fusion``): ``image_score``,
        ``image_id``, ``image_label``, ``image_generator_id``, ``image_valid``.
        Labels may be absent (``predict`` on unlabelled images).
        """
        # The rows are CPU tensors (the predictions file's); the crop arithmetic is
        # aigenbench.scoring's, the same the predictions file and its evaluation use.
        logits = self(batch).float()
        scores = self.fake_scores(logits)
        n = len(scores)
        crop_to_image = batch.get("crop_to_image")
        if crop_to_image is None:
            crop_to_image = torch.arange(n)
        crop_to_image = crop_to_image.cpu().long()
        starts, counts = scoring.image_runs(crop_to_image.numpy())
        first = torch.from_numpy(starts)
        rows: EvalRows = {
            "score": scores,
            "crop_to_image": torch.from_numpy(scoring.crop_image_index(counts)) + self._images_seen,
            "valid": batch["valid"].cpu().bool()
            if "valid" in batch
            else torch.ones(n, dtype=torch.bool),
        }
        for key in ("label", "generator_id", "id"):
            if key in batch:
                rows[key] = batch[key].cpu().long()
        if "label" in batch:
            if self.config.task == "binary":
                loss = (
                    F.binary_cross_entropy_with_logits(
                        logits[:, 0], batch["label"].float(), reduction="none"
                    )
                    .detach()
                    .cpu()
                )
            else:
                loss = torch.from_numpy(
                    scoring.binary_log_loss(scores.numpy(), rows["label"].numpy())
                )
            rows["loss"] = loss
            if stage != "predict" and self._trainer is not None:  # no logging in predict
                self.log(
                    f"{stage}/loss",
                    loss.mean().to(self.device),
                    on_epoch=True,
                    batch_size=n,
                    sync_dist=True,
                )
        if self.config.task == "multiclass":
            rows["logits"] = self._masked(logits).detach().cpu()
        rows["image_score"] = self.scores_fusion(scores, crop_to_image).detach().cpu()
        rows["image_valid"] = torch.from_numpy(scoring.all_per_image(rows["valid"].numpy(), starts))
        for key in ("id", "label", "generator_id"):
            if key in rows:
                rows[f"image_{key}"] = rows[key][first]
        if self.metrics and "image_label" in rows and stage != "predict":
            keep = rows["image_valid"]
            for metric in self._metric_objects():
                metric.update(
                    rows["image_score"][keep].float().to(self.device),
                    rows["image_label"][keep].to(self.device),
                )
        self._images_seen += len(starts)
        self.eval_outputs.append(rows)
        return rows

    def scores_fusion(self, scores: torch.Tensor, crop_to_image: torch.Tensor) -> torch.Tensor:
        """Per-image scores from the crop scores of a batch (default: ``model.fusion``)."""
        return fuse_crops(scores, crop_to_image, self._fusion)

    def _reset_eval(self) -> None:
        self.eval_outputs = []
        self._images_seen = 0
        for metric in self._metric_objects():
            metric.reset()

    def _metric_objects(self) -> list[Any]:
        return list(self.metrics.values())

    def _compute_metrics(self, stage: str) -> None:
        if not self.metrics:
            return
        self.metric_results = {
            name: float(metric.compute())
            for name, metric in zip(self.metrics, self._metric_objects(), strict=True)
        }
        for name, value in self.metric_results.items():
            self.log(f"{stage}/{name}", value, sync_dist=False)

    def on_validation_epoch_end(self) -> None:
        self._compute_metrics("validate")

    def on_test_epoch_end(self) -> None:
        self._compute_metrics("test")

    def on_validation_epoch_start(self) -> None:
        self._reset_eval()

    def on_test_epoch_start(self) -> None:
        self._reset_eval()

    def on_predict_epoch_start(self) -> None:
        self._reset_eval()

    # ------------------------------------------------------------------ optimisation

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The optimiser's parameter groups (``lr_scale``: a fraction of the configured lr)."""
        groups: list[dict[str, Any]] = [{"params": self.detector.head_parameters(), "name": "head"}]
        if self.config.freezing != "probe":
            groups.append(
                {
                    "params": self.detector.backbone_parameters(),
                    "lr_scale": self.config.backbone_lr_scale,
                    "name": "backbone",
                }
            )
        return groups

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        optimizer = build_optimizer(self.config.optimizer_settings, self.parameter_groups())
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(float(total)):
            raise ConfigError(
                "the learning-rate schedule spans the window's optimiser steps: set the trainer's "
                "max_epochs or max_steps"
            )
        scheduler = build_scheduler(self.config.scheduler, optimizer, int(total))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # ------------------------------------------------------------------ checkpoints

    def _record(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "generator_names": list(self.generator_names),
            "window": self.window,
            "step_offset": self.step_offset,
            "epoch_offset": self.epoch_offset,
            "known_generator_ids": self.known_generator_ids,
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = self._record()
        record["model_config"] = record.pop("config")
        record.update(
            format=CHECKPOINT_FORMAT,
            backbone=self.detector.backbone_name,
            feature_dim=self.detector.feature_dim,
            backbone_frozen=bool(self.detector.backbone_frozen),
        )
        # Also in weights-only files (final.ckpt), which Lightning saves without the callbacks'
        # run state: a window finished from its final.ckpt still records its world size.
        if self._trainer is not None:
            record["world_size"] = int(self._trainer.world_size)
        checkpoint[CHECKPOINT_KEY] = record
