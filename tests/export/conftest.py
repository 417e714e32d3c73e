"""Detectors to export: a zoo method's checkpoint in a run-shaped folder (random weights, no
training: seconds), and a few small images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.methods.conftest import ZOO, zoo_config
from tests.training.conftest import finished, tiny_benchmark  # noqa: F401  (session fixtures)

GENERATORS = ["", "gen_a", "gen_b", "gen_c", "gen_d"]


def zoo_checkpoint(root: Path, name: str, **overrides) -> Path:
    """``root/run/window_0/checkpoints/final.ckpt`` of zoo method ``name`` (random weights;
    LoRA adapters made non-zero so that merging them matters)."""
    from aigenbench.methods import resolve_method

    config = zoo_config(name, **overrides)
    torch.manual_seed(0)
    module = resolve_method(config.method)(config, GENERATORS, window=0)
    with torch.no_grad():
        for parameter_name, parameter in module.detector.named_parameters():
            if "lora_B" in parameter_name:  # peft starts them at zero: a no-op adapter
                parameter.normal_(0, 0.2)
    content = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(content)
    folder = root / "run" / "window_0" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(content, folder / "final.ckpt")
    return folder / "final.ckpt"


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> list[Path]:
    """Four PNGs: larger than 32 px on both sides, on one side, smaller, and wider than the
    1080 px above which predict first crops the centre (crop-if-large)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    paths = []
    for index, (height, width) in enumerate([(40, 48), (64, 36), (24, 30), (40, 1200)]):
        path = folder / f"image_{index}.png"
        Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


__all__ = ["GENERATORS", "ZOO", "zoo_checkpoint"]
