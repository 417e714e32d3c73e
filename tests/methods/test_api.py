"""The method API: registry, options, hooks, pixel rules (no training loop beyond a few steps)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from aigenbench.data.config import DataConfig
from aigenbench.data.datamodule import make_eval_pipeline, make_train_pipeline
from aigenbench.data.pipelines import (
    EvalAugmentation,
    EvalPipeline,
    HorizontalFlip,
    RandomCrop,
    Rot90,
    TrainAugmentation,
    VerticalFlip,
)
from aigenbench.errors import ConfigError, ProtocolError
from aigenbench.methods import (
    Method,
    method_name,
    register_method,
    resolve_method,
    unregister_method,
)
from aigenbench.training.module import DetectorModule

from .conftest import uint8_batch, zoo_config


class Brighten:
    """Not a rotation, flip or crop."""

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(image.astype(int) + 10, 0, 255).astype(np.uint8)


class Invert:
    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return 255 - image


def test_default_method_is_the_detector_module_unchanged():
    assert resolve_method("default") is DetectorModule is Method
    module = DetectorModule(zoo_config("univfd", method="default"))
    assert module.config.method == "default" and type(module.detector).__name__ == "Detector"


def test_unknown_method_lists_the_registered_ones():
    with pytest.raises(ConfigError, match=r"unknown method 'rien'.*Did you mean: rine"):
        resolve_method("rien")
    with pytest.raises(ConfigError, match="cannot import"):
        resolve_method("no_such_package.Method")
    with pytest.raises(ConfigError, match="not a subclass"):
        resolve_method("aigenbench.models.detector.Detector")


def test_register_by_name_and_by_import_path():
    class Mine(Method):
        pass

    register_method("mine_for_test", Mine)
    try:
        assert resolve_method("mine_for_test") is Mine
        assert method_name(Mine) == "mine_for_test"
        # a subclass built directly records its own name, so checkpoints rebuild it
        assert Mine(zoo_config("univfd", method="default")).config.method == "mine_for_test"
        with pytest.raises(ConfigError, match="already registered"):
            register_method("mine_for_test", type("Other", (Method,), {}))
    finally:
        unregister_method("mine_for_test")
    assert resolve_method("aigenbench.methods.npr.NPR").__name__ == "NPR"


def test_unknown_method_option_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"\['projektion'\].*projection"):
        resolve_method("rine")(zoo_config("rine", method_args={"projektion": 3}))


def test_stochastic_part_beyond_rotation_flip_crop_is_refused_naming_the_rule():
    data = DataConfig()
    with pytest.raises(ProtocolError, match=r"Brighten.*only rotate, flip or crop"):
        make_train_pipeline(data, 32, "resize", TrainAugmentation(stochastic=[Brighten()]))
    # a subclass of an allowed step could do anything: refused too
    sneaky = type("SneakyFlip", (HorizontalFlip,), {})
    with pytest.raises(ProtocolError, match="SneakyFlip"):
        make_train_pipeline(data, 32, "resize", TrainAugmentation(stochastic=[sneaky()]))
    allowed = [Rot90(), HorizontalFlip(), VerticalFlip(), RandomCrop(24)]
    pipeline = make_train_pipeline(data, 32, "resize", TrainAugmentation(stochastic=allowed))
    assert pipeline.stochastic_steps == allowed
    # benchmark mode off (no mandatory degradations): the user's call
    off = DataConfig(degradations=False)
    make_train_pipeline(off, 32, "resize", TrainAugmentation(stochastic=[Brighten()]))


def test_a_methods_stochastic_steps_replace_rot90_and_flip():
    image = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    flip_always = TrainAugmentation(stochastic=[VerticalFlip(p=1.0)])
    pipeline = make_train_pipeline(DataConfig(), 32, "as_is", flip_always)
    out = pipeline.stochastic_part(image, image_id=3, copy=0, window=0, epoch=0)
    assert np.array_equal(out, image[::-1])


def test_a_methods_deterministic_part_replaces_the_baselines():
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    pipeline = make_train_pipeline(
        DataConfig(maximum_processing_size=None),
        32,
        "as_is",
        TrainAugmentation(deterministic=Invert()),
    )
    assert np.array_equal(pipeline.deterministic_part(image, 1, 0), 255 - image)


def test_eval_augmentation_runs_after_the_mandatory_degradations():
    rng = np.random.default_rng(1)
    image = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
    plain = EvalPipeline(input_size=32, crop="crop")
    degraded = plain.degrade(image, 7)
    seen: list[np.ndarray] = []

    def record(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        seen.append(image.copy())
        return image

    def corners(image: np.ndarray, size: int) -> list[np.ndarray]:
        return [image[:size, :size], image[-size:, -size:]]

    pipeline = make_eval_pipeline(
        DataConfig(),
        32,
        "crop",
        EvalAugmentation(before_crops=record, per_crop=Invert(), crops=corners),
    )
    crops = pipeline(image, 7)
    assert np.array_equal(seen[0], degraded)  # the method sees degraded pixels, never raw
    assert len(crops) == 2
    expected = 255 - degraded[-32:, -32:]
    assert np.array_equal(crops[1].permute(1, 2, 0).numpy(), expected)


class Doubled(Method):
    """Overrides fusion, metrics and the loss; carries a continual-learning strategy."""

    def scores_fusion(self, scores, crop_to_image):
        return super().scores_fusion(scores, crop_to_image) * 0 + 0.25

    def register_metrics(self):
        from torchmetrics.classification import BinaryAUROC

        return {"auroc": BinaryAUROC()}

    def compute_loss(self, outputs, batch):
        base = self.training_loss(outputs["logits"], batch)
        return {"loss": 2 * base, "base": base}


def test_loss_terms_strategy_penalty_fusion_and_metrics_hooks():
    module = Doubled(zoo_config("univfd", method="default"))
    batch = uint8_batch()

    @dataclass
    class Strategy:
        calls: int = 0
        has_penalty: bool = True

        def penalty(self, module, batch, logits):
            self.calls += 1
            assert logits.shape == (len(batch["label"]), 1)
            return torch.tensor(5.0)

    class FakeTrainer:
        optimizers = ()

    module.log = lambda *a, **k: None  # no Trainer attached: logging is a no-op here
    module.__dict__["_fake_trainer"] = FakeTrainer()
    type(module).trainer = property(lambda self: self.__dict__["_fake_trainer"])  # type: ignore
    try:
        without = module.training_step(batch, 0)
        module.strategy = Strategy()
        with_penalty = module.training_step(batch, 0)
    finally:
        del type(module).trainer
    base = module.training_loss(module(batch), batch)
    assert torch.allclose(without, 2 * base)
    assert torch.allclose(with_penalty, 2 * base + 5.0) and module.strategy.calls == 1
    module.eval()
    rows = module.evaluation_step({**batch, "valid": torch.ones(6, dtype=torch.bool)}, "test")
    assert torch.all(rows["image_score"] == 0.25)
    module._compute_metrics("test")
    assert module.metric_results["auroc"] == pytest.approx(0.5)


def test_metrics_start_afresh_at_every_evaluation():
    module = Doubled(zoo_config("univfd", method="default")).eval()
    module.log = lambda *a, **k: None
    batch = {**uint8_batch(), "valid": torch.ones(6, dtype=torch.bool)}
    always_wrong = type(module).scores_fusion
    try:
        # first evaluation: every score 0.9 on reals, 0.1 on fakes (AUROC 0)
        type(module).scores_fusion = lambda self, s, c: 0.9 - 0.8 * batch["label"].float()
        module.on_validation_epoch_start()
        module.evaluation_step(batch, "validate")
        module.on_validation_epoch_end()
        assert module.metric_results["auroc"] == pytest.approx(0.0)
        # second evaluation: perfect scores; a metric that kept the first one's state says 0.5
        type(module).scores_fusion = lambda self, s, c: 0.1 + 0.8 * batch["label"].float()
        module.on_validation_epoch_start()
        module.evaluation_step(batch, "validate")
        module.on_validation_epoch_end()
        assert module.metric_results["auroc"] == pytest.approx(1.0)
    finally:
        type(module).scores_fusion = always_wrong
