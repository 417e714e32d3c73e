"""Operating points and calibration of one subset: TPR at a fixed FPR, Brier score, ECE.

- **TPR at FPR x** (x = 1%, 5%, 10%): the largest fraction of fakes caught by a threshold that
  calls at most x of the reals fake (a point of the ROC curve, no interpolation), and that
  threshold (``score >= t`` is fake). What a deployed detector with a false-alarm budget sees.
- **Brier score**: ``mean((score - is_fake)^2)``, 0 is perfect, 0.25 is a constant 0.5.
- **ECE** (expected calibration error): scores cut into 15 equal-width bins of [0, 1]; the
  mean over images of ``|fraction of fakes in the bin - mean score in the bin|``. The
  reliability diagram plots those two per bin.

Scores must be probabilities for Brier and ECE: outside [0, 1] (logits) they are not defined.
The subsets are balanced (as many reals as fakes), so calibration is measured at a 50% prior.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigenbench.evaluation.binary import SortedScores

FPR_TARGETS = (0.01, 0.05, 0.10)
CALIBRATION_BINS = 15


def fpr_key(target: float) -> str:
    """``tpr_at_fpr_5`` for 5%."""
    return f"tpr_at_fpr_{round(100 * target):d}"


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_score: float | None
    fake_fraction: float | None


@dataclass(frozen=True)
class Calibration:
    """Operating points and calibration of one subset (None where not defined)."""

    tpr_at_fpr: dict[str, float | None]
    threshold_at_fpr: dict[str, float | None]
    brier: float | None
    ece: float | None
    reliability: list[ReliabilityBin]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.tpr_at_fpr,
            **{
                f"threshold_at_fpr_{k.rsplit('_', 1)[1]}": v
                for k, v in self.threshold_at_fpr.items()
            },
            "brier": self.brier,
            "ece": self.ece,
            "reliability": [bin_.__dict__ for bin_ in self.reliability],
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Calibration:
        """The calibration a :meth:`to_dict` document holds (a metrics.json read back)."""
        keys = [fpr_key(target) for target in FPR_TARGETS]
        return cls(
            {key: values[key] for key in keys},
            {key: values[f"threshold_at_fpr_{key.rsplit('_', 1)[1]}"] for key in keys},
            values["brier"],
            values["ece"],
            [ReliabilityBin(**bin_) for bin_ in values["reliability"]],
        )


EMPTY_CALIBRATION = Calibration(
    {fpr_key(t): None for t in FPR_TARGETS},
    {fpr_key(t): None for t in FPR_TARGETS},
    None,
    None,
    [],
)


def operating_point(sorted_scores: SortedScores, target_fpr: float) -> tuple[float, float] | None:
    """(TPR, threshold) of the best threshold with FPR <= ``target_fpr`` (None: one class)."""
    scores, fake = sorted_scores.scores, sorted_scores.fake
    n_fake = int(np.count_nonzero(fake))
    n_real = len(fake) - n_fake
    if n_fake == 0 or n_real == 0:
        return None
    last_of_run = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    tps = np.cumsum(fake, dtype=np.int64)[last_of_run]
    fps = last_of_run + 1 - tps
    allowed = np.flatnonzero(fps <= target_fpr * n_real + 1e-9)
    if len(allowed) == 0:
        # Even the highest score is shared with too many reals: nothing can be called fake.
        return 0.0, float(np.nextafter(scores[0], np.inf))
    run = int(allowed[-1])
    return float(tps[run] / n_fake), float(scores[last_of_run[run]])


def reliability_bins(scores: np.ndarray, fake: np.ndarray, bins: int = CALIBRATION_BINS):
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    score_sums = np.bincount(index, weights=scores, minlength=bins)
    fake_sums = np.bincount(index, weights=fake.astype(float), minlength=bins)
    result = []
    for b in range(bins):
        count = int(counts[b])
        result.append(
            ReliabilityBin(
                float(edges[b]),
                float(edges[b + 1]),
                count,
                float(score_sums[b] / count) if count else None,
                float(fake_sums[b] / count) if count else None,
            )
        )
    return result


def calibration(sorted_scores: SortedScores) -> Calibration:
    """Every number of the module docstring for one subset."""
    scores = np.asarray(sorted_scores.scores, dtype=np.float64)
    fake = sorted_scores.fake
    if len(scores) == 0:
        return EMPTY_CALIBRATION
    tpr: dict[str, float | None] = {}
    thresholds: dict[str, float | None] = {}
    for target in FPR_TARGETS:
        point = operating_point(sorted_scores, target)
        tpr[fpr_key(target)] = None if point is None else point[0]
        thresholds[fpr_key(target)] = None if point is None else point[1]
    if scores.min() < 0.0 or scores.max() > 1.0:
        return Calibration(tpr, thresholds, None, None, [])
    brier = float(np.mean((scores - fake) ** 2))
    bins = reliability_bins(scores, fake)
    ece = sum(
        b.count * abs(b.fake_fraction - b.mean_score)
        for b in bins
        if b.count and b.fake_fraction is not None and b.mean_score is not None
    ) / len(scores)
    return Calibration(tpr, thresholds, brier, float(ece), bins)
