"""Metrics sliced by the mandatory degradations each evaluation image got.

A predictions file written by aigenbench records, per image, which of the protocol's degradations
it received (key ``degradations``, see ``aigenbench.protocol.degradations``). Here every subset
(next / past / growing / whole / all) is cut further by slice: never / once / twice-or-more
JPEG'd, grayscale, noise, resized crop, no degradation at all. A slice keeps its fakes and the
reals (paired with the subset's generators) that fall in it; since the degradations are drawn
independently of the label, each slice stays roughly balanced.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aigenbench.errors import DataError
from aigenbench.evaluation.binary import SortedScores, SubsetMetrics, subset_metrics
from aigenbench.evaluation.metrics import (
    SUBSETS,
    EvaluationOptions,
    ScoredImages,
    subset_windows,
)
from aigenbench.evaluation.predictions import Predictions, load_predictions
from aigenbench.protocol.degradations import DEGRADATION_SLICES

NO_RECORD = (
    "has no degradation record (key 'degradations'): it was written by the official framework, "
    "by an older aigenbench, or with data.degradations off; re-score the experiment with "
    "`aigenbench validate RUN_DIR` to record them"
)


@dataclass
class WindowSlices:
    """Metrics of each (subset, slice) after one training step."""

    window: int
    metrics: dict[str, dict[str, SubsetMetrics | None]]
    """subset -> slice -> metrics (None: the subset is not defined at this step)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "subsets": {
                subset: {
                    name: None if value is None else _json_metrics(value)
                    for name, value in slices.items()
                }
                for subset, slices in self.metrics.items()
            },
        }


def _json_metrics(metrics: SubsetMetrics) -> dict[str, Any]:
    keys = ("auroc", "ap", "accuracy", "n_real", "n_fake")
    values = metrics.to_dict()
    return {key: values[key] for key in keys}


def slice_masks(codes: np.ndarray) -> dict[str, np.ndarray]:
    """Slice name -> which images belong to it."""
    return {name: member(codes) for name, (_, member) in DEGRADATION_SLICES.items()}


def subset_members(
    images: ScoredImages, generator_ids: list[int], use_pairing: bool = True
) -> np.ndarray:
    """The images of a subset: fakes of ``generator_ids`` and the reals paired with them."""
    fake = images.generator_ids != 0
    owner = np.where(fake, images.generator_ids, images.pairing)
    member = np.isin(owner, np.asarray(generator_ids, dtype=np.int64))
    if not use_pairing:
        member |= ~fake
    return member if generator_ids else np.zeros(len(fake), dtype=bool)


def window_slices(
    predictions: Predictions, window: int, options: EvaluationOptions | None = None
) -> WindowSlices:
    """Every subset's metrics per degradation slice after training step ``window``."""
    options = options or EvaluationOptions()
    if predictions.degradations is None:
        raise DataError(f"the predictions of step {window} {NO_RECORD}")
    images = ScoredImages.from_predictions(predictions)
    window_ids = images.window_generator_ids()
    masks = slice_masks(predictions.degradations)
    fake = images.generator_ids != 0
    metrics: dict[str, dict[str, SubsetMetrics | None]] = {}
    for subset in SUBSETS:
        covered = subset_windows(subset, window, images.n_windows, options.official_last_next)
        generator_ids = sorted({g for w in covered for g in window_ids[w]})
        member = subset_members(images, generator_ids, options.use_pairing)
        metrics[subset] = {}
        for name, mask in masks.items():
            if not generator_ids:
                metrics[subset][name] = None
                continue
            chosen = member & mask
            selected = SortedScores.from_unsorted(images.scores[chosen], fake[chosen])
            metrics[subset][name] = subset_metrics(selected, options.threshold)
    return WindowSlices(window, metrics)


def experiment_slices(
    files: Mapping[int, str | os.PathLike[str]], options: EvaluationOptions | None = None
) -> list[WindowSlices]:
    """:func:`window_slices` of one predictions file per training step."""
    results = []
    for step in sorted(files):
        predictions = load_predictions(files[step])
        if predictions.degradations is None:
            raise DataError(f"predictions file {Path(files[step])} {NO_RECORD}")
        results.append(window_slices(predictions, step, options))
    return results


def slice_counts(codes: np.ndarray) -> dict[str, int]:
    """How many images each slice holds."""
    return {name: int(np.count_nonzero(mask)) for name, mask in slice_masks(codes).items()}


def slice_titles() -> dict[str, str]:
    return {name: title for name, (title, _) in DEGRADATION_SLICES.items()}
