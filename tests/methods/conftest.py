"""Tiny stand-ins of the zoo's backbones (random-init timm test models at 32 px, CPU) and the
runner tests' shared synthetic benchmark."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from aigenbench.models import ModelConfig
from tests.training.conftest import tiny_benchmark  # noqa: F401  (the shared session fixture)

os.environ["HF_HUB_OFFLINE"] = "1"

ZOO: dict[str, dict] = {
    # method name -> the model section of a tiny stand-in of its shipped config
    "univfd": {"method": "univfd", "backbone": "timm:test_vit", "freezing": "probe"},
    "cnndetection": {
        "method": "cnndetection",
        "backbone": "timm:test_resnet",
        "freezing": "tune",
        "train_crop": "random_crop",
    },
    "npr": {"method": "npr", "backbone": "timm:test_resnet", "freezing": "tune"},
    "rine": {
        "method": "rine",
        "backbone": "timm:test_vit",
        "freezing": "probe",
        "method_args": {"projection": 8, "projection_layers": 1},
    },
    "effort": {"method": "effort", "backbone": "timm:test_vit", "freezing": "tune"},
    "lora": {"backbone": "timm:test_vit", "freezing": "lora", "lora": {"rank": 2, "alpha": 4}},
}


def zoo_config(name: str, **overrides) -> ModelConfig:
    return ModelConfig(**{"pretrained": False, "input_size": 32, **ZOO[name], **overrides})


def zoo_yaml(directory: Path, name: str, extra: str = "") -> Path:
    """A fit config of method ``name`` on the tiny benchmark."""
    import yaml

    model = {"pretrained": False, "input_size": 32, **ZOO[name]}
    text = yaml.safe_dump({"model": model}) + TINY_REST + extra
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


TINY_REST = """\
data:
  train_batch_size: 16
  eval_batch_size: 32
  num_workers: 0
  augmentation_factor: 1
trainer:
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  log_every_n_steps: 1
experiment:
  checkpoint_every_n_steps: 2
  loggers: [csv]
"""


def uint8_batch(n: int = 6, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 1] * (n // 2))
    return {
        "image": torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
        "label": labels,
        "generator_id": labels,
        "id": torch.arange(n),
        "copy": torch.zeros(n, dtype=torch.long),
    }
