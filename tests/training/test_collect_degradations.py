"""The degradation record of a predictions file follows the image IDs, whatever order the
processes' rows arrive in."""

from __future__ import annotations

import numpy as np

from aigenbench.data.pipelines import EvalPipeline
from aigenbench.protocol import Timeline, make_plan
from aigenbench.training.collect import merge_in_evaluation_order, predictions_from_rows


def _plan():
    names = ["A", "B", "C", "D"]
    timeline = Timeline({name: f"2020-0{i + 1}-01" for i, name in enumerate(names)}, "test")
    train = [name for name in names for _ in range(4)] + [""] * 16
    validation = ["", "A", "B", "", "C", "D", "", ""] * 5
    return make_plan(train, validation, timeline=timeline)


def _rows(ids: np.ndarray, generator_of: dict[int, int]) -> dict[str, np.ndarray]:
    generator_ids = np.array([generator_of[int(i)] for i in ids])
    return {
        "id": ids,
        "score": (ids % 7) / 7.0,
        "label": (generator_ids != 0).astype(np.int64),
        "generator_id": generator_ids,
        "valid": np.ones(len(ids), dtype=bool),
    }


def test_record_is_aligned_with_identifier_whatever_the_row_order():
    plan = _plan()
    evaluation = plan.evaluation("validate")
    ids = np.asarray(evaluation.ids)
    name_to_id = {name: i for i, name in enumerate(plan.generator_names)}
    generator_of = {
        int(i): name_to_id[g] for i, g in zip(evaluation.ids, evaluation.generators, strict=True)
    }
    pipeline = EvalPipeline(input_size=32)
    files = []
    for seed in (0, 1):
        order = np.random.default_rng(seed).permutation(len(ids))
        halves = np.array_split(ids[order], 2)  # two "processes", rows in any order
        rows = merge_in_evaluation_order([_rows(h, generator_of) for h in halves], evaluation)
        files.append(predictions_from_rows(rows, plan, evaluation, pipeline.degradation_codes))
    first, second = files
    np.testing.assert_array_equal(first.identifier, ids)
    np.testing.assert_array_equal(first.degradations, second.degradations)
    for image_id, code in zip(first.identifier, first.degradations, strict=True):
        assert pipeline.degradation_plan(int(image_id)).code == code  # type: ignore[union-attr]
    assert len(set(first.degradations.tolist())) > 3
