"""Missing pretrained weights are found first, offline means no network attempt at all."""

from __future__ import annotations

import pytest
import torch

from aigenbench.errors import ConfigError
from aigenbench.models.available_weights import check_pretrained_weights
from aigenbench.models.pretrained import torch_hub_file


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", "/nonexistent-torch-home")


def test_weight_urls_are_not_fetched_offline(no_network):
    with pytest.raises(ConfigError) as error:
        torch_hub_file("https://example.org/weights/resnet.pth", "torchvision:resnet18")
    message = str(error.value)
    assert "HF_HUB_OFFLINE" in message and "resnet.pth" in message
    assert "/nonexistent-torch-home" in message  # where to put it


def test_missing_timm_weights_name_the_hub_file(no_network, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ConfigError) as error:
        check_pretrained_weights("timm:resnet18.a1_in1k", True)
    message = str(error.value)
    assert "timm/resnet18.a1_in1k" in message and "model.safetensors" in message


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"weights\.safetensors does not exist"):
        check_pretrained_weights("timm:test_resnet", str(tmp_path / "weights.safetensors"))
    check_pretrained_weights("timm:test_resnet", False)  # nothing to find
