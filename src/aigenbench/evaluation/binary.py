"""Binary detection metrics of one subset of images, from scores sorted once (vectorised).

Every metric equals the scikit-learn function the official evaluation script calls, on the
same inputs: ``roc_auc_score`` (AUROC, ties counted half), ``average_precision_score``
(AP), and at a threshold T with "fake" meaning ``score > T`` (strict, as the official script
and torchmetrics): ``accuracy_score``, ``balanced_accuracy_score``, ``precision_score``,
``recall_score``, ``f1_score`` (0 where sklearn divides by zero) and TNR = TN / (TN + FP).
AUROC is computed exactly in integers and rounded once, so it can differ from sklearn's
floating-point trapezoid in the last bits (|difference| < 1e-12), never more.

Two more: the equal error rate (where the false positive and false negative rates cross on
the ROC curve, interpolated linearly between its points) and the best-F1 threshold of the
official ``BestBinaryThresholdF1`` (the first of 1001 thresholds ``linspace(0, 1)`` that
maximises F1 with "fake" meaning ``score >= threshold``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

BEST_F1_THRESHOLDS = np.linspace(0.0, 1.0, 1001)

METRIC_KEYS = (
    "auroc",
    "ap",
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "tnr",
    "eer",
    "best_f1_threshold",
)
"""Metric names, in table order; every subset result also has ``n_real`` and ``n_fake``."""


@dataclass(frozen=True)
class SubsetMetrics:
    """Metrics of one subset; None where not defined (no images, or one class missing)."""

    auroc: float | None
    ap: float | None
    accuracy: float | None
    balanced_accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    tnr: float | None
    eer: float | None
    best_f1_threshold: float | None
    n_real: int
    n_fake: int
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def defined(self) -> bool:
        return self.n_real + self.n_fake > 0

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SubsetMetrics:
        """The metrics a :meth:`to_dict` document holds (a metrics.json read back)."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})


EMPTY = SubsetMetrics(
    auroc=None,
    ap=None,
    accuracy=None,
    balanced_accuracy=None,
    precision=None,
    recall=None,
    f1=None,
    tnr=None,
    eer=None,
    best_f1_threshold=None,
    n_real=0,
    n_fake=0,
    tp=0,
    fp=0,
    tn=0,
    fn=0,
)
"""A subset without images: every metric not defined."""


@dataclass(frozen=True)
class SortedScores:
    """One subset's scores in descending order and whether each image is fake."""

    scores: np.ndarray
    fake: np.ndarray

    @classmethod
    def from_unsorted(cls, scores: np.ndarray, fake: np.ndarray) -> SortedScores:
        order = np.argsort(-np.asarray(scores), kind="stable")
        return cls(np.asarray(scores)[order], np.asarray(fake, dtype=bool)[order])


def _roc_points(sorted_scores: SortedScores) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (true positives, false positives) at each distinct score, descending."""
    scores, fake = sorted_scores.scores, sorted_scores.fake
    last_of_run = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    tps = np.cumsum(fake, dtype=np.int64)[last_of_run]
    fps = last_of_run + 1 - tps
    return tps, fps


def _auroc(tps: np.ndarray, fps: np.ndarray, n_fake: int, n_real: int) -> float:
    # Trapezoid area under (fps, tps) counted twice, in exact integers.
    previous_tps = np.concatenate(([0], tps[:-1]))
    step_fps = np.diff(np.concatenate(([0], fps)))
    twice_area = int(np.sum(step_fps * (tps + previous_tps)))
    return twice_area / (2 * n_fake * n_real)


def auroc(sorted_scores: SortedScores) -> float | None:
    """AUROC of one subset, None when it lacks reals or fakes."""
    n_fake = int(np.count_nonzero(sorted_scores.fake))
    n_real = len(sorted_scores.fake) - n_fake
    if n_fake == 0 or n_real == 0:
        return None
    tps, fps = _roc_points(sorted_scores)
    return _auroc(tps, fps, n_fake, n_real)


def _equal_error_rate(tps: np.ndarray, fps: np.ndarray, n_fake: int, n_real: int) -> float:
    fpr = np.concatenate(([0.0], fps / n_real))
    fnr = np.concatenate(([1.0], 1.0 - tps / n_fake))
    gap = fnr - fpr  # goes from 1 down to -1
    crossing = int(np.argmax(gap <= 0))
    if gap[crossing] == 0:
        return float(fpr[crossing])
    before = crossing - 1
    fraction = gap[before] / (gap[before] - gap[crossing])
    return float(fpr[before] + fraction * (fpr[crossing] - fpr[before]))


def _best_f1_threshold(sorted_scores: SortedScores, n_fake: int) -> float:
    scores, fake = sorted_scores.scores, sorted_scores.fake
    thresholds = BEST_F1_THRESHOLDS.astype(np.float32).astype(scores.dtype)
    fake_ascending = scores[fake][::-1]
    real_ascending = scores[~fake][::-1]
    tp = n_fake - np.searchsorted(fake_ascending, thresholds, side="left")
    fp = len(real_ascending) - np.searchsorted(real_ascending, thresholds, side="left")
    denominator = tp + fp + n_fake
    f1 = np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)
    return float(thresholds[int(np.argmax(f1))])


def _ratio(numerator: int, denominator: int) -> float:
    """sklearn's zero_division behaviour for precision/recall/F1: 0.0 when undefined."""
    return numerator / denominator if denominator else 0.0


def subset_metrics(sorted_scores: SortedScores, threshold: float = 0.5) -> SubsetMetrics:
    """All metrics of one subset (scores sorted in descending order)."""
    scores, fake = sorted_scores.scores, sorted_scores.fake
    n = len(scores)
    if n == 0:
        return EMPTY
    n_fake = int(np.count_nonzero(fake))
    n_real = n - n_fake
    cumulative_fakes = np.cumsum(fake, dtype=np.int64)

    # Compare in the scores' own dtype, as `float32_array > 0.3` does in NumPy >= 2.
    above = int(np.count_nonzero(scores > np.asarray(threshold, dtype=scores.dtype)))
    tp = int(cumulative_fakes[above - 1]) if above else 0
    fp = above - tp
    fn = n_fake - tp
    tn = n_real - fp

    recalls = [tn / n_real] if n_real else []
    if n_fake:
        recalls.append(tp / n_fake)
    both_classes = n_fake > 0 and n_real > 0
    auroc_value = ap_value = eer_value = best_threshold = None
    if both_classes:
        tps, fps = _roc_points(sorted_scores)
        auroc_value = _auroc(tps, fps, n_fake, n_real)
        precision_curve = tps / (tps + fps)
        ap_value = float(np.sum(np.diff(np.concatenate(([0], tps))) * precision_curve) / n_fake)
        eer_value = _equal_error_rate(tps, fps, n_fake, n_real)
        best_threshold = _best_f1_threshold(sorted_scores, n_fake)
    return SubsetMetrics(
        auroc=auroc_value,
        ap=ap_value,
        accuracy=(tp + tn) / n,
        balanced_accuracy=float(np.mean(recalls)),
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, n_fake),
        f1=_ratio(2 * tp, n_fake + tp + fp),
        tnr=tn / n_real if n_real else None,
        eer=eer_value,
        best_f1_threshold=best_threshold,
        n_real=n_real,
        n_fake=n_fake,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
    )
