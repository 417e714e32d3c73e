"""Randomness keyed by what a sample is: image ID and copy, never its position or its order.

Each test here fails if the key is replaced by something a simpler implementation would use
(the position in the evaluation set, copy 0 for every copy, the same subset seed in every
window).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from aigenbench.data.loading import EvaluationDataset
from aigenbench.data.pipelines import (
    BaselineTrainAugmentation,
    DegradationPlan,
    EvalPipeline,
    TrainPipeline,
)
from aigenbench.protocol import ProtocolConfig, Timeline, make_plan
from tests.data.test_data_loading import _datamodule


def test_evaluation_pixels_follow_the_image_id_not_its_position(tiny_synth):
    datamodule = _datamodule(tiny_synth, window=None)
    evaluation = datamodule.evaluation_set("validate")
    forward = datamodule.eval_dataset("validate")
    backward = EvaluationDataset(
        datamodule.source,
        list(reversed(evaluation.ids)),
        list(reversed(evaluation.generators)),
        datamodule.plan.generator_names,
        datamodule.eval_pipeline,
    )
    by_id = {int(item["id"]): item["crops"] for item in (forward[i] for i in range(len(forward)))}
    for position in range(len(backward)):
        item = backward[position]
        for ours, theirs in zip(item["crops"], by_id[int(item["id"])], strict=True):
            assert torch.equal(ours, theirs), f"image {item['id']} at position {position}"


def test_the_deterministic_augmentation_differs_between_copies(photo):
    pipeline = TrainPipeline(input_size=32, stochastic=False)
    for image_id in range(8):
        copies = {
            pipeline(photo, image_id, copy, window=0, epoch=0).numpy().tobytes()
            for copy in range(4)
        }
        assert len(copies) > 1, f"image {image_id}: every copy got the same augmentation"
        parts = {pipeline.deterministic_part(photo, image_id, copy).tobytes() for copy in range(4)}
        assert len(parts) > 1


def test_a_grayscale_degradation_changes_the_pixels(photo):
    """Not only the trace: a plan with grayscale gives an image with equal channels."""
    degradations = EvalPipeline(input_size=32).degradations
    trace: list[str] = []
    grey = degradations.apply(
        photo, DegradationPlan(grayscale=True), np.random.default_rng(0), trace
    )
    assert trace == ["grayscale"]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    assert not np.array_equal(grey, photo)
    untouched = degradations.apply(photo, DegradationPlan(), np.random.default_rng(0))
    assert np.array_equal(untouched, photo)


def test_the_training_grayscale_changes_the_pixels(photo):
    only_grey = {f"p_{name}": 0.0 for name in ("resized_crop", "color_jitter", "cutout", "noise")}
    augmentation = BaselineTrainAugmentation(**only_grey, p_grayscale=1.0, p_blur=0.0, p_jpeg=0.0)
    trace: list[str] = []
    grey = augmentation(photo, np.random.default_rng(0), trace)
    assert trace == ["grayscale"]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    assert not np.array_equal(grey, photo)


@pytest.mark.parametrize("size", [0.5, 12])
def test_each_window_draws_its_own_training_subset(size):
    """train_subset_size: window k's subset has a seed of its own. Two windows of the same shape
    (sliding windows of 2 generators x 12 images + reals) would otherwise keep the same
    positions."""
    generators = [name for name in "ABCD" for _ in range(12)] + [""] * 48
    timeline = Timeline(
        {name: dt.date(2020, month, 1) for month, name in enumerate("ABCD", start=1)}, source="t"
    )
    options = {"benchmark_type": "continual_learning", "generators_per_window": 2}
    full = make_plan(generators, generators, ProtocolConfig(**options), timeline)
    plan = make_plan(
        generators, generators, ProtocolConfig(**options, train_subset_size=size), timeline
    )
    positions = []
    for window in (0, 1):
        rows = full.training_ids(window)
        subset = plan.training_ids(window)
        assert len(rows) == 48 and len(subset) == (24 if size == 0.5 else 12)
        positions.append(sorted(rows.index(row) for row in subset))
    assert positions[0] != positions[1]
