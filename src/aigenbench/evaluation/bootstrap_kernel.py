"""The bootstrap's inner loop: every metric of one subset for many resamples, in one pass.

A resample is a count per unit (how often it was drawn); an image weighs its unit's count.
One walk over the subset's scores (sorted once, descending) serves a *block* of
:data:`LANES` resamples at once: at each image, the drawn counts of its unit for the block's
resamples are one contiguous row (:class:`BlockedCounts`), and every per-resample quantity
is a row of :data:`LANES` numbers updated together (vector instructions). Per resample, the
walk accumulates the drawn fakes and reals (whole numbers, exact in float64), and at each
*run*'s end (images with the same score) adds the run's AUROC trapezoid (ties half, twice the
area, as the exact metrics) and its AP term (the run's fakes times the precision at the run's
end). The metrics read at a fixed point of the curve (after the images above the threshold,
at each best-F1 threshold) are caught during the walk. Those whose point differs per resample
(the last point with FPR at most x for TPR at FPR x, the two points around the EER crossing,
found in exact integers) are found after it: the walk keeps a checkpoint of the curve every
:data:`CHECKPOINT_EVERY` images until every resample is past them, and each resample's point
is reached from its last checkpoint before it by a short walk of its own. The number of fakes
and reals a resample draws, which those points need, and Brier's numerator come from a first,
shorter walk over the subset's units.

Each resample's numbers are those of :func:`~aigenbench.evaluation.binary.subset_metrics` and
:func:`~aigenbench.evaluation.calibration.calibration` on the subset with every image repeated
as drawn. Compiled with numba (``cache=True``: compiled once per machine, a few seconds, then
loaded from ``__pycache__``); blocks are spread over the CPU cores, each resample's numbers do
not depend on the number of threads.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from aigenbench.evaluation.binary import METRIC_KEYS

LANES = 64
"""Resamples per block (one walk): 64 uint16 counts are two cache lines per image."""

OUTPUT_KEYS = (
    *METRIC_KEYS,
    "tpr_at_fpr",  # one column per target FPR, in the order given
    "brier",
)
"""The columns of :func:`resampled_metrics`' result (``tpr_at_fpr``: ``len(targets)`` columns)."""

# The bits of an image's code (see encode_images).
LAST = 1  # the last image of its run
FAKE = 2
RUN_HAS_FAKE = 4  # its run holds a fake (only then does the AP change at the run's end)
EVENT = 8  # after it, a point of the curve is read (the threshold, a best-F1 threshold)
TIED = 16  # its run holds more than one image
FIRST = 32  # the first image of its run
UNIT_SHIFT = 6
CHECKPOINT_EVERY = 32
"""Images (at least) between two checkpoints of the curve: the EER and TPR-at-FPR points of
a resample are found after the walk, from the last checkpoint before them, walking at most
this many images again for that resample alone."""

# Rows of the per-block state (each LANES long).
_TP, _FP, _TP_START, _FP_START, _AREA, _AP, _SQUARED = 0, 1, 2, 3, 4, 5, 6
_N_FAKE, _N_REAL, _TP_AT, _FP_AT, _BEST_F1, _BEST_GROUP = 7, 8, 9, 10, 11, 12
_TP_BEFORE, _FP_BEFORE, _TP_CROSS, _FP_CROSS = 13, 14, 15, 16
_TPR_AT_FPR = 18  # one row per target
_FPR_LIMIT = 21  # one row per target (at most 3 targets)
_STATE_ROWS = 24
MAX_TARGETS = 3


@dataclass(frozen=True)
class BlockedCounts:
    """Counts ``[resamples, n_units]`` laid out ``[blocks, n_units, LANES]`` (zeros pad)."""

    blocks: np.ndarray
    resamples: int

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> BlockedCounts:
        resamples, n_units = counts.shape
        if counts.size and int(counts.max()) > np.iinfo(np.uint16).max:
            raise ValueError("a unit drawn more than 65535 times: counts must fit uint16")
        n_blocks = -(-resamples // LANES)
        padded = np.zeros((n_blocks * LANES, n_units), dtype=np.uint16)
        padded[:resamples] = counts
        blocks = np.ascontiguousarray(padded.reshape(n_blocks, LANES, n_units).transpose(0, 2, 1))
        return cls(blocks, resamples)


def encode_images(
    units: np.ndarray, fake: np.ndarray, last_of_run: np.ndarray, event: np.ndarray
) -> np.ndarray:
    """One int64 per image (sorted order): its unit and the bits above."""
    first_of_run = np.concatenate(([True], last_of_run[:-1]))
    run = np.cumsum(first_of_run) - 1  # each image's run
    run_has_fake = np.bincount(run, weights=fake, minlength=run[-1] + 1)[run] > 0
    tied = ~(first_of_run & last_of_run)
    return (
        (units.astype(np.int64) << UNIT_SHIFT)
        | (first_of_run.astype(np.int64) * FIRST)
        | (tied.astype(np.int64) * TIED)
        | (event.astype(np.int64) * EVENT)
        | (run_has_fake.astype(np.int64) * RUN_HAS_FAKE)
        | (fake.astype(np.int64) * FAKE)
        | last_of_run.astype(np.int64)
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _walk_block(
    codes: np.ndarray,
    subset_units: np.ndarray,
    fakes_per_unit: np.ndarray,
    reals_per_unit: np.ndarray,
    squared_error_per_unit: np.ndarray,
    counts: np.ndarray,
    above: int,
    f1_positions: np.ndarray,
    fpr_targets: np.ndarray,
    st: np.ndarray,
    checkpoints: np.ndarray,
    checkpoint_positions: np.ndarray,
) -> int:
    """Fill the state ``st`` of one block of resamples (``counts``: ``[n_units, LANES]``);
    returns how many checkpoints (``[tp row, fp row]`` after ``checkpoint_positions[k]``
    images, a run's end; the first one the origin) it wrote.

    The lane loops (``for j in range(L)``) index fixed rows of ``st`` and use selects, not
    branches: LLVM turns each into a few vector instructions; ``counts[unit, j]`` is indexed
    directly (a row view per image would cost atomic reference counting, which stalls).
    """
    L = LANES
    st[:] = 0.0
    # Sums over units: how many fakes and reals each resample draws, and Brier's numerator.
    for k in range(len(subset_units)):
        unit = subset_units[k]
        f = fakes_per_unit[k]
        r = reals_per_unit[k]
        e = squared_error_per_unit[k]
        for j in range(L):
            c = np.float64(counts[unit, j])
            st[_N_FAKE * L + j] += c * f
            st[_N_REAL * L + j] += c * r
            st[_SQUARED * L + j] += c * e
    for t in range(MAX_TARGETS):
        for j in range(L):
            n_real = st[_N_REAL * L + j]
            if t < len(fpr_targets) and n_real > 0:
                st[(_FPR_LIMIT + t) * L + j] = fpr_targets[t] * n_real + 1e-9
            else:
                # An unused row, or a resample without reals (a padding lane): never within,
                # so it does not keep the bookkeeping open.
                st[(_FPR_LIMIT + t) * L + j] = -1.0
    for j in range(L):
        st[_BEST_F1 * L + j] = -1.0
    # Best-F1 groups are read from the most images called fake (lowest threshold) down, so
    # the walk meets them last group first; ">=" keeps the lowest threshold among equal F1.
    group = len(f1_positions) - 1
    if group >= 0 and f1_positions[group] == 0:  # a threshold above every score: F1 = 0
        for j in range(L):
            st[_BEST_F1 * L + j] = 0.0
            st[_BEST_GROUP * L + j] = group
        group -= 1
    # Checkpoint 0: the origin. Checkpoints stop once every resample of the block is past
    # its EER crossing and past every FPR target (both only ever happen once).
    for j in range(2 * L):
        checkpoints[j] = 0.0
    checkpoint_positions[0] = 0
    n_checkpoints = 1
    open_points = True
    for i in range(len(codes)):
        code = codes[i]
        unit = code >> UNIT_SHIFT
        if code & TIED:
            if code & FIRST:
                for j in range(L):
                    st[_TP_START * L + j] = st[_TP * L + j]
                    st[_FP_START * L + j] = st[_FP * L + j]
            if code & FAKE:
                for j in range(L):
                    st[_TP * L + j] += np.float64(counts[unit, j])
            else:
                for j in range(L):
                    st[_FP * L + j] += np.float64(counts[unit, j])
            if not code & LAST:
                continue
            # The run's reals count the fakes above the run and half of the run's fakes
            # (the trapezoid, twice the area); its fakes take the precision at its end.
            has_fake = (code & RUN_HAS_FAKE) != 0
            for j in range(L):
                tp = st[_TP * L + j]
                fp = st[_FP * L + j]
                tp_start = st[_TP_START * L + j]
                st[_AREA * L + j] += (fp - st[_FP_START * L + j]) * (tp + tp_start)
                precision = tp / max(tp + fp, 1.0) if has_fake else 0.0
                st[_AP * L + j] += (tp - tp_start) * precision
        elif code & FAKE:
            # A run of one fake: the AP gains its count times the precision after it.
            for j in range(L):
                c = np.float64(counts[unit, j])
                tp = st[_TP * L + j] + c
                st[_TP * L + j] = tp
                st[_AP * L + j] += c * (tp / max(tp + st[_FP * L + j], 1.0))
        else:
            # A run of one real: every fake above it outscores it (twice the area: 2 * tp).
            for j in range(L):
                c = np.float64(counts[unit, j])
                st[_FP * L + j] += c
                st[_AREA * L + j] += c * (2.0 * st[_TP * L + j])
        if code & EVENT:
            if i + 1 == above:
                for j in range(L):
                    st[_TP_AT * L + j] = st[_TP * L + j]
                    st[_FP_AT * L + j] = st[_FP * L + j]
            while group >= 0 and f1_positions[group] == i + 1:
                for j in range(L):
                    tp = st[_TP * L + j]
                    f1 = 2.0 * tp / (tp + st[_FP * L + j] + st[_N_FAKE * L + j])
                    if f1 >= st[_BEST_F1 * L + j]:
                        st[_BEST_F1 * L + j] = f1
                        st[_BEST_GROUP * L + j] = group
                group -= 1
        if open_points and i + 1 - checkpoint_positions[n_checkpoints - 1] >= CHECKPOINT_EVERY:
            base = n_checkpoints * 2 * L
            still_open = 0.0
            for j in range(L):
                tp = st[_TP * L + j]
                fp = st[_FP * L + j]
                checkpoints[base + j] = tp
                checkpoints[base + L + j] = fp
                n_fake = st[_N_FAKE * L + j]
                n_real = st[_N_REAL * L + j]
                before_eer = (n_fake - tp) * n_real > fp * n_fake
                within = (
                    (fp <= st[_FPR_LIMIT * L + j])
                    | (fp <= st[(_FPR_LIMIT + 1) * L + j])
                    | (fp <= st[(_FPR_LIMIT + 2) * L + j])
                )
                still_open += 1.0 if before_eer | within else 0.0
            checkpoint_positions[n_checkpoints] = i + 1
            n_checkpoints += 1
            open_points = still_open > 0.0
    return n_checkpoints


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _walk_lane(
    codes: np.ndarray, counts: np.ndarray, lane: int, start: int, tp: float, fp: float
) -> tuple[int, float, float]:
    """One resample's next point of the curve after ``start`` images (with ``tp``, ``fp``
    there): (images up to the end of the next run, tp, fp there)."""
    i = start
    while True:
        code = codes[i]
        c = np.float64(counts[code >> UNIT_SHIFT, lane])
        if code & FAKE:
            tp += c
        else:
            fp += c
        i += 1
        if code & LAST:
            return i, tp, fp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _curve_points(
    codes: np.ndarray,
    counts: np.ndarray,
    fpr_targets: np.ndarray,
    st: np.ndarray,
    checkpoints: np.ndarray,
    checkpoint_positions: np.ndarray,
    n_checkpoints: int,
) -> None:
    """Per resample of the block: the points around the EER crossing and TPR at each FPR
    target, each from the last checkpoint before it (the conditions are monotone along the
    curve, so a binary search over the checkpoints finds it) and a short walk on."""
    L = LANES
    n = len(codes)
    for j in range(L):
        n_fake = st[_N_FAKE * L + j]
        n_real = st[_N_REAL * L + j]
        if n_fake == 0.0 or n_real == 0.0:
            continue  # no metrics (a padding lane)
        # EER: the crossing is the first point where FNR <= FPR, in exact integers:
        # (n_fake - tp) * n_real <= fp * n_fake (false at the origin, true at the end).
        low, high = 0, n_checkpoints - 1  # the last checkpoint before the crossing
        while low < high:
            middle = (low + high + 1) // 2
            tp = checkpoints[middle * 2 * L + j]
            fp = checkpoints[middle * 2 * L + L + j]
            if (n_fake - tp) * n_real > fp * n_fake:
                low = middle
            else:
                high = middle - 1
        position = checkpoint_positions[low]
        tp = checkpoints[low * 2 * L + j]
        fp = checkpoints[low * 2 * L + L + j]
        while True:
            st[_TP_BEFORE * L + j] = tp
            st[_FP_BEFORE * L + j] = fp
            position, tp, fp = _walk_lane(codes, counts, j, position, tp, fp)
            if (n_fake - tp) * n_real <= fp * n_fake:
                st[_TP_CROSS * L + j] = tp
                st[_FP_CROSS * L + j] = fp
                break
        # TPR at FPR x: the last point with at most x of the reals above it.
        for t in range(len(fpr_targets)):
            limit = st[(_FPR_LIMIT + t) * L + j]
            low, high = 0, n_checkpoints - 1  # the last checkpoint within the limit
            while low < high:
                middle = (low + high + 1) // 2
                if checkpoints[middle * 2 * L + L + j] <= limit:
                    low = middle
                else:
                    high = middle - 1
            position = checkpoint_positions[low]
            tp = checkpoints[low * 2 * L + j]
            fp = checkpoints[low * 2 * L + L + j]
            best = tp
            while position < n:
                position, tp, fp = _walk_lane(codes, counts, j, position, tp, fp)
                if fp > limit:
                    break
                best = tp
            st[(_TPR_AT_FPR + t) * L + j] = best


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_metrics(
    st: np.ndarray, f1_thresholds: np.ndarray, n_targets: int, out: np.ndarray
) -> None:
    """``out[j]``: the metrics of resample j of the block, from its state (the oracle's
    floating-point formulas on the exact counts)."""
    for j in range(out.shape[0]):
        n_fake = st[_N_FAKE * LANES + j]
        n_real = st[_N_REAL * LANES + j]
        row = out[j]
        if n_fake == 0.0 or n_real == 0.0:
            row[:] = np.nan
            continue
        row[0] = st[_AREA * LANES + j] / (2 * n_fake * n_real)
        row[1] = st[_AP * LANES + j] / n_fake
        tp = st[_TP_AT * LANES + j]
        fp = st[_FP_AT * LANES + j]
        tn = n_real - fp
        recall = tp / n_fake
        tnr = tn / n_real
        row[2] = (tp + tn) / (n_fake + n_real)
        row[3] = (tnr + recall) / 2
        row[4] = tp / (tp + fp) if tp + fp > 0 else 0.0
        row[5] = recall
        row[6] = 2 * tp / (n_fake + tp + fp)
        row[7] = tnr
        fpr_c = st[_FP_CROSS * LANES + j] / n_real
        gap_c = (1.0 - st[_TP_CROSS * LANES + j] / n_fake) - fpr_c
        fpr_b = st[_FP_BEFORE * LANES + j] / n_real
        gap_b = (1.0 - st[_TP_BEFORE * LANES + j] / n_fake) - fpr_b
        if gap_c == 0:
            row[8] = fpr_c
        else:
            row[8] = fpr_b + gap_b / (gap_b - gap_c) * (fpr_c - fpr_b)
        row[9] = f1_thresholds[int(st[_BEST_GROUP * LANES + j])]
        for t in range(n_targets):
            row[10 + t] = st[(_TPR_AT_FPR + t) * LANES + j] / n_fake
        row[10 + n_targets] = st[_SQUARED * LANES + j] / (n_fake + n_real)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _metrics_of_blocks(
    codes: np.ndarray,
    subset_units: np.ndarray,
    fakes_per_unit: np.ndarray,
    reals_per_unit: np.ndarray,
    squared_error_per_unit: np.ndarray,
    blocks: np.ndarray,
    first: int,
    stop: int,
    above: int,
    f1_positions: np.ndarray,
    f1_thresholds: np.ndarray,
    fpr_targets: np.ndarray,
    out: np.ndarray,
) -> None:
    """Blocks ``first`` to ``stop - 1``: their rows of ``out`` (without the GIL)."""
    st = np.empty(_STATE_ROWS * LANES)
    most_checkpoints = len(codes) // CHECKPOINT_EVERY + 2
    checkpoints = np.empty(most_checkpoints * 2 * LANES)
    checkpoint_positions = np.empty(most_checkpoints, dtype=np.int64)
    for b in range(first, stop):
        n_checkpoints = _walk_block(
            codes,
            subset_units,
            fakes_per_unit,
            reals_per_unit,
            squared_error_per_unit,
            blocks[b],
            above,
            f1_positions,
            fpr_targets,
            st,
            checkpoints,
            checkpoint_positions,
        )
        _curve_points(
            codes,
            blocks[b],
            fpr_targets,
            st,
            checkpoints,
            checkpoint_positions,
            n_checkpoints,
        )
        _block_metrics(st, f1_thresholds, len(fpr_targets), out[b * LANES : (b + 1) * LANES])


_pool: tuple[int, int, ThreadPoolExecutor] | None = None
"""(process id, threads, the pool): a forked child, whose copy has no threads, makes its own."""


def _threads() -> int:
    """Threads for the blocks: ``NUMBA_NUM_THREADS`` (numba's default: every CPU)."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]


def resampled_metrics(
    codes: np.ndarray,
    subset_units: np.ndarray,
    fakes_per_unit: np.ndarray,
    reals_per_unit: np.ndarray,
    squared_error_per_unit: np.ndarray,
    counts: BlockedCounts,
    above: int,
    f1_positions: np.ndarray,
    f1_thresholds: np.ndarray,
    fpr_targets: np.ndarray,
) -> np.ndarray:
    """``[resamples, columns]``: the metrics of :data:`OUTPUT_KEYS` per resample.

    ``codes``: :func:`encode_images` of the subset in descending score order;
    ``subset_units`` with ``fakes_per_unit``/``reals_per_unit``/``squared_error_per_unit``:
    the subset's units, how many of its fakes and reals each holds and the sum of their
    squared errors; ``above``: how many images score above the threshold;
    ``f1_positions``/``f1_thresholds``: per group of best-F1 thresholds (in threshold order),
    how many images it calls fake and its first threshold.

    The blocks are shared out to threads (the compiled walk releases the GIL); plain threads
    rather than numba's ``parallel=True``, whose OpenMP workers spin between the hundreds of
    short calls of a run and compile slower.
    """
    if len(fpr_targets) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} FPR targets, got {len(fpr_targets)}")
    n_blocks = counts.blocks.shape[0]
    out = np.empty((n_blocks * LANES, 11 + len(fpr_targets)))

    def run(first: int, stop: int) -> None:
        _metrics_of_blocks(
            codes,
            subset_units,
            fakes_per_unit,
            reals_per_unit,
            squared_error_per_unit,
            counts.blocks,
            first,
            stop,
            above,
            f1_positions,
            f1_thresholds,
            fpr_targets,
            out,
        )

    threads = min(_threads(), n_blocks)
    if threads == 1:
        run(0, n_blocks)
    else:
        global _pool
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < threads:
            _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, "bootstrap"))
        pool = _pool[2]
        bounds = np.linspace(0, n_blocks, threads + 1).round().astype(int).tolist()
        for future in [pool.submit(run, a, b) for a, b in itertools.pairwise(bounds)]:
            future.result()
    return out[: counts.resamples]
