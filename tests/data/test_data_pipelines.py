"""Pixel pipelines: the protocol's operations, probabilities and per-sample seeding."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from aigenbench.data import ops
from aigenbench.data.pipelines import (
    BaselineTrainAugmentation,
    EvalPipeline,
    EvaluationDegradations,
    TrainPipeline,
    instantiate,
)
from aigenbench.data.seeding import Stream, sample_rng
from aigenbench.errors import ConfigError
from tests.data.data_helpers import random_image


def _rate(counts: Counter, key: str, n: int) -> float:
    return counts[key] / n


def _close(observed: float, expected: float, n: int) -> bool:
    """Within 4.5 binomial standard deviations (a false alarm about once in 150,000 runs)."""
    return abs(observed - expected) <= 4.5 * np.sqrt(expected * (1 - expected) / n)


def test_evaluation_degradation_frequencies_and_parameters():
    degradations = EvaluationDegradations()
    image = random_image(20, 20)
    n = 2500
    counts: Counter = Counter()
    encoders: Counter = Counter()
    qualities: Counter = Counter()
    interpolations: Counter = Counter()
    noise_std, sides = [], []
    for image_id in range(n):
        trace: list[str] = []
        degradations(image, sample_rng(Stream.EVALUATION, 4321, image_id), trace)
        for event in trace:
            step, *params = event.split(":")
            counts[step] += 1
            if step.startswith("jpeg"):
                encoders[params[0]] += 1
                qualities[int(params[1])] += 1
            elif step == "noise":
                noise_std.append(float(params[0]))
            elif step == "resized_crop":
                sides.append(int(params[0]))
                interpolations[params[1]] += 1
    expected = {
        "grayscale": 0.10,
        "jpeg1": 0.50,
        "noise": 0.30,
        "jpeg2": 0.20,
        "resized_crop": 0.25,
        "jpeg3": 0.10,
    }
    for step, probability in expected.items():
        assert _close(_rate(counts, step, n), probability, n), (step, counts[step] / n)
    jpegs = sum(encoders.values())
    assert set(encoders) == {"opencv", "pillow"} and _close(encoders["opencv"] / jpegs, 0.5, jpegs)
    assert set(qualities) == {50, 101} and _close(qualities[50] / jpegs, 0.5, jpegs)
    assert min(noise_std) >= 0.015 * 255 and max(noise_std) <= 0.075 * 255
    assert min(sides) >= 256 and max(sides) <= 512 and max(sides) - min(sides) > 200
    assert set(interpolations) == {"bilinear", "bicubic", "lanczos"}


def test_evaluation_degradations_happen_in_the_protocol_order():
    order = ["grayscale", "jpeg1", "noise", "jpeg2", "resized_crop", "jpeg3"]
    degradations = EvaluationDegradations()
    image = random_image(12, 12)
    for image_id in range(300):
        trace: list[str] = []
        degradations(image, sample_rng(Stream.EVALUATION, 4321, image_id), trace)
        steps = [event.split(":")[0] for event in trace]
        assert steps == sorted(steps, key=order.index)


def test_jpeg_quality_range_is_configurable():
    degradations = EvaluationDegradations(jpeg_quality_range=(60, 70))
    qualities = set()
    for image_id in range(400):
        trace: list[str] = []
        degradations(random_image(8, 8), sample_rng(Stream.EVALUATION, 1, image_id), trace)
        qualities |= {int(e.split(":")[2]) for e in trace if e.startswith("jpeg")}
    assert qualities <= set(range(60, 71)) and len(qualities) > 5
    with pytest.raises(ConfigError):
        EvaluationDegradations(jpeg_quality_range=(70, 60))


def test_training_augmentation_frequencies():
    augmentation = BaselineTrainAugmentation()
    image = random_image(16, 16)
    n = 1500
    counts: Counter = Counter()
    sigmas, qualities = [], []
    for image_id in range(n):
        trace: list[str] = []
        augmentation(image, sample_rng(Stream.TRAIN_DETERMINISTIC, 4321, image_id, 0), trace)
        for event in trace:
            step, *params = event.split(":")
            counts[step] += 1
            if step == "blur":
                sigmas.append(float(params[0]))
            if step == "jpeg":
                qualities.append(int(params[1]))
    expected = {
        "resized_crop": 0.2,
        "color_jitter": 0.8,
        "grayscale": 0.2,
        "cutout": 0.2,
        "noise": 0.2,
        "blur": 0.5,
        "jpeg": 0.5,
    }
    for step, probability in expected.items():
        assert _close(_rate(counts, step, n), probability, n), (step, counts[step] / n)
    assert min(sigmas) >= 0 and max(sigmas) <= 3 and max(sigmas) > 2.5
    assert min(qualities) >= 30 and max(qualities) <= 100 and max(qualities) - min(qualities) > 60


def test_evaluation_pixels_depend_only_on_the_image_id(photo):
    pipeline = EvalPipeline(input_size=32)
    ids = list(range(40))
    forward = {i: pipeline(photo, i) for i in ids}
    backward = {i: pipeline(photo, i) for i in reversed(ids)}
    other = EvalPipeline(input_size=32)  # a fresh object, as in another worker or run
    for i in ids:
        assert len(forward[i]) == 1
        assert torch.equal(forward[i][0], backward[i][0])
        assert torch.equal(forward[i][0], other(photo, i)[0])
    distinct = {forward[i][0].numpy().tobytes() for i in ids}
    assert len(distinct) > 20  # different IDs are degraded differently


def test_training_pixels_depend_on_id_and_copy_and_the_stochastic_part_on_window_and_epoch(photo):
    pipeline = TrainPipeline(input_size=32)
    a = pipeline(photo, 7, 1, window=2, epoch=0)
    assert a.dtype == torch.uint8 and a.shape == (3, 32, 32)
    assert torch.equal(a, TrainPipeline(input_size=32)(photo, 7, 1, window=2, epoch=0))
    assert not torch.equal(a, pipeline(photo, 7, 2, window=2, epoch=0))
    # The deterministic part is the same in every epoch; the stochastic part changes.
    base = [pipeline.deterministic_part(photo, 7, 1) for _ in range(2)]
    assert np.array_equal(base[0], base[1])
    per_epoch = {pipeline(photo, 7, 1, window=2, epoch=e).numpy().tobytes() for e in range(12)}
    assert len(per_epoch) > 1


def test_stochastic_part_off_makes_samples_depend_only_on_id_and_copy(photo):
    pipeline = TrainPipeline(input_size=32, stochastic=False)
    first = pipeline(photo, 3, 0, window=0, epoch=0)
    for window, epoch in [(0, 1), (1, 0), (5, 9)]:
        assert torch.equal(first, pipeline(photo, 3, 0, window=window, epoch=epoch))


def test_crop_if_large_is_central_in_evaluation_and_random_in_training():
    big = random_image(1300, 1100)
    central = ops.crop_if_large(big, 1080)
    assert central.shape == (1080, 1080, 3)
    np.testing.assert_array_equal(central, big[110:1190, 10:1090])
    positions = set()
    for image_id in range(20):
        rng = sample_rng(Stream.TRAIN_DETERMINISTIC, 4321, image_id, 0)
        crop = ops.crop_if_large(big, 1080, rng)
        assert crop.shape == (1080, 1080, 3)
        positions.add(crop[0, 0].tobytes())
    assert len(positions) > 10
    small = random_image(300, 2000)
    assert ops.crop_if_large(small, 1080).shape == (300, 1080, 3)
    assert ops.crop_if_large(random_image(50, 60), 1080).shape == (50, 60, 3)


def test_eval_pipeline_applies_crop_if_large_before_degrading():
    pipeline = EvalPipeline(input_size=64, crop="as_is", degradations=False)
    assert pipeline(random_image(1500, 700), 0)[0].shape == (3, 1080, 700)


@pytest.mark.parametrize(
    ("crop", "shape", "count"),
    [
        ("resize", (40, 90), 1),
        ("crop", (40, 90), 1),
        ("multicrop", (40, 90), 5),
        ("as_is", (40, 90), 1),
    ],
)
def test_evaluation_crops(crop, shape, count):
    pipeline = EvalPipeline(input_size=32, crop=crop, degradations=False)
    image = random_image(*shape)
    crops = pipeline(image, 0)
    assert len(crops) == count
    expected = (3, *shape) if crop == "as_is" else (3, 32, 32)
    assert all(c.shape == expected and c.dtype == torch.uint8 for c in crops)
    if crop == "multicrop":
        corners = [image[:32, :32], image[:32, -32:], image[-32:, :32], image[-32:, -32:]]
        for tensor, corner in zip(crops, corners, strict=False):
            np.testing.assert_array_equal(tensor.permute(1, 2, 0).numpy(), corner)
        np.testing.assert_array_equal(crops[4].permute(1, 2, 0).numpy(), image[4:36, 29:61])


def test_multicrop_falls_back_to_one_central_crop_when_not_larger():
    pipeline = EvalPipeline(input_size=32, crop="multicrop", degradations=False)
    assert len(pipeline(random_image(32, 32), 0)) == 1
    assert len(pipeline(random_image(20, 90), 0)) == 1  # one side smaller: zero-padded centre
    padded = pipeline(random_image(20, 90), 0)[0]
    assert padded.shape == (3, 32, 32) and int(padded[:, :6].max()) == 0


def test_resize_ignores_aspect_and_matches_pil_bilinear():
    image = random_image(50, 120)
    out = ops.resize(image, 32, 32, "bilinear")
    assert out.shape == (32, 32, 3)
    reference = np.asarray(Image.fromarray(image).resize((32, 32), Image.Resampling.BILINEAR))
    assert np.abs(out.astype(int) - reference).max() <= 1
    lanczos = ops.resize(image, 64, 40, "lanczos", box=(5, 10, 30, 60))
    cropped = Image.fromarray(image).crop((10, 5, 70, 35))  # torchvision: crop, then resize
    reference = np.asarray(cropped.resize((40, 64), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(lanczos, reference)


@pytest.mark.parametrize("crop", ["resize", "random_crop", "center_crop", "as_is"])
def test_training_crops(crop):
    pipeline = TrainPipeline(input_size=32, crop=crop, augmentation=lambda image, rng: image)
    out = pipeline(random_image(20, 50), 1, 0)
    if crop == "as_is":
        assert out.shape in {(3, 20, 50), (3, 50, 20)}  # rot90 may turn it
    else:
        assert out.shape == (3, 32, 32)


def test_jpeg_encoders_and_quality_101():
    image = random_image(32, 32)
    for encoder in ops.JPEG_ENCODERS:
        np.testing.assert_array_equal(ops.jpeg(image, 101, encoder), ops.jpeg(image, 100, encoder))
        assert not np.array_equal(ops.jpeg(image, 50, encoder), image)
    # The Pillow path decodes with OpenCV: the same pixels as Pillow's own decoder.
    stream = io.BytesIO()
    Image.fromarray(image).save(stream, format="JPEG", quality=50)
    pillow_decoded = np.asarray(Image.open(io.BytesIO(stream.getvalue())).convert("RGB"))
    np.testing.assert_array_equal(ops.jpeg(image, 50, "pillow"), pillow_decoded)


def test_gaussian_noise_has_the_requested_spread():
    flat = np.full((200, 200, 3), 128, np.uint8)
    noisy = ops.gaussian_noise(flat, 10.0, np.random.default_rng(0)).astype(float) - 128
    assert abs(noisy.std() - 10.0) < 0.3
    assert abs(noisy.mean() + 0.5) < 0.2  # floor(x + noise), like albumentations' cast to uint8
    channels = noisy.reshape(-1, 3)
    assert abs(np.corrcoef(channels.T)[0, 1]) < 0.05  # independent per channel


def test_grayscale_and_colour_jitter_keep_shape_and_type():
    image = random_image(10, 14)
    gray = ops.grayscale(image)
    assert (gray[:, :, 0] == gray[:, :, 1]).all() and (gray[:, :, 1] == gray[:, :, 2]).all()
    jittered = ops.color_jitter(image, 0.4, 0.4, 0.4, 0.1, np.random.default_rng(3))
    assert jittered.shape == image.shape and jittered.dtype == np.uint8
    np.testing.assert_array_equal(ops.adjust_brightness(image, 1.0), image)
    np.testing.assert_array_equal(ops.adjust_hue(image, 0.0), ops.adjust_hue(image, 0.0))
    assert int(ops.adjust_brightness(image, 0.0).max()) == 0


def test_cutout_and_blur():
    image = np.full((60, 60, 3), 10, np.uint8)
    holed = ops.cutout(image, np.random.default_rng(1))
    hole = holed == 128
    assert 1 <= hole[:, :, 0].sum() <= 48 * 48
    assert (ops.gaussian_blur(image, 0.0) == image).all()
    edge = np.zeros((30, 30, 3), np.uint8)
    edge[:, 15:] = 255
    assert 0 < ops.gaussian_blur(edge, 2.0)[15, 14, 0] < 255


def test_pipelines_can_be_replaced_by_class_path():
    spec = {
        "class_path": "aigenbench.data.pipelines.EvalPipeline",
        "init_args": {"crop": "multicrop"},
    }
    pipeline = instantiate(spec, "data.eval_pipeline", input_size=16, crop="resize")
    assert isinstance(pipeline, EvalPipeline)
    assert pipeline.crop == "multicrop" and pipeline.input_size == 16
    augmented = TrainPipeline(
        augmentation={
            "class_path": "aigenbench.data.pipelines.BaselineTrainAugmentation",
            "init_args": {"p_jpeg": 0.0},
        }
    )
    assert augmented.augmentation.p_jpeg == 0.0
    with pytest.raises(ConfigError, match="cannot import"):
        instantiate("aigenbench.data.pipelines.NoSuchPipeline")
    with pytest.raises(ConfigError, match="unknown evaluation crop"):
        EvalPipeline(crop="squash")  # type: ignore[arg-type]
