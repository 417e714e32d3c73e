"""Tiny backbones and batches that follow the data contract (docs/DESIGN.md, "Batches")."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from aigenbench.models import Backbone, register_backbone, unregister_backbone

os.environ["HF_HUB_OFFLINE"] = "1"
warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*GPU available but not used.*")

SIZE = 32


def tiny_net(width: int = 8) -> nn.Module:
    """Conv + BatchNorm (running statistics to protect) + dropout-free pooling."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, stride=2, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def make_tiny(name: str, pretrained: bool, **options) -> Backbone:
    """Test family ``tiny:<width>`` (seeded so two builds are equal)."""
    torch.manual_seed(options.get("seed", 0))
    width = int(name or 8)
    return Backbone(tiny_net(width), feature_dim=width, input_size=SIZE)


@pytest.fixture(autouse=True, scope="session")
def tiny_family():
    register_backbone("tiny", make_tiny, overwrite=True)
    yield
    unregister_backbone("tiny")


def train_batch(
    n: int = 8, seed: int = 0, n_generators: int = 3, size: int = SIZE
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    generator_id = torch.randint(0, n_generators + 1, (n,), generator=g)
    return {
        "image": torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
        "label": (generator_id > 0).long(),
        "generator_id": generator_id,
        "id": torch.arange(seed * n, seed * n + n),
        "copy": torch.zeros(n, dtype=torch.long),
    }


def eval_batch(
    crops_per_image: list[int], first_id: int = 0, seed: int = 0, size: int = SIZE
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 1000)
    n_images = len(crops_per_image)
    counts = torch.tensor(crops_per_image)
    generator_id = torch.randint(0, 4, (n_images,), generator=g)
    to_image = torch.repeat_interleave(torch.arange(n_images), counts)
    return {
        "image": torch.randint(
            0, 256, (int(counts.sum()), 3, size, size), dtype=torch.uint8, generator=g
        ),
        "label": (generator_id > 0).long()[to_image],
        "generator_id": generator_id[to_image],
        "id": torch.arange(first_id, first_id + n_images)[to_image],
        "crop_to_image": to_image,
        "valid": torch.ones(int(counts.sum()), dtype=torch.bool),
    }


def loader(batches: list[dict[str, torch.Tensor]]) -> DataLoader:
    """A DataLoader yielding prebuilt batch dicts unchanged."""
    return DataLoader(batches, batch_size=None)


def trainer(max_steps: int = 4, **kwargs):
    import lightning as L

    settings = {
        "accelerator": "cpu",
        "devices": 1,
        "max_steps": max_steps,
        "max_epochs": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "enable_checkpointing": False,
        "num_sanity_val_steps": 0,
    }
    return L.Trainer(**{**settings, **kwargs})
