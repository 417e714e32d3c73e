"""Pretrained weights from local files and from another run's checkpoint (a "global encoder")."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from aigenbench.errors import ConfigError
from aigenbench.models import ModelConfig, build_backbone, load_detector
from aigenbench.training.module import DetectorModule

from .conftest import loader, train_batch, trainer


def _randomised(spec: str, seed: int, **options):
    backbone = build_backbone(spec, pretrained=False, **options)
    torch.manual_seed(seed)
    for name, tensor in backbone.module.state_dict().items():
        if name.endswith("running_var"):
            tensor.uniform_(0.5, 1.5)
        elif tensor.is_floating_point():
            tensor.normal_(std=0.05)
    return backbone


def _outputs(backbone, size=32):
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return backbone.module.eval()(x)


@pytest.mark.parametrize(
    "spec", ["timm:resnet18", "timm:vit_tiny_patch16_224", "torchvision:resnet18"]
)
def test_a_saved_safetensors_file_loads_back_with_identical_outputs(tmp_path, spec):
    source = _randomised(spec, seed=3, input_size=32)
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in source.module.state_dict().items()}, str(path))
    loaded = build_backbone(spec, pretrained=str(path), input_size=32)
    fresh = build_backbone(spec, pretrained=False, input_size=32)
    assert torch.equal(_outputs(loaded), _outputs(source))
    assert not torch.equal(_outputs(fresh), _outputs(source))


def test_a_torch_file_in_a_wrapper_and_from_ddp_loads(tmp_path):
    source = _randomised("timm:resnet18", seed=4)
    path = tmp_path / "weights.pth"
    state = {f"module.{k}": v for k, v in source.module.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3}, path)
    loaded = build_backbone("timm:resnet18", pretrained=path)
    assert torch.equal(_outputs(loaded), _outputs(source))


def test_timm_filter_resamples_position_embeddings_for_another_input_size(tmp_path):
    source = _randomised("timm:vit_tiny_patch16_224", seed=2, input_size=32)
    path = tmp_path / "vit32.safetensors"
    save_file({k: v.contiguous() for k, v in source.module.state_dict().items()}, str(path))
    # Weights made for 32 px load into a 64 px model (timm's own filter resamples).
    loaded = build_backbone("timm:vit_tiny_patch16_224", pretrained=path, input_size=64)
    assert _outputs(loaded, size=64).shape == (3, 192)


def test_weights_of_another_architecture_are_refused_with_the_reason(tmp_path):
    source = _randomised("timm:resnet18", seed=1)
    path = tmp_path / "r18.safetensors"
    save_file({k: v.contiguous() for k, v in source.module.state_dict().items()}, str(path))
    with pytest.raises(ConfigError, match=r"do not fit the backbone.*missing"):
        build_backbone("timm:resnet34", pretrained=path)


def test_unsafe_pickles_are_not_executed(tmp_path):
    path = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    path.write_bytes(pickle.dumps({"state_dict": Payload()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError) as raised:
        build_backbone("timm:resnet18", pretrained=path)
    assert any("weights_only=True" in note for note in raised.value.__notes__)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist"):
        build_backbone("timm:resnet18", pretrained=tmp_path / "nope.safetensors")


def test_the_encoder_of_another_runs_checkpoint_is_reused(tmp_path):
    """Train a tune run, then start a probe run from its checkpoint's backbone."""
    config = ModelConfig(backbone="timm:resnet18", pretrained=False, freezing="tune", input_size=32)
    module = DetectorModule(config)
    fit = trainer(max_steps=2, enable_checkpointing=True, default_root_dir=tmp_path)
    fit.fit(module, loader([train_batch(seed=i) for i in range(2)]))
    ckpt = tmp_path / "run1.ckpt"
    fit.save_checkpoint(ckpt)

    reused = build_backbone("timm:resnet18", pretrained=ckpt, input_size=32)
    trained_backbone = module.detector.backbone
    x = torch.randn(2, 3, 32, 32)
    trained_backbone.eval()
    with torch.no_grad():
        assert torch.equal(reused.module.eval()(x), trained_backbone(x))

    # The same through a model config (what a user writes: pretrained: runs/.../final.ckpt).
    second = DetectorModule(
        ModelConfig(backbone="timm:resnet18", pretrained=str(ckpt), freezing="probe", input_size=32)
    )
    with torch.no_grad():
        assert torch.equal(second.detector.backbone.eval()(x), trained_backbone(x))

    # And the whole detector comes back for prediction.
    loaded = load_detector(ckpt)
    assert loaded.config == config
    batch = train_batch(seed=9)
    module.detector.eval()
    with torch.no_grad():
        expected = module.detector(module.detector.normalize(batch["image"]))
        assert torch.equal(loaded.detector(loaded.detector.normalize(batch["image"])), expected)
