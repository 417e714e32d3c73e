"""probe never touches the backbone; staged trains it only after the switch; lr fractions."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from aigenbench.errors import ConfigError
from aigenbench.models import ModelConfig
from aigenbench.training.module import DetectorModule

from .conftest import loader, train_batch, trainer


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _config(freezing: str = "probe", **overrides) -> ModelConfig:
    return ModelConfig(
        backbone="tiny:8", pretrained=False, freezing=freezing, input_size=32, **overrides
    )


class Recorder(L.Callback):
    """Backbone state and learning rates after every training batch."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []
        self.lrs: list[list[float]] = []
        self.frozen: list[bool] = []
        self.backbone_training: list[bool] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.backbone_training.append(module.detector.backbone.training)
        self.states.append(_state(module.detector.backbone))
        self.lrs.append([g["lr"] for g in trainer.optimizers[0].param_groups])
        self.frozen.append(module.detector.backbone_frozen)


@pytest.mark.parametrize("spec", ["tiny:8", "timm:resnet18"])
def test_probe_leaves_every_backbone_tensor_and_buffer_unchanged(spec):
    module = DetectorModule(
        ModelConfig(backbone=spec, pretrained=False, freezing="probe", input_size=32)
    )
    before_backbone = _state(module.detector.backbone)
    before_head = _state(module.detector.head)
    recorder = Recorder()
    trainer(max_steps=3, callbacks=[recorder]).fit(
        module, loader([train_batch(seed=i) for i in range(3)])
    )
    # BatchNorm running statistics and num_batches_tracked included.
    assert any("running_mean" in k for k in before_backbone)
    assert _same(_state(module.detector.backbone), before_backbone)
    assert not _same(_state(module.detector.head), before_head)
    assert recorder.backbone_training == [False, False, False]
    assert all(not p.requires_grad for p in module.detector.backbone.parameters())
    # .train() calls (Lightning makes them) never put a frozen backbone back in train mode.
    module.train()
    assert not any(m.training for m in module.detector.backbone.modules())
    assert module.detector.head.training


def test_probe_optimises_only_the_head():
    module = DetectorModule(_config("probe"))
    fit = trainer(max_steps=1)
    fit.fit(module, loader([train_batch()]))
    optimised = {id(p) for g in fit.optimizers[0].param_groups for p in g["params"]}
    assert optimised == {id(p) for p in module.detector.head.parameters()}


def test_tune_trains_the_backbone_at_its_lr_fraction():
    module = DetectorModule(_config("tune", backbone_lr_scale=0.1))
    before = _state(module.detector.backbone)
    recorder = Recorder()
    trainer(max_steps=3, callbacks=[recorder]).fit(
        module, loader([train_batch(seed=i) for i in range(3)])
    )
    assert not _same(recorder.states[0], before)
    for head_lr, backbone_lr in recorder.lrs:
        assert backbone_lr == pytest.approx(0.1 * head_lr)


def test_staged_by_step_changes_the_backbone_only_after_the_switch():
    module = DetectorModule(_config("staged", unfreeze_at={"step": 2}, backbone_lr_scale=0.5))
    before = _state(module.detector.backbone)
    recorder = Recorder()
    trainer(max_steps=5, callbacks=[recorder]).fit(
        module, loader([train_batch(seed=i) for i in range(5)])
    )
    # Steps 1 and 2 (batches 0, 1) with a frozen backbone; the switch before batch 2.
    assert _same(recorder.states[0], before) and _same(recorder.states[1], before)
    assert not _same(recorder.states[2], before)
    assert not _same(recorder.states[4], recorder.states[3])
    assert recorder.frozen == [True, True, False, False, False]
    assert recorder.backbone_training == [False, False, True, True, True]
    for head_lr, backbone_lr in recorder.lrs:
        assert backbone_lr == pytest.approx(0.5 * head_lr)


def test_staged_step_counts_from_the_experiment_start():
    # 10 steps done in earlier windows: the switch at step 2 is behind, the backbone trains.
    module = DetectorModule(_config("staged", unfreeze_at={"step": 2}), step_offset=10)
    assert not module.detector.backbone_frozen
    before = _state(module.detector.backbone)
    trainer(max_steps=1).fit(module, loader([train_batch()]))
    assert not _same(_state(module.detector.backbone), before)


def test_staged_by_window_is_frozen_before_its_window_and_trains_from_it():
    config = _config("staged", unfreeze_at={"window": 1})
    early = DetectorModule(config, window=0)
    assert early.backbone_frozen_for_window()
    before = _state(early.detector.backbone)
    trainer(max_steps=2).fit(early, loader([train_batch(seed=i) for i in range(2)]))
    assert _same(_state(early.detector.backbone), before)
    assert all(not p.requires_grad for p in early.detector.backbone.parameters())

    # Window 1 starts from window 0's weights and trains the backbone.
    late = DetectorModule(config, window=1, detector=early.detector)
    assert not late.backbone_frozen_for_window()
    trainer(max_steps=2).fit(late, loader([train_batch(seed=i) for i in range(2)]))
    assert not _same(_state(late.detector.backbone), before)


def test_staged_by_epoch_switches_at_the_epoch():
    module = DetectorModule(_config("staged", unfreeze_at={"epoch": 1}))
    before = _state(module.detector.backbone)
    recorder = Recorder()
    batches = [train_batch(seed=i) for i in range(2)]
    trainer(max_steps=-1, max_epochs=2, callbacks=[recorder]).fit(module, loader(batches))
    assert _same(recorder.states[1], before)
    assert not _same(recorder.states[2], before)


class SaveAt(L.Callback):
    def __init__(self, step: int, path) -> None:
        self.step, self.path = step, path

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            trainer.save_checkpoint(self.path)


def test_staged_resume_after_the_switch_keeps_training_the_backbone(tmp_path):
    config = _config("staged", unfreeze_at={"step": 1})
    batches = [train_batch(seed=i) for i in range(4)]
    ckpt = tmp_path / "last.ckpt"
    first = DetectorModule(config)
    trainer(max_steps=4, callbacks=[SaveAt(2, ckpt)]).fit(first, loader(batches))

    resumed = DetectorModule(config)
    assert resumed.detector.backbone_frozen
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    prefix = "detector.backbone."
    at_checkpoint = {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}
    recorder = Recorder()
    # Optimiser and schedule state load into the same parameter groups; the switch is re-derived
    # from the restored step count.
    trainer(max_steps=4, callbacks=[recorder]).fit(resumed, loader(batches), ckpt_path=ckpt)
    assert recorder.frozen == [False, False]
    assert not _same(recorder.states[0], at_checkpoint)


def test_freezing_settings_are_validated():
    with pytest.raises(ConfigError, match="needs unfreeze_at"):
        _config("staged")
    with pytest.raises(ConfigError, match="only used with freezing: staged"):
        _config("tune", unfreeze_at={"step": 3})
    with pytest.raises(ConfigError, match="exactly one of"):
        _config("staged", unfreeze_at={"step": 3, "window": 1})


def test_cached_features_are_refused_while_the_backbone_trains():
    module = DetectorModule(_config("tune"))
    with pytest.raises(ConfigError, match="frozen backbone"):
        module({"features": torch.zeros(2, 8)})
