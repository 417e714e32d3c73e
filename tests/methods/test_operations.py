"""Each zoo method's defining operation against its paper's formula, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from aigenbench.data import ops
from aigenbench.data.seeding import Stream, sample_rng
from aigenbench.methods import resolve_method
from aigenbench.methods.cnndetection import BlurJpeg
from aigenbench.methods.effort import SVDResidualLinear
from aigenbench.methods.npr import npr_residual
from aigenbench.methods.rine import (
    BlockTokens,
    importance_weighted_sum,
    supervised_contrastive,
)
from aigenbench.models import load_detector
from aigenbench.models.config import LoraSettings
from aigenbench.models.lora import has_lora, inject_lora, merge_lora

from .conftest import ZOO, uint8_batch, zoo_config

# ----------------------------------------------------------------------------------- NPR


def test_npr_residual_is_the_image_minus_its_nearest_2x_down_up_copy():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # nearest down-sampling keeps the top-left pixel of each 2x2 block; up-sampling repeats it
    blocks = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]])
    up_down = torch.cat([blocks, blocks + 8]).view(1, 1, 4, 4)
    assert torch.equal(npr_residual(x), x - up_down)
    # an image up-sampled by nearest 2x (what the traces come from) has a zero residual
    constant_blocks = torch.rand(1, 3, 8, 8).repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.equal(npr_residual(constant_blocks), torch.zeros_like(constant_blocks))


def test_npr_detector_feeds_the_scaled_residual_to_a_truncated_resnet():
    module = resolve_method("npr")(zoo_config("npr"))
    detector = module.detector.eval()
    body = detector.backbone.body
    assert [type(m).__name__ for m in body][-2:] == ["Sequential", "Sequential"]  # layer1, layer2
    assert len(body) == 6  # conv1, bn1, act1, maxpool, layer1, layer2: layer3/4 cut
    x = torch.randn(2, 3, 32, 32)
    expected = body(npr_residual(x) * (2.0 / 3.0)).mean(dim=(2, 3))
    assert torch.allclose(detector.features(x), expected, atol=1e-6)


# ---------------------------------------------------------------------------------- RINE


def test_rine_importance_weighting_is_a_softmax_over_blocks_per_feature():
    tokens = torch.tensor([[[1.0, 10.0], [3.0, 20.0]]])  # 1 image, 2 blocks, 2 features
    importance = torch.tensor([[0.0, float(np.log(3.0))], [0.0, 0.0]])
    # feature 0: blocks weighted 1/2, 1/2; feature 1: 3/4, 1/4
    expected = torch.tensor([[0.5 * 1 + 0.5 * 3, 0.75 * 10 + 0.25 * 20]])
    assert torch.allclose(importance_weighted_sum(tokens, importance), expected)


def test_rine_features_are_the_cls_token_of_every_block():
    module = resolve_method("rine")(zoo_config("rine"))
    vit = module.detector.backbone.vit.eval()
    x = torch.randn(2, 3, 32, 32)
    tokens = vit.patch_embed(x)
    tokens = vit._pos_embed(tokens)
    expected = []
    for block in vit.blocks:
        tokens = block(tokens)
        expected.append(tokens[:, 0])
    features = module.detector.eval().features(x)
    assert features.shape == (2, len(vit.blocks) * vit.embed_dim)
    assert torch.allclose(features, torch.cat(expected, dim=1), atol=1e-5)


def test_rine_loss_adds_the_weighted_supervised_contrastive_term():
    module = resolve_method("rine")(zoo_config("rine", method_args={"contrastive_weight": 0.5}))
    batch = uint8_batch()
    terms = module.compute_loss(module.outputs(batch), batch)
    assert torch.allclose(terms["loss"], terms["classification"] + 0.5 * terms["contrastive"])
    # two tight, far-apart clusters by label: near-zero contrastive loss; mixed: large
    z = torch.tensor([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0], [-1.0, 0.01]])
    assert supervised_contrastive(z, torch.tensor([0, 0, 1, 1])) < 0.01
    assert supervised_contrastive(z, torch.tensor([0, 1, 0, 1])) > 5


def test_block_tokens_finds_no_blocks_in_a_cnn():
    from aigenbench.errors import ConfigError

    with pytest.raises(ConfigError, match="ViT backbone"):
        BlockTokens(nn.Sequential(nn.Conv2d(3, 4, 3)))


# -------------------------------------------------------------------------------- Effort


def test_effort_splits_each_weight_into_frozen_principal_and_trainable_residual():
    torch.manual_seed(0)
    linear = nn.Linear(6, 5)
    layer = SVDResidualLinear(linear, residual_rank=2)
    u, s, vh = torch.linalg.svd(linear.weight.detach())
    principal = u[:, :3] @ torch.diag(s[:3]) @ vh[:3]  # the best rank-3 approximation
    assert torch.allclose(layer.main_weight(), principal, atol=1e-5)
    assert torch.allclose(layer.residual_weight(), linear.weight - principal, atol=1e-5)
    x = torch.randn(4, 6)
    assert torch.allclose(layer(x), linear(x), atol=1e-5)  # the split changes nothing at first
    assert sorted(n for n, p in layer.named_parameters()) == [
        "residual_s",
        "residual_u",
        "residual_vh",
    ]
    assert float(layer.orthogonality()) < 1e-8 and float(layer.singular_value_drift()) < 1e-4
    with torch.no_grad():
        layer.residual_u.mul_(2.0)  # no longer unit columns, and more energy
    # ||U^T U - I||_F^2 with two residual columns of squared norm 4: 2 x (4 - 1)^2
    assert float(layer.orthogonality()) == pytest.approx(18.0, rel=1e-4)
    expected_drift = abs(float((layer.weight**2).sum() - (linear.weight**2).sum()))
    assert float(layer.singular_value_drift()) == pytest.approx(expected_drift, rel=1e-5)


def test_effort_trains_only_the_residuals_and_the_head():
    module = resolve_method("effort")(zoo_config("effort"))
    trainable = {n for n, p in module.detector.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("head.") or ".residual_" in n for n in trainable)
    assert any(".residual_" in n for n in trainable)
    optimised = {id(p) for g in module.parameter_groups() for p in g["params"]}
    assert optimised == {id(p) for p in module.detector.parameters() if p.requires_grad}
    batch = uint8_batch()
    terms = module.compute_loss(module.outputs(batch), batch)
    assert set(terms) == {"loss", "classification", "orthogonality", "singular_value_drift"}


# ------------------------------------------------------------------------------ LoRA


def _merge_equals_unmerged(model: nn.Module, x: torch.Tensor, settings: LoraSettings) -> None:
    inject_lora(model, settings)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():  # non-zero updates (B starts at zero)
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.2)
    model.eval()
    with torch.no_grad():
        before = model(x)
        merge_lora(model)
        after = model(x)
    assert not has_lora(model)
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert torch.allclose(before, after, atol=1e-4), (before - after).abs().max()


def _base_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def test_lora_merge_equals_the_unmerged_forward_timm():
    import timm

    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=0, img_size=32)
    x = torch.randn(2, 3, 32, 32)
    base = _base_output(model, x)
    _merge_equals_unmerged(model, x, LoraSettings(rank=2, alpha=4))
    assert not torch.allclose(base, _base_output(model, x), atol=1e-3)  # the update is real


def test_lora_merge_equals_the_unmerged_forward_open_clip_multihead_attention():
    open_clip = pytest.importorskip("open_clip")
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    torch.manual_seed(0)
    cfg = CLIPVisionCfg(layers=2, width=32, head_width=16, patch_size=8, image_size=32)
    visual = _build_vision_tower(16, cfg)
    assert any(isinstance(m, nn.MultiheadAttention) for m in visual.modules())
    del open_clip
    x = torch.randn(2, 3, 32, 32)
    base = _base_output(visual, x)
    _merge_equals_unmerged(visual, x, LoraSettings(rank=2, alpha=4))
    assert not torch.allclose(base, _base_output(visual, x), atol=1e-3)


def test_lora_merge_equals_the_unmerged_forward_transformers():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    model = transformers.ViTModel(config, add_pooling_layer=False)

    class Pooled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(pixel_values=x).last_hidden_state[:, 0]

    wrapped = Pooled()
    x = torch.randn(2, 3, 32, 32)
    _merge_equals_unmerged(wrapped, x, LoraSettings(rank=2, alpha=4))


def test_lora_checkpoint_loads_merged_with_the_same_scores(tmp_path):
    import lightning as L

    module = resolve_method("default")(zoo_config("lora"))
    with torch.no_grad():
        for name, parameter in module.detector.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.2)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, max_steps=0)
    trainer.strategy.connect(module)
    path = tmp_path / "lora.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    unmerged = load_detector(path).detector
    merged = load_detector(path, merge_adapters=True).detector
    assert has_lora(unmerged) and not has_lora(merged)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(unmerged(x), merged(x), atol=1e-4)
        assert torch.allclose(module.detector.eval()(x), unmerged(x), atol=1e-6)


def test_lora_unknown_target_names_the_modules():
    from aigenbench.errors import ConfigError

    with pytest.raises(ConfigError, match="targets"):
        resolve_method("default")(zoo_config("lora", lora={"targets": ["nope"]}))


# -------------------------------------------------------------------------- CNNDetection


def test_cnndetection_blur_then_jpeg_with_the_papers_draws():
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    blur_only = BlurJpeg(p_blur=1.0, p_jpeg=0.0)
    rng = sample_rng(Stream.TRAIN_DETERMINISTIC, 1, 2, 3)
    out = blur_only(image, rng)
    rng = sample_rng(Stream.TRAIN_DETERMINISTIC, 1, 2, 3)
    rng.random()
    sigma = rng.uniform(0.0, 3.0)
    assert np.array_equal(out, ops.gaussian_blur(image, sigma))
    module = resolve_method("cnndetection")(zoo_config("cnndetection"))
    augmentation = module.train_augmentation()
    assert isinstance(augmentation.deterministic, BlurJpeg)
    assert (augmentation.deterministic.p_blur, augmentation.deterministic.p_jpeg) == (0.5, 0.5)


# ------------------------------------------------------------------------------- all


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_method_builds_and_its_checkpoint_rebuilds_it(name, tmp_path):
    import lightning as L

    module = resolve_method(zoo_config(name).method)(zoo_config(name))
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, max_steps=0)
    trainer.strategy.connect(module)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    loaded = load_detector(path)
    assert type(loaded.detector) is type(module.detector)
    x = uint8_batch()["image"]
    module.eval()
    with torch.no_grad():
        expected = module({"image": x})
        got = loaded.detector(loaded.detector.normalize(x))
    assert torch.allclose(expected, got, atol=1e-6)
