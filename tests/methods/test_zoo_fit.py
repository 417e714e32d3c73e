"""Every zoo method on the tiny synthetic benchmark: two windows through ``fit``, then
``predict`` from the final checkpoint (LoRA merged) scores like the trained detector."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigenbench.cli import main
from aigenbench.data.decode import decode_file
from aigenbench.data.pipelines import EvalPipeline
from aigenbench.models.build import load_detector
from aigenbench.models.lora import has_lora
from tests.training.conftest import fit_args, load_predictions

from .conftest import ZOO, zoo_yaml


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for index in range(3):
        path = folder / f"image_{index}.png"
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def expected_scores(checkpoint: Path, paths: list[Path]) -> list[float]:
    """The unmerged detector of the checkpoint on predict's pixels (no degradations)."""
    loaded = load_detector(checkpoint)
    config = loaded.config
    pipeline = EvalPipeline(input_size=config.input_size, crop=config.eval_crop, degradations=False)
    scores = []
    for index, path in enumerate(paths):
        crops = torch.stack(pipeline(decode_file(path), index))
        with torch.inference_mode():
            logits = loaded.detector(loaded.detector.normalize(crops))
        scores.append(float(torch.sigmoid(logits[:, 0]).mean()))
    return scores


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_method_trains_two_windows_and_predict_loads_it(
    name, tiny_benchmark, images, tmp_path, capsys
):
    config = zoo_yaml(tmp_path, name)
    assert main(fit_args(config, tiny_benchmark, tmp_path, name)) == 0
    run = tmp_path / name
    recorded = (run / "config.yaml").read_text()
    assert f"method: {ZOO[name].get('method', 'default')}" in recorded
    for window in (0, 1):
        done = json.loads((run / f"window_{window}" / "DONE").read_text())
        assert done["steps"] > 0
        scores = load_predictions(run, window)["fused_scores"]
        assert np.isfinite(scores).all() and scores.std() > 0
    checkpoint = run / "window_1" / "checkpoints" / "final.ckpt"
    if name == "lora":
        assert has_lora(load_detector(checkpoint).detector)
        assert not has_lora(load_detector(checkpoint, merge_adapters=True).detector)
    capsys.readouterr()
    assert main(["predict", str(run), *map(str, images), "--no_progress"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    got = [float(row["score"]) for row in rows]
    assert got == pytest.approx(expected_scores(checkpoint, images), abs=1e-5)


@pytest.mark.slow
def test_rine_caches_every_blocks_token_and_gives_the_uncached_predictions(
    tiny_benchmark, tmp_path
):
    config = zoo_yaml(tmp_path, "rine")
    assert main(fit_args(config, tiny_benchmark, tmp_path, "cached")) == 0
    off = ["--experiment.feature_cache", "off"]
    assert main(fit_args(config, tiny_benchmark, tmp_path, "uncached", *off)) == 0
    header = json.loads((tmp_path / "cached" / "features" / "validate" / "header.json").read_text())
    assert header["row_shape"] == [6 * 64]  # test_vit: the CLS token (64) of each of its 6 blocks
    assert not (tmp_path / "uncached" / "features").exists()
    for window in (0, 1):
        cached, computed = (
            load_predictions(tmp_path / "cached", window),
            load_predictions(tmp_path / "uncached", window),
        )
        np.testing.assert_allclose(cached["crop_scores"], computed["crop_scores"], atol=1e-6)
