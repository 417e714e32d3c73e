"""The data config: defaults of the official configs, clear errors, pipelines built from it."""

from __future__ import annotations

import pytest

from aigenbench.data.config import DataConfig
from aigenbench.data.datamodule import make_eval_pipeline, make_train_pipeline
from aigenbench.errors import ConfigError


def test_defaults_follow_the_official_configs():
    config = DataConfig()
    assert config.augmentation_factor == 4 and config.augmentation_seed == 4321
    assert config.maximum_processing_size == 1080 and config.eval_jpeg_quality == [50, 101]
    assert config.degradations and config.stochastic_augmentation


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("train_batch_size", 0, "train_batch_size"),
        ("num_workers", -1, "num_workers"),
        ("augmentation_factor", 1.5, "augmentation_factor"),
        ("eval_jpeg_quality_range", [90, 10], "eval_jpeg_quality_range"),
        ("eval_jpeg_quality", [], "eval_jpeg_quality"),
        ("source_kind", "zip", "source_kind"),
        ("maximum_processing_size", 0, "maximum_processing_size"),
    ],
)
def test_impossible_values_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        DataConfig(**{field: value})


def test_pipelines_follow_the_config():
    config = DataConfig(
        augmentation_seed=7,
        maximum_processing_size=None,
        stochastic_augmentation=False,
        eval_jpeg_quality_range=[70, 90],
    )
    train = make_train_pipeline(config, 96, "random_crop")
    assert (train.seed, train.input_size, train.crop, train.stochastic) == (
        7,
        96,
        "random_crop",
        False,
    )
    assert train.maximum_processing_size is None
    evaluation = make_eval_pipeline(config, 96, "multicrop")
    assert evaluation.degradations is not None
    assert evaluation.degradations.jpeg_quality_range == (70, 90)
    off = make_eval_pipeline(DataConfig(degradations=False), 96, "resize")
    assert off.degradations is None
    custom = DataConfig(
        train_pipeline={
            "class_path": "aigenbench.data.pipelines.TrainPipeline",
            "init_args": {"hflip": False},
        }
    )
    assert make_train_pipeline(custom, 64, "resize").hflip is False
