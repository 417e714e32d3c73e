"""Backbone families build and run; unknown names list close ones; factory errors surface."""

from __future__ import annotations

import re
import sys

import pytest
import torch
from torch import nn

from aigenbench.errors import ConfigError
from aigenbench.models import (
    CLIP_MEAN,
    Backbone,
    available_backbones,
    build_backbone,
    register_backbone,
    unregister_backbone,
)
from tests.conftest import optional_module


def _forward(backbone: Backbone, size: int) -> torch.Tensor:
    backbone.module.eval()
    with torch.no_grad():
        return backbone.module(torch.randn(2, 3, size, size))


@pytest.mark.parametrize(
    ("spec", "size", "dim"),
    [
        ("timm:resnet18", 32, 512),
        ("timm:vit_tiny_patch16_224", 32, 192),
        ("torchvision:resnet18", 32, 512),
    ],
)
def test_core_families_build_and_run(spec, size, dim):
    backbone = build_backbone(spec, pretrained=False, input_size=size)
    assert backbone.feature_dim == dim
    assert backbone.input_size == size
    assert backbone.name == spec
    assert _forward(backbone, size).shape == (2, dim)


def test_timm_options_reach_the_model_and_clip_projection_is_kept():
    backbone = build_backbone("timm:resnet18", pretrained=False, num_classes=7)
    assert backbone.feature_dim == 7
    assert _forward(backbone, 32).shape == (2, 7)


def test_open_clip_family_builds_an_image_tower():
    optional_module("open_clip", "openclip")
    backbone = build_backbone("open_clip:ViT-S-32", pretrained=False, input_size=32, normalize=True)
    features = _forward(backbone, 32)
    assert features.shape == (2, backbone.feature_dim)
    assert torch.allclose(features.norm(dim=1), torch.ones(2), atol=1e-5)
    assert backbone.mean == pytest.approx(CLIP_MEAN)


def test_hf_family_loads_a_saved_folder(tmp_path):
    transformers = optional_module("transformers", "hf")
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    torch.manual_seed(0)
    transformers.ViTModel(config).save_pretrained(tmp_path / "vit")
    loaded = build_backbone(f"hf:{tmp_path / 'vit'}", pretrained=True, pooling="cls")
    again = build_backbone(f"hf:{tmp_path / 'vit'}", pretrained=True, pooling="cls")
    random = build_backbone(f"hf:{tmp_path / 'vit'}", pretrained=False, pooling="cls")
    assert loaded.feature_dim == 32 and loaded.input_size == 32
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b, c = (m.module.eval()(x) for m in (loaded, again, random))
    assert a.shape == (2, 32)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize(
    ("family", "module", "extra"),
    [("open_clip", "open_clip", "openclip"), ("hf", "transformers", "hf")],
)
def test_a_missing_optional_library_names_its_extra(monkeypatch, family, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=re.escape(f"pip install 'aigenbench[{extra}]'")):
        build_backbone(f"{family}:anything", pretrained=False)


def test_baseline_short_names_are_registered_with_clip_normalisation():
    listing = available_backbones()
    for name in ("clip_rn50", "clip_vitl14", "dinov2_vitl14"):
        assert name in listing
    backbone = build_backbone("clip_rn50", pretrained=False)
    assert backbone.feature_dim == 1024
    assert backbone.mean == pytest.approx(CLIP_MEAN)


def test_unknown_names_list_close_matches():
    with pytest.raises(ConfigError, match=r"did you mean: .*clip_rn50"):
        build_backbone("clip_rn5O")
    with pytest.raises(ConfigError, match=r"timm:resnet18"):
        build_backbone("timm:resnet181", pretrained=False)
    with pytest.raises(ConfigError, match=r"did you mean: timm"):
        build_backbone("tim:resnet18", pretrained=False)
    with pytest.raises(ConfigError, match=r"no pretrained tag 'nope'.*timm:resnet18.a1_in1k"):
        build_backbone("timm:resnet18.nope", pretrained=False)
    with pytest.raises(ConfigError, match=r"torchvision:resnet18"):
        build_backbone("torchvision:resnet1", pretrained=False)
    # A bare timm model name is suggested with its family.
    with pytest.raises(ConfigError, match=r"timm:resnet18"):
        build_backbone("resnet18", pretrained=False)


def test_a_factory_exception_keeps_its_type_and_message():
    class Boom(RuntimeError):
        pass

    def broken(name: str, pretrained: bool) -> Backbone:
        raise Boom(f"cannot build {name}: out of widgets")

    register_backbone("broken", broken)
    try:
        with pytest.raises(Boom, match="out of widgets") as raised:
            build_backbone("broken:v1")
        assert any("broken:v1" in note for note in raised.value.__notes__)
    finally:
        unregister_backbone("broken")


def test_user_family_in_a_few_lines_decorator_and_call():
    @register_backbone("mynet")
    def make_mynet(name: str, pretrained: bool, **options) -> Backbone:
        net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return Backbone(net, feature_dim=4, input_size=options.get("input_size", 224))

    try:
        backbone = build_backbone("mynet:small", pretrained=False, input_size=32)
        assert _forward(backbone, 32).shape == (2, 4)
        assert backbone.input_size == 32
        with pytest.raises(ConfigError, match="already registered"):
            register_backbone("mynet", make_mynet)
    finally:
        unregister_backbone("mynet")


def test_a_factory_must_return_a_backbone():
    register_backbone("plain", lambda name, pretrained: nn.Identity())
    try:
        with pytest.raises(ConfigError, match=r"must return aigenbench\.models\.Backbone"):
            build_backbone("plain")
    finally:
        unregister_backbone("plain")


def test_missing_library_weights_say_what_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError) as raised:
        build_backbone("timm:resnet18.a1_in1k", pretrained=True)
    message = str(raised.value)
    assert "timm/resnet18.a1_in1k" in message and "model.safetensors" in message
    assert str(tmp_path / "hub") in message and "pretrained: /path/to" in message

    monkeypatch.setattr("torch.hub._hub_dir", str(tmp_path / "torch"))
    monkeypatch.setattr("torch.hub.download_url_to_file", _no_network)
    with pytest.raises(ConfigError, match=r"torch.*checkpoints.*resnet18-"):
        build_backbone("torchvision:resnet18", pretrained=True)


def _no_network(*args, **kwargs):
    raise OSError("no network")


def test_library_weights_are_read_from_the_hub_cache_offline(tmp_path, monkeypatch):
    """A file in the HF cache layout is found without network and loads identically."""
    from safetensors.torch import save_file

    reference = build_backbone("timm:resnet18.a1_in1k", pretrained=False)
    torch.manual_seed(1)
    for p in reference.module.parameters():
        p.data.normal_()
    snapshot = tmp_path / "hub" / "models--timm--resnet18.a1_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    state = {k: v.contiguous() for k, v in reference.module.state_dict().items()}
    # The hub file has the classifier the pooled backbone drops: it must be skipped.
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    save_file(state, str(snapshot / "model.safetensors"))
    (tmp_path / "hub" / "models--timm--resnet18.a1_in1k" / "refs").mkdir()
    (tmp_path / "hub" / "models--timm--resnet18.a1_in1k" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(
        "huggingface_hub.file_download.constants.HF_HUB_CACHE", str(tmp_path / "hub")
    )
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)

    loaded = build_backbone("timm:resnet18.a1_in1k", pretrained=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.module.eval()(x), reference.module.eval()(x))
