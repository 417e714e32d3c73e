"""The names of the crop strategies (how an image reaches the model's input size)."""

from __future__ import annotations

from typing import Literal, get_args

TrainCrop = Literal["resize", "random_crop", "center_crop", "as_is"]
"""Training: resize, random crop, central crop, or the image as it is."""
EvalCrop = Literal["resize", "crop", "multicrop", "as_is"]
"""Evaluation: resize, central crop, five crops (scores fused), or the image as it is."""

TRAIN_CROPS: tuple[str, ...] = get_args(TrainCrop)
EVAL_CROPS: tuple[str, ...] = get_args(EvalCrop)
