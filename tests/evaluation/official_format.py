"""Test helpers: files written the way the official framework writes them, and a plain
re-implementation of the official evaluation formula (loops + scikit-learn) to compare with.

Writer (official ``evaluation_step`` + ``DeepFakePredictionsDump``): every batch returns a
dict of arrays (``crop_to_image_index`` restarts at 0 in each batch, the fused rows follow
the sorted per-batch image index, ``identifier`` is the fused identifiers); each rank
concatenates its batches; rank 0 concatenates the ranks, adds ``generator_id_to_name``,
``windows_timeline`` (``np.array`` of the list of windows) and ``pairing`` (the real ID ->
generator id dict looked up for each ``identifier``, -1 when absent), writes
``predictions_<stage>_epoch=E-step=N.npz`` and copies it to ``predictions_<stage>_all.npz``.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import softmax
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

OFFICIAL_KEYS = frozenset(
    {
        "crop_scores", "crop_labels", "crop_generator_ids", "crop_identifiers",
        "crop_to_image_index", "crop_losses", "fused_scores", "fused_labels",
        "fused_generator_ids", "fused_identifiers", "fused_losses", "identifier",
        "generator_id_to_name", "windows_timeline", "pairing",
    }
)  # fmt: skip
"""The keys every predictions file carries, as the official writer names them (PROTOCOL §9)."""


@dataclass
class EvalSet:
    """An evaluation set in evaluation order: IDs, generator ids, real ID -> paired generator."""

    ids: np.ndarray
    generator_ids: np.ndarray
    pairing: dict[int, int]
    generator_names: list[str]
    windows: list[list[str]]


def make_eval_set(windows: list[list[str]], per_generator: int, seed: int) -> EvalSet:
    """As many reals as fakes, shuffled, reals paired with fakes as the official datamodule."""
    names = sorted({"", *(g for w in windows for g in w)})
    fakes = [names.index(g) for w in windows for g in w for _ in range(per_generator)]
    generator_ids = np.array(fakes + [0] * len(fakes))
    rng = np.random.default_rng(seed)
    ids = rng.permutation(len(generator_ids) * 3)[: len(generator_ids)]  # sparse, unsorted IDs
    order = rng.permutation(len(generator_ids))
    generator_ids, ids = generator_ids[order], ids[order]
    real_positions = [i for i, g in enumerate(generator_ids) if g == 0]
    fake_positions = [i for i, g in enumerate(generator_ids) if g != 0]
    random.seed(seed)
    random.shuffle(real_positions)
    pairing = {
        int(ids[real]): int(generator_ids[fake])
        for fake, real in zip(fake_positions, real_positions, strict=True)
    }
    return EvalSet(ids, generator_ids, pairing, names, windows)


def random_crop_scores(
    eval_set: EvalSet, step: int, seed: int, crops: int | None = None, ties: bool = False
) -> list[np.ndarray]:
    """Per image, its crop scores (float32 probabilities); fakes of seen windows score higher."""
    rng = np.random.default_rng(seed)
    window_of = {
        eval_set.generator_names.index(g): w for w, gs in enumerate(eval_set.windows) for g in gs
    }
    out = []
    for generator_id in eval_set.generator_ids.tolist():
        n = crops if crops is not None else int(rng.integers(1, 6))
        if generator_id == 0:
            base = rng.beta(2, 5, size=n)
        else:
            skill = 4.0 if window_of[generator_id] <= step else 2.2
            base = rng.beta(skill, 2, size=n)
        if ties:
            base = np.round(base, 1)
        out.append(base.astype(np.float32))
    return out


def official_batch(
    crop_scores: list[np.ndarray],
    labels: np.ndarray,
    generator_ids: np.ndarray,
    ids: np.ndarray,
    multiclass: list[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """What the official ``evaluation_step`` returns for one batch of images."""
    crop_to_image = np.concatenate([[i] * len(s) for i, s in enumerate(crop_scores)])
    score = np.concatenate(crop_scores).astype(np.float32)
    y = labels[crop_to_image]
    g = generator_ids[crop_to_image]
    ident = ids[crop_to_image]
    loss = np.abs(score - y).astype(np.float32)
    unique = np.unique(crop_to_image)
    batch = {
        "fused_scores": np.array([score[crop_to_image == u].mean() for u in unique], np.float32),
        "fused_labels": np.array([y[crop_to_image == u][0] for u in unique]),
        "fused_generator_ids": np.array([g[crop_to_image == u][0] for u in unique]),
        "fused_identifiers": np.array([ident[crop_to_image == u][0] for u in unique]),
        "fused_losses": np.array([loss[crop_to_image == u].mean() for u in unique], np.float32),
        "crop_scores": score,
        "crop_labels": y,
        "crop_generator_ids": g,
        "crop_identifiers": ident,
        "crop_losses": loss,
        "crop_to_image_index": crop_to_image,
        "identifier": np.array([ident[crop_to_image == u][0] for u in unique]),
    }
    if multiclass is not None:
        logits = np.concatenate(multiclass).astype(np.float32)
        batch["crop_multiclass_predictions"] = logits
        batch["fused_multiclass_predictions"] = np.stack(
            [logits[crop_to_image == u].mean(axis=0) for u in unique]
        )
    return batch


def write_official_file(
    window_dir: Path,
    eval_set: EvalSet,
    crop_scores: list[np.ndarray],
    *,
    step: int,
    batch_size: int = 7,
    ranks: int = 1,
    stage: str = "validate",
    multiclass: list[np.ndarray] | None = None,
    keep_all_copy: bool = True,
) -> Path:
    """Write one window's predictions exactly as the official framework lays them out."""
    window_dir.mkdir(parents=True, exist_ok=True)
    labels = (eval_set.generator_ids != 0).astype(np.int64)
    n = len(eval_set.ids)
    rank_files = []
    for rank in range(ranks):
        positions = list(range(rank, n, ranks))  # a DistributedSampler without shuffling
        batches = []
        for start in range(0, len(positions), batch_size):
            chunk = positions[start : start + batch_size]
            batches.append(
                official_batch(
                    [crop_scores[i] for i in chunk],
                    labels[chunk],
                    eval_set.generator_ids[chunk],
                    eval_set.ids[chunk],
                    None if multiclass is None else [multiclass[i] for i in chunk],
                )
            )
        rank_files.append({k: np.concatenate([b[k] for b in batches]) for k in batches[0]})
    merged = {k: np.concatenate([r[k] for r in rank_files]) for k in rank_files[0]}
    merged["generator_id_to_name"] = np.array(eval_set.generator_names)
    merged["windows_timeline"] = np.array(eval_set.windows)
    merged["pairing"] = np.array([eval_set.pairing.get(int(i), -1) for i in merged["identifier"]])
    result = window_dir / f"predictions_{stage}_epoch=0-step={100 * (step + 1)}.npz"
    np.savez(result, **merged)
    if keep_all_copy:
        shutil.copyfile(result, window_dir / f"predictions_{stage}_all.npz")
    return result


# ----------------------------------------------------------------------------- reference


def reference_evaluation(
    path: Path, computed_on: str, window_id: int, threshold: float = 0.5
) -> dict[str, float]:
    """The official evaluation formula, written plainly: loops, sets and scikit-learn."""
    data = np.load(path)
    names = data["generator_id_to_name"].tolist()
    windows = [{names.index(g) for g in w} for w in data["windows_timeline"].tolist()]
    last = len(windows) - 1
    if computed_on == "immediate_future":
        chosen = windows[min(window_id + 1, last)]
    elif computed_on == "past":
        chosen = set().union(*windows[:window_id])
    elif computed_on == "growing":
        chosen = set().union(*windows[: window_id + 1])
    elif computed_on == "growing_whole":
        chosen = set().union(*windows[: min(window_id + 2, last + 1)])
    else:
        chosen = set().union(*windows)

    multiclass = "crop_multiclass_predictions" in data
    crop = data["crop_multiclass_predictions"] if multiclass else data["crop_scores"]
    crop_ids, crop_gen = data["crop_identifiers"], data["crop_generator_ids"]
    groups: list[list[int]] = []
    previous = None
    for index, identifier in enumerate(crop_ids):
        if identifier != previous:
            groups.append([])
            previous = identifier
        groups[-1].append(index)
    scores, truth = [], []
    for group in groups:
        truth.append(crop_gen[group[0]])
        if len(group) == 1:
            scores.append(crop[group[0]])
        elif crop.ndim == 1:
            scores.append(crop[group].mean())
        else:
            scores.append(crop[group].mean(axis=0))
    scores, truth = np.array(scores), np.array(truth)
    if multiclass:
        scores = np.clip(softmax(scores, axis=1)[:, 1:].sum(axis=1).ravel(), 0.0, 1.0)

    pairing = data["pairing"]
    keep = np.zeros(len(truth), dtype=bool)
    for i, (generator, paired) in enumerate(zip(truth, pairing, strict=False)):
        if generator != 0:
            keep[i] = generator in chosen
        else:
            assert paired != -1
            keep[i] = paired in chosen
    scores, truth = scores[keep], truth[keep]
    predicted = (scores > threshold).astype(int)
    binary = (truth != 0).astype(int)
    tn, fp, _, _ = confusion_matrix(binary, predicted, labels=[0, 1]).ravel()
    return {
        "accuracy": accuracy_score(binary, predicted),
        "balanced_accuracy": balanced_accuracy_score(binary, predicted),
        "precision": precision_score(binary, predicted, zero_division=0),
        "recall": recall_score(binary, predicted, zero_division=0),
        "f1": f1_score(binary, predicted, zero_division=0),
        "tnr": tn / (tn + fp),
        "ap": average_precision_score(binary, scores),
        "auroc": roc_auc_score(binary, scores),
        "n_real": int(np.sum(truth == 0)),
        "n_fake": int(np.sum(truth != 0)),
    }
