"""From the evaluation rows of every process to one predictions file, in evaluation order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from aigenbench.data.batch import concat_eval_outputs
from aigenbench.errors import ProtocolError
from aigenbench.evaluation.predictions import Predictions, build_predictions
from aigenbench.protocol import BenchmarkPlan, EvaluationSet

DegradationRecord = Callable[[np.ndarray], np.ndarray | None]
"""Image IDs -> their degradation codes (None when the pipeline applies none)."""


def gather_rows(local_rows: dict[str, np.ndarray], world_size: int) -> list[dict[str, np.ndarray]]:
    """Every process's rows (in memory; never through files). One process: its own rows."""
    if world_size <= 1 or not torch.distributed.is_initialized():
        return [local_rows]
    gathered: list[Any] = [None] * world_size
    torch.distributed.all_gather_object(gathered, local_rows)
    return gathered


def merge_in_evaluation_order(
    parts: Sequence[dict[str, np.ndarray]], evaluation: EvaluationSet
) -> dict[str, np.ndarray]:
    """Concatenate the processes' crop rows and order the images as the evaluation set does.

    The crops of one image stay together and in their order, so the file is the same whatever
    the number of processes. Every evaluation image must appear exactly once.
    """
    parts = [part for part in parts if part and len(part.get("id", ())) > 0]
    if not parts:
        raise ProtocolError("the evaluation produced no predictions")
    rows = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    crop_keys = [key for key in rows if not key.startswith("image_") and key != "crop_to_image"]
    ids = rows["id"].astype(np.int64)
    position = {int(row_id): p for p, row_id in enumerate(evaluation.ids)}
    try:
        crop_position = np.fromiter((position[int(i)] for i in ids), dtype=np.int64, count=len(ids))
    except KeyError as missing:
        raise ProtocolError(
            f"image ID {missing} was scored but is not in the evaluation set"
        ) from None
    seen = np.unique(crop_position)
    if len(seen) != len(evaluation.ids):
        raise ProtocolError(
            f"{len(evaluation.ids) - len(seen)} evaluation image(s) got no prediction"
        )
    order = np.argsort(crop_position, kind="stable")
    return {key: rows[key][order] for key in crop_keys}


def predictions_from_rows(
    rows: dict[str, np.ndarray],
    plan: BenchmarkPlan,
    evaluation: EvaluationSet,
    degradation_codes: DegradationRecord | None = None,
) -> Predictions:
    """The official-format predictions of one evaluation; ``degradation_codes`` (image IDs ->
    the codes of their mandatory degradations, e.g. ``EvalPipeline.degradation_codes``) adds
    the ``degradations`` record."""
    return build_predictions(
        rows["score"],
        rows["label"],
        rows["generator_id"],
        rows["id"],
        generator_names=plan.generator_names,
        windows=plan.windows,
        pairing=evaluation.pairing,
        crop_losses=rows.get("loss"),
        crop_multiclass_predictions=rows.get("logits"),
        crop_valid=rows.get("valid"),
        image_degradations=degradation_codes,
    )


def collect_predictions(
    eval_outputs: Sequence[dict[str, torch.Tensor]],
    world_size: int,
    plan: BenchmarkPlan,
    evaluation: EvaluationSet,
    degradation_codes: DegradationRecord | None = None,
) -> Predictions | None:
    """Gather the module's evaluation rows from every process; rank 0 gets the predictions."""
    local = concat_eval_outputs(eval_outputs)
    parts = gather_rows(local, world_size)
    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return None
    rows = merge_in_evaluation_order(parts, evaluation)
    return predictions_from_rows(rows, plan, evaluation, degradation_codes)
