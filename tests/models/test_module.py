"""Tasks, scores, crop fusion, evaluation rows, optimiser and schedules, checkpoints."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from aigenbench.data.batch import concat_eval_outputs
from aigenbench.errors import ConfigError
from aigenbench.evaluation.predictions import build_predictions, image_scores
from aigenbench.models import ModelConfig, fuse_crops, load_detector
from aigenbench.models.config import OptimizerConfig, SchedulerConfig
from aigenbench.training.module import DetectorModule
from aigenbench.training.schedules import build_optimizer, build_scheduler

from .conftest import eval_batch, loader, train_batch, trainer

GENERATORS = ["", "gan_a", "diff_b", "diff_c"]


def _config(**overrides) -> ModelConfig:
    settings = {"backbone": "tiny:8", "pretrained": False, "freezing": "tune", "input_size": 32}
    return ModelConfig(**{**settings, **overrides})


def test_binary_training_and_scores():
    module = DetectorModule(_config())
    trainer(max_steps=2).fit(module, loader([train_batch(seed=i) for i in range(2)]))
    trainer().validate(module, loader([eval_batch([1, 1, 1])]), verbose=False)
    rows = concat_eval_outputs(module.eval_outputs)
    batch = eval_batch([1, 1, 1])
    module.eval()
    with torch.no_grad():
        logits = module(batch)
    assert logits.shape == (3, 1)
    assert rows["score"] == pytest.approx(torch.sigmoid(logits[:, 0]).numpy(), abs=1e-6)
    assert rows["loss"] == pytest.approx(
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits[:, 0], batch["label"].float(), reduction="none"
        ).numpy(),
        abs=1e-6,
    )


def test_channels_last_is_harmless_on_cpu():
    plain = DetectorModule(_config())
    fast = DetectorModule(_config(channels_last=True), detector=None)
    fast.detector.load_state_dict(plain.detector.state_dict())
    batch = eval_batch([1, 1, 1])
    plain.eval(), fast.eval()
    with torch.no_grad():
        assert torch.allclose(plain(batch), fast(batch), atol=1e-5)


def test_multiclass_scores_are_one_minus_the_real_probability():
    module = DetectorModule(_config(task="multiclass"), GENERATORS)
    assert module.detector.num_outputs == 4
    trainer(max_steps=2).fit(module, loader([train_batch(seed=i) for i in range(2)]))
    trainer().validate(module, loader([eval_batch([1, 1, 1, 1])]), verbose=False)
    rows = concat_eval_outputs(module.eval_outputs)
    probabilities = torch.softmax(torch.from_numpy(rows["logits"]), dim=1)
    assert rows["logits"].shape == (4, 4)
    assert rows["score"] == pytest.approx((1 - probabilities[:, 0]).numpy(), abs=1e-6)
    assert rows["score"] == pytest.approx(probabilities[:, 1:].sum(1).numpy(), abs=1e-6)
    # The evaluation loss is the binary log-loss of the fake score.
    expected = [
        -np.log(s) if y else -np.log1p(-s)
        for s, y in zip(rows["score"], rows["label"], strict=True)
    ]
    assert rows["loss"] == pytest.approx(np.array(expected), rel=1e-5)


def test_multiclass_scores_only_use_the_classes_trained_so_far():
    logits = torch.tensor([[2.0, 0.5, 1.0, 3.0]])
    known = DetectorModule(_config(task="multiclass"), GENERATORS, known_generator_ids=[0, 1])
    everything = DetectorModule(_config(task="multiclass"), GENERATORS)
    expected = 1 - torch.softmax(logits[:, :2], dim=1)[:, 0]
    assert known.fake_scores(logits) == pytest.approx(expected)
    assert everything.fake_scores(logits) == pytest.approx(1 - torch.softmax(logits, 1)[:, 0])


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_the_modules_image_rows_equal_the_predictions_files_bit_for_bit(task):
    """One crop arithmetic (aigenbench.scoring) on both sides: the module's per-image scores,
    validity and crop numbering equal what the predictions file and its evaluation compute."""
    module = DetectorModule(_config(task=task), GENERATORS)
    module.eval()
    batch = eval_batch([1, 5, 2, 9, 1], first_id=3, seed=2)
    batch["valid"][9] = False  # a crop of the fourth image (crops 8..16)
    with torch.no_grad():
        rows = module.evaluation_step(batch, "validate")
    file = build_predictions(
        None if task == "multiclass" else rows["score"].numpy(),
        rows["label"].numpy(),
        rows["generator_id"].numpy(),
        rows["id"].numpy(),
        generator_names=GENERATORS,
        windows=[GENERATORS[1:]],
        pairing={},
        crop_losses=None,
        crop_multiclass_predictions=rows["logits"].numpy() if task == "multiclass" else None,
        crop_valid=rows["valid"].numpy(),
    )
    assert np.array_equal(file.crop_scores, rows["score"].numpy())
    assert np.array_equal(file.crop_to_image_index, rows["crop_to_image"].numpy())
    assert np.array_equal(file.fused_scores, rows["image_score"].numpy())
    assert np.array_equal(file.fused_identifiers, rows["image_id"].numpy())
    assert file.fused_valid.tolist() == rows["image_valid"].tolist() == [1, 1, 1, 0, 1]
    if task == "multiclass":  # the evaluation's loss default is the module's loss
        assert np.array_equal(file.crop_losses, rows["loss"].numpy())
        scores, _, _ = image_scores(file)  # logits fused, then scored (the official way)
        assert np.array_equal(scores[[0, 4]], rows["image_score"].numpy()[[0, 4]])


def test_the_multiclass_evaluation_loss_is_clipped_like_the_files(monkeypatch):
    """A certain wrong answer costs -log(1e-7), not infinity (aigenbench.scoring)."""
    module = DetectorModule(_config(task="multiclass"), GENERATORS)
    batch = eval_batch([1, 1], seed=4)
    batch["label"] = torch.tensor([0, 1])
    certain = torch.tensor([[0.0, 200.0, 0.0, 0.0], [200.0, 0.0, 0.0, 0.0]])  # both wrong
    monkeypatch.setattr(module, "forward", lambda batch: certain)
    rows = module.evaluation_step(batch, "validate")
    assert rows["score"].tolist() == [1.0, 0.0]
    eps = np.float32(1e-7)  # a real at p = 1 - eps (in float32), a fake at p = eps
    expected = [-np.log1p(-(np.float32(1) - eps)), -np.log(eps)]
    assert rows["loss"].numpy() == pytest.approx(expected, rel=1e-6)


def test_multiclass_needs_generator_names():
    with pytest.raises(ConfigError, match="generator names"):
        DetectorModule(_config(task="multiclass"))


@pytest.mark.parametrize(("fusion", "reduce"), [("mean", torch.mean), ("max", torch.amax)])
def test_crop_scores_are_fused_per_image(fusion, reduce):
    module = DetectorModule(_config(fusion=fusion))
    module.eval()
    batch = eval_batch([1, 5, 2], first_id=10)
    with torch.no_grad():
        rows = module.evaluation_step(batch, "validate")
    scores = rows["score"]
    expected = torch.stack([reduce(part) for part in torch.split(scores, [1, 5, 2])])
    assert torch.allclose(rows["image_score"], expected)
    assert rows["image_id"].tolist() == [10, 11, 12]
    assert rows["crop_to_image"].tolist() == [0, 1, 1, 1, 1, 1, 2, 2]


def test_a_fusion_by_import_path_and_an_unknown_one():
    scores = torch.tensor([0.2, 0.4, 0.9, 0.1])
    to_image = torch.tensor([0, 0, 0, 1])
    assert fuse_crops(scores, to_image, "torch.amin").tolist() == pytest.approx([0.2, 0.1])
    with pytest.raises(ConfigError, match="Did you mean: mean"):
        fuse_crops(scores, to_image, "meen")


def test_evaluation_rows_are_global_over_batches_and_cleared_per_evaluation():
    module = DetectorModule(_config())
    batches = [eval_batch([2, 1], first_id=0, seed=0), eval_batch([1, 3], first_id=2, seed=1)]
    batches[1]["valid"][0] = False
    for _ in range(2):  # a second evaluation starts from empty rows
        trainer().validate(module, loader(batches), verbose=False)
        rows = concat_eval_outputs(module.eval_outputs)
        assert rows["crop_to_image"].tolist() == [0, 0, 1, 2, 3, 3, 3]
        assert rows["id"].tolist() == [0, 0, 1, 2, 3, 3, 3]
        assert rows["image_id"].tolist() == [0, 1, 2, 3]
        assert rows["image_valid"].tolist() == [True, True, False, True]
        assert rows["valid"].tolist() == [True, True, True, False, True, True, True]
        assert set(rows) >= {
            "score",
            "loss",
            "label",
            "generator_id",
            "id",
            "valid",
            "crop_to_image",
        }


def test_optimizer_and_schedule_come_from_the_config():
    config = _config(
        optimizer=OptimizerConfig("torch.optim.AdamW", {"lr": 0.01, "weight_decay": 0.05}),
        scheduler=SchedulerConfig(name="cosine", warmup_fraction=0.25),
        backbone_lr_scale=0.1,
    )
    module = DetectorModule(config)
    fit = trainer(max_steps=-1, max_epochs=1, accumulate_grad_batches=2)
    fit.fit(module, loader([train_batch(seed=i) for i in range(8)]))
    optimizer = fit.optimizers[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["weight_decay"] == 0.05
    assert [g["name"] for g in optimizer.param_groups] == ["head", "backbone"]
    # 8 batches, accumulation 2: the schedule spans 4 optimiser steps and ends at the floor.
    scheduler = fit.lr_scheduler_configs[0].scheduler
    assert scheduler.lr_lambdas[0].total_steps == 4
    assert fit.global_step == 4


def test_onecycle_peaks_at_max_lr_at_the_warmup_step():
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = build_optimizer(OptimizerConfig(), [{"params": params}])
    scheduler = build_scheduler(SchedulerConfig(), optimizer, total_steps=20)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    peak = max(range(20), key=lrs.__getitem__)
    assert peak == round(0.3 * 20) - 1  # PyTorch's end of the warm-up phase
    assert lrs[peak] == pytest.approx(1e-3)
    assert lrs[0] == pytest.approx(1e-3 / 25)
    assert lrs[-1] < lrs[0]


def test_onecycle_scales_each_group_and_the_trainer_gives_the_step_count():
    module = DetectorModule(_config(backbone_lr_scale=0.5))
    fit = trainer(max_steps=-1, max_epochs=1)
    fit.fit(module, loader([train_batch(seed=i) for i in range(5)]))
    scheduler = fit.lr_scheduler_configs[0].scheduler
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert scheduler.total_steps == 5
    head, backbone = (group["max_lr"] for group in fit.optimizers[0].param_groups)
    assert (head, backbone) == pytest.approx((1e-3, 5e-4))


def test_cosine_and_constant_schedules():
    def run(config: SchedulerConfig, steps: int = 10) -> list[float]:
        params = [torch.nn.Parameter(torch.zeros(1))]
        optimizer = build_optimizer(OptimizerConfig(init_args={"lr": 1.0}), [{"params": params}])
        scheduler = build_scheduler(config, optimizer, steps)
        out = []
        for _ in range(steps):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return out

    cosine = run(SchedulerConfig(name="cosine", warmup_fraction=0.2, min_lr_fraction=0.1))
    assert cosine[:2] == pytest.approx([0.5, 1.0])
    assert cosine[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(cosine[2:]))
    assert cosine[-1] > 0.1
    assert run(SchedulerConfig(name="constant")) == pytest.approx([1.0] * 10)


def test_bad_optimizer_settings_are_config_errors():
    params = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(ConfigError, match=r"cannot import 'torch\.optim\.Nope'"):
        build_optimizer(OptimizerConfig("torch.optim.Nope", {"lr": 1.0}), [{"params": params}])
    with pytest.raises(ConfigError, match="rejects init_args"):
        build_optimizer(
            OptimizerConfig("torch.optim.SGD", {"lr": 1.0, "betas": (0.9, 0.9)}),
            [{"params": params}],
        )
    with pytest.raises(ConfigError, match="needs lr"):
        _config(optimizer={"class_path": "torch.optim.SGD", "init_args": {"momentum": 0.9}})


def test_load_detector_rebuilds_a_multiclass_detector_from_its_checkpoint(tmp_path):
    config = _config(task="multiclass", freezing="probe")
    module = DetectorModule(config, GENERATORS, window=3, known_generator_ids=[0, 1, 2])
    fit = trainer(max_steps=2)
    fit.fit(module, loader([train_batch(seed=i) for i in range(2)]))
    path = tmp_path / "final.ckpt"
    fit.save_checkpoint(path)

    loaded = load_detector(path)
    assert loaded.config == config
    assert loaded.generator_names == GENERATORS
    assert loaded.window == 3 and loaded.known_generator_ids == [0, 1, 2]
    assert loaded.detector.backbone_frozen and not loaded.detector.training
    batch = eval_batch([1, 1, 1])
    module.eval()
    with torch.no_grad():
        assert torch.equal(
            loaded.detector(loaded.detector.normalize(batch["image"])), module(batch)
        )


def test_model_config_parses_like_lightningcli_and_overrides_keep_defaults():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_class_arguments(ModelConfig, "model")
    args = ["--model.backbone=tiny:8", "--model.optimizer.init_args.lr=0.5"]
    args += ["--model.freezing=staged", "--model.unfreeze_at.window=2"]
    config = parser.instantiate(parser.parse_args(args)).model
    assert config.optimizer.class_path.endswith("SGD")
    assert config.optimizer.init_args["lr"] == 0.5
    assert config.optimizer.init_args["momentum"] == 0.9  # the protocol default survives
    assert config.optimizer.init_args["weight_decay"] == 1e-4
    assert config.unfreeze_at.window == 2
    yaml = "model: {backbone: x, optimizer: {class_path: torch.optim.AdamW, init_args: {lr: 0.1}}}"
    config = parser.instantiate(parser.parse_string(yaml)).model
    assert config.optimizer.class_path == "torch.optim.adamw.AdamW"
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_model_config_round_trips_through_plain_data():
    config = _config(
        freezing="staged", unfreeze_at={"window": 2}, mean=(0.5, 0.5, 0.5), std=[0.2, 0.2, 0.2]
    )
    again = ModelConfig.from_dict(config.to_dict())
    assert again == config
    with pytest.raises(ConfigError, match="unknown model config keys"):
        ModelConfig.from_dict({**config.to_dict(), "lr": 3})
    with pytest.raises(ConfigError, match="eval_crop"):
        _config(eval_crop="fivecrop")
