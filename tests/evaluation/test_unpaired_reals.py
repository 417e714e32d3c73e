"""A real image left unpaired (pairing -1) belongs to no subset (PROTOCOL §9 pairing)."""

from __future__ import annotations

import pytest

from aigenbench.evaluation.metrics import evaluate_window
from tests.evaluation.test_predictions import small_predictions


def test_an_unpaired_real_joins_no_subset():
    # ID 7: fake A (0.625); ID 3: real paired with A (0.25); ID 5: real, unpaired, scored 0.9
    # (above the fake: it would halve the AUROC of any subset it joined); ID 9: fake C (0.5).
    predictions = small_predictions(
        crop_scores=[0.5, 0.75, 0.25, 0.9, 0.5, 1.0, 0.0],
        crop_labels=[1, 1, 0, 0, 1, 1, 1],
        crop_generator_ids=[1, 1, 0, 0, 3, 3, 3],
        crop_identifiers=[7, 7, 3, 5, 9, 9, 9],
        pairing={3: 1},
        crop_to_image_index=[0, 0, 1, 2, 0, 0, 0],
    )
    assert predictions.pairing.tolist() == [-1, 1, -1, -1]
    window = evaluate_window(predictions, 1)
    past = window.subsets["past"]  # at step 1: window 0 (A) and the reals paired with A
    assert (past.n_real, past.n_fake) == (1, 1)
    assert past.auroc == pytest.approx(1.0)  # 0.625 (fake) above 0.25 (paired real)
    whole = window.subsets["whole"]
    assert whole.n_real == 1  # the unpaired real is not counted in the whole set either
