"""The bootstrap's inner loop: every metric of one subset per resample, one compiled pass each.

A resample is a count per unit (how often it was drawn); an image weighs its unit's count.
For each resample, one walk over the subset's scores (sorted once, descending) accumulates the
drawn fakes and images run by run (a *run*: images with the same score) in integers, and at
each run's end adds the run's AUROC trapezoid (ties half, as the exact metrics: twice the area,
in integers) and its AP term (the fakes of the run times the precision at the run's end). The
cumulative counts at every run's end are kept, so the metrics read at a point of the curve
(the threshold, the best-F1 grid, the EER crossing, TPR at FPR x) are look-ups and binary
searches after the walk. Each resample's numbers are those of
:func:`~aigenbench.evaluation.binary.subset_metrics` and
:func:`~aigenbench.evaluation.calibration.calibration` on the subset with every image repeated
as drawn, with the same floating-point formulas.

Compiled with numba (``cache=True``: compiled once per machine, a few seconds, then loaded from
``__pycache__``); the resamples are spread over the CPU cores, each one independent, so the
numbers do not depend on the number of threads.
"""

from __future__ import annotations

import numba  # type: ignore[import-untyped]
import numpy as np

OUTPUT_KEYS = (
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
    "tpr_at_fpr",  # one column per target FPR, in the order given
    "brier",
)
"""The columns of :func:`resampled_metrics`' result (``tpr_at_fpr``: ``len(targets)`` columns)."""

FAKE_BIT = 2
LAST_BIT = 1
UNIT_SHIFT = 2


def encode_images(units: np.ndarray, fake: np.ndarray, last_of_run: np.ndarray) -> np.ndarray:
    """One int64 per image (sorted order): its unit, whether it is fake, whether it ends a run."""
    return (
        (units.astype(np.int64) << UNIT_SHIFT)
        | (fake.astype(np.int64) * FAKE_BIT)
        | last_of_run.astype(np.int64)
    )


@numba.njit(cache=True, nogil=True)
def _first_above(values: np.ndarray, limit: float) -> int:
    """The first index of the non-decreasing ``values`` with ``values[k] > limit`` (len: none)."""
    low, high = 0, len(values)
    while low < high:
        middle = (low + high) // 2
        if values[middle] > limit:
            high = middle
        else:
            low = middle + 1
    return low


@numba.njit(cache=True, nogil=True)
def _one_resample(
    codes: np.ndarray,
    squared_error: np.ndarray,
    weights: np.ndarray,
    above_runs: int,
    f1_runs: np.ndarray,
    f1_thresholds: np.ndarray,
    fpr_targets: np.ndarray,
    tp_run: np.ndarray,
    all_run: np.ndarray,
    out: np.ndarray,
) -> None:
    tp = np.int64(0)  # drawn fakes so far
    total = np.int64(0)  # drawn images so far
    tp_start = np.int64(0)
    fp_start = np.int64(0)
    twice_area = np.int64(0)
    precision_sum = 0.0
    squared_sum = 0.0
    run = 0
    tp_run[0] = 0
    all_run[0] = 0
    for i in range(len(codes)):
        code = codes[i]
        count = np.int64(weights[code >> UNIT_SHIFT])
        tp += count * ((code >> 1) & 1)  # no branch on the class: it is random in the order
        total += count
        squared_sum += count * squared_error[i]
        if code & LAST_BIT:
            fp = total - tp
            # Trapezoid between the run's start and end: a real of the run counts the fakes
            # above it and half of the fakes tied with it.
            twice_area += (fp - fp_start) * (tp + tp_start)
            # Each fake of the run takes the precision at the run's end (0 for an empty run).
            precision_sum += (tp - tp_start) * (tp / max(total, 1))
            run += 1
            tp_run[run] = tp
            all_run[run] = total
            tp_start = tp
            fp_start = fp
    n_fake = tp
    n_real = total - tp
    if n_fake == 0 or n_real == 0:
        out[:] = np.nan
        return
    out[0] = twice_area / (2 * n_fake * n_real)
    out[1] = precision_sum / n_fake

    # At the threshold: "fake" is score > threshold, the first `above_runs` runs.
    tp_at = tp_run[above_runs]
    fp_at = all_run[above_runs] - tp_at
    tn = n_real - fp_at
    recall = tp_at / n_fake
    tnr = tn / n_real
    out[2] = (tp_at + tn) / (n_fake + n_real)
    out[3] = (tnr + recall) / 2
    out[4] = tp_at / (tp_at + fp_at) if tp_at + fp_at > 0 else 0.0
    out[5] = recall
    out[6] = 2 * tp_at / (n_fake + tp_at + fp_at)
    out[7] = tnr

    # EER: the first curve point (0: the origin) where FNR - FPR <= 0, interpolated with the
    # point before; the gap is non-increasing along the curve, so a binary search finds it.
    low, high = 1, run
    while low < high:
        middle = (low + high) // 2
        gap = (1.0 - tp_run[middle] / n_fake) - (all_run[middle] - tp_run[middle]) / n_real
        if gap <= 0:
            high = middle
        else:
            low = middle + 1
    fpr_c = (all_run[low] - tp_run[low]) / n_real
    gap_c = (1.0 - tp_run[low] / n_fake) - fpr_c
    fpr_b = (all_run[low - 1] - tp_run[low - 1]) / n_real
    gap_b = (1.0 - tp_run[low - 1] / n_fake) - fpr_b
    if gap_c == 0:
        out[8] = fpr_c
    else:
        out[8] = fpr_b + gap_b / (gap_b - gap_c) * (fpr_c - fpr_b)

    # Best-F1 threshold: the groups of thresholds that call the same runs fake, in the order of
    # the thresholds; the first group with the highest F1 wins (as argmax).
    best_f1 = -1.0
    best = 0
    for g in range(len(f1_runs)):
        tp_g = tp_run[f1_runs[g]]
        f1 = 2 * tp_g / (all_run[f1_runs[g]] + n_fake)
        if f1 > best_f1:
            best_f1 = f1
            best = g
    out[9] = f1_thresholds[best]

    # TPR at FPR x: the last run end with at most x of the reals above it (the origin: none).
    for t in range(len(fpr_targets)):
        limit = fpr_targets[t] * n_real + 1e-9
        low, high = 1, run + 1
        while low < high:
            middle = (low + high) // 2
            if all_run[middle] - tp_run[middle] > limit:
                high = middle
            else:
                low = middle + 1
        out[10 + t] = tp_run[low - 1] / n_fake
    out[10 + len(fpr_targets)] = squared_sum / total


@numba.njit(cache=True, parallel=True)
def resampled_metrics(
    codes: np.ndarray,
    squared_error: np.ndarray,
    counts: np.ndarray,
    n_runs: int,
    above_runs: int,
    f1_runs: np.ndarray,
    f1_thresholds: np.ndarray,
    fpr_targets: np.ndarray,
    workers: int,
) -> np.ndarray:
    """``[resamples, columns]``: the metrics of :data:`OUTPUT_KEYS` for each row of ``counts``.

    ``codes``: :func:`encode_images` of the subset in descending score order; ``counts``:
    ``[resamples, n_units]``; ``above_runs``: how many runs score above the threshold;
    ``f1_runs``/``f1_thresholds``: how many runs each group of best-F1 thresholds calls fake
    and the group's first threshold; ``workers``: how many threads share the resamples.
    """
    resamples = counts.shape[0]
    out = np.empty((resamples, 11 + len(fpr_targets)))
    workers = max(1, min(workers, resamples))
    # One scratch pair per worker (not per resample: large allocations would fault pages in).
    for worker in numba.prange(workers):
        tp_run = np.empty(n_runs + 1, dtype=np.int64)
        all_run = np.empty(n_runs + 1, dtype=np.int64)
        for r in range(worker, resamples, workers):
            _one_resample(
                codes,
                squared_error,
                counts[r],
                above_runs,
                f1_runs,
                f1_thresholds,
                fpr_targets,
                tp_run,
                all_run,
                out[r],
            )
    return out
