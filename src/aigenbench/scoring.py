"""The arithmetic of crop scores, defined once: the LightningModule runs it per evaluation batch,
the predictions file and its evaluation on stored arrays.

- crop runs: the crops of one image are consecutive, so an image is a run of equal consecutive
  identifiers (:func:`image_runs`); per run a mean (:func:`fuse_mean`) or an "all"
  (:func:`all_per_image`);
- the fake score from logits (:func:`fake_scores`): sigmoid of a binary detector's one logit;
  with one logit per class (class 0 real) the softmax mass of the fake classes, 1 - P(real);
- the binary log-loss of a fake probability (:func:`binary_log_loss`), clipped at 1e-7.

NumPy (and SciPy's softmax) only, written as the official evaluation computes, so that our
numbers equal its numbers bit for bit; torch callers hand in CPU arrays (``tensor.numpy()``)
once per batch, which the evaluation rows are copied to anyway.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, softmax

LOG_LOSS_EPSILON = 1e-7
"""Probabilities are clipped to [eps, 1 - eps] before the log (a finite loss for 0 and 1)."""


def image_runs(identifiers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index and crop count of each image: a run of equal consecutive identifiers."""
    ids = np.asarray(identifiers)
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    counts = np.diff(np.append(starts, len(ids)))
    return starts, counts


def crop_image_index(counts: np.ndarray) -> np.ndarray:
    """Each crop's image index 0..n_images-1, from the runs' crop counts."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def crop_positions(counts: np.ndarray) -> np.ndarray:
    """Each crop's position 0..count-1 within its image, from the runs' crop counts."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum()), dtype=np.int64) - starts


def all_per_image(values: ArrayLike, starts: np.ndarray) -> np.ndarray:
    """Per image: True when every crop of its run is True."""
    values = np.asarray(values, dtype=bool)
    if len(starts) == 0:
        return np.zeros(0, dtype=bool)
    return np.logical_and.reduceat(values, starts)


def fuse_mean(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of the crops of each image, bit-identical to ``values[run].mean(axis=0)``.

    A one-crop image keeps its value untouched (as the official fusion does). Images with the
    same crop count are fused together by one ``mean`` over a ``(n_images, count, ...)``
    block, which runs NumPy's reduction the same way as the per-image ``mean``.
    """
    values = np.asarray(values)
    fused = values[starts].copy()
    for count in np.unique(counts[counts > 1]).tolist():
        selected = np.flatnonzero(counts == count)
        index = starts[selected][:, None] + np.arange(count)
        block = values[index]
        if block.ndim == 2:
            fused[selected] = block.mean(axis=1)
        else:
            # Per image the official code averages an (n_crops, n_classes) array over axis 0:
            # NumPy adds the rows one after the other, so do exactly that.
            total = block[:, 0].copy()
            for crop in range(1, count):
                total += block[:, crop]
            fused[selected] = total / count
    return fused


def fake_scores(logits: np.ndarray) -> np.ndarray:
    """Fake probability per row of logits ``[N, K]``.

    K = 1 (binary): the sigmoid. K >= 2 (class 0 real): the softmax mass of the fake classes,
    1 - P(real), computed as the official evaluation does (SciPy's softmax, the sum of columns
    1.., clipped to [0, 1] because the sum can exceed 1 by a rounding error). A class set to
    -inf (not trained yet) gets no mass.
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must be [N, K], got shape {logits.shape}")
    if logits.shape[1] == 1:
        return expit(logits[:, 0])
    probabilities = softmax(logits, axis=1)
    return np.clip(np.ravel(probabilities[:, 1:].sum(axis=1)), 0.0, 1.0)


def binary_log_loss(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row, ``-log p`` for a fake (label 1) and ``-log(1 - p)`` for a real, in float32."""
    eps = np.float32(LOG_LOSS_EPSILON)
    p = np.clip(np.asarray(scores).astype(np.float32), eps, 1 - eps)
    y = np.asarray(labels).astype(np.float32)
    loss: np.ndarray = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    return loss
