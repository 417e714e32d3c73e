"""Threshold transfer: a threshold chosen on the generators a detector knows, applied to the next.

A deployed detector runs at one threshold, chosen on the data it has. After training step k
the threshold is chosen on window k's generators (their fakes and paired reals) by one of
two rules, then applied to window k+1's generators, scored by the same detector:

- ``best_f1``: the official best-F1 threshold (first of ``linspace(0, 1, 1001)`` maximising
  F1 with ``score >= t`` as fake);
- ``fpr``: the lowest threshold that calls at most the target share of window k's reals fake.

Reported beside it: what the *oracle* threshold (the same rule, chosen on window k+1 itself)
would give, and the fixed threshold (0.5) with the official rule of every 0.5-threshold metric,
``score > 0.5`` as fake (the chosen thresholds are scores of images, so ``>=`` there). The
gap between transferred and oracle is what a detector loses by not knowing the next
generators; FPR above the target is the false-alarm budget broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from aigenbench.evaluation.binary import SortedScores, subset_metrics
from aigenbench.evaluation.calibration import operating_point

RULES = ("best_f1", "fpr")


@dataclass(frozen=True)
class AtThreshold:
    """Rates of one subset with ``score >= threshold`` (``>`` for the fixed one) called fake."""

    threshold: float
    tpr: float
    fpr: float
    balanced_accuracy: float
    f1: float


def at_threshold(
    sorted_scores: SortedScores, threshold: float, strict: bool = False
) -> AtThreshold:
    """``strict``: ``score > threshold`` is fake, as the official metrics at the fixed 0.5."""
    scores, fake = sorted_scores.scores, sorted_scores.fake
    cut = np.asarray(threshold, dtype=scores.dtype)
    called = scores > cut if strict else scores >= cut
    n_fake = int(np.count_nonzero(fake))
    n_real = len(fake) - n_fake
    tp = int(np.count_nonzero(called & fake))
    fp = int(np.count_nonzero(called & ~fake))
    tpr = tp / n_fake if n_fake else 0.0
    fpr = fp / n_real if n_real else 0.0
    f1 = 2 * tp / (n_fake + tp + fp) if n_fake + tp + fp else 0.0
    return AtThreshold(float(threshold), tpr, fpr, (tpr + 1 - fpr) / 2, f1)


def choose_threshold(sorted_scores: SortedScores, rule: str, target_fpr: float) -> float | None:
    if rule == "best_f1":
        return subset_metrics(sorted_scores).best_f1_threshold
    point = operating_point(sorted_scores, target_fpr)
    return None if point is None else point[1]


@dataclass(frozen=True)
class ThresholdTransfer:
    step: int
    rule: str
    target_fpr: float | None
    transferred: AtThreshold
    """Chosen on window k, applied to window k+1."""
    oracle: AtThreshold
    """Chosen on window k+1 itself."""
    fixed: AtThreshold
    """The fixed threshold (``--threshold``, 0.5) on window k+1, ``score > threshold`` as fake
    (the rule of accuracy, precision, recall, F1 and TNR)."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ThresholdTransfer:
        """The transfer a :meth:`to_dict` document holds (a metrics.json read back)."""
        return cls(
            step=values["step"],
            rule=values["rule"],
            target_fpr=values["target_fpr"],
            **{key: AtThreshold(**values[key]) for key in ("transferred", "oracle", "fixed")},
        )


def transfer_threshold(
    step: int,
    known: SortedScores,
    upcoming: SortedScores,
    rule: str,
    target_fpr: float = 0.05,
    fixed: float = 0.5,
) -> ThresholdTransfer | None:
    """Choose on ``known`` (window k), apply to ``upcoming`` (window k+1); None if undefined."""
    chosen = choose_threshold(known, rule, target_fpr)
    oracle = choose_threshold(upcoming, rule, target_fpr)
    if chosen is None or oracle is None:
        return None
    return ThresholdTransfer(
        step=step,
        rule=rule,
        target_fpr=target_fpr if rule == "fpr" else None,
        transferred=at_threshold(upcoming, chosen),
        oracle=at_threshold(upcoming, oracle),
        fixed=at_threshold(upcoming, fixed, strict=True),
    )
