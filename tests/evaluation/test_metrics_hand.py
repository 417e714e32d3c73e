"""Every subset and metric on a 12-image example whose expected values were worked out by hand.

Three windows of one generator each: A (window 0), B (window 1), C (window 2).

    image  kind        score            image  kind             score
    1      fake A      0.9 (2 crops)    2      real, pair A     0.2
    5      fake A      0.6              4      real, pair A     0.65
    3      fake B      0.7              6      real, pair B     0.1
    7      fake B      0.4              8      real, pair B     0.5 (exactly the threshold)
    9      fake C      0.3              10     real, pair C     0.35
    11     fake C      0.8              12     real, pair C     0.75 (2 crops)

AUROC = fraction of (fake, real) pairs ranked fake-above-real; AP = mean, over the fakes in
descending score order, of the precision at each; "fake" means score > 0.5 (strict).
"""

from __future__ import annotations

import pytest

from aigenbench.evaluation.binary import SortedScores, subset_metrics
from aigenbench.evaluation.metrics import (
    EvaluationOptions,
    evaluate_files,
    evaluate_window,
    subset_windows,
)
from aigenbench.evaluation.predictions import build_predictions
from aigenbench.evaluation.transfer import transfer_metrics

NAMES = ["", "A", "B", "C"]
WINDOWS = [["A"], ["B"], ["C"]]
# (image ID, generator id, crop scores, paired generator id of a real)
IMAGES = [
    (1, 1, [1.0, 0.8], None),
    (2, 0, [0.2], 1),
    (3, 2, [0.7], None),
    (4, 0, [0.65], 1),
    (5, 1, [0.6], None),
    (6, 0, [0.1], 2),
    (7, 2, [0.4], None),
    (8, 0, [0.5], 2),
    (9, 3, [0.3], None),
    (10, 0, [0.35], 3),
    (11, 3, [0.8], None),
    (12, 0, [0.7, 0.8], 3),
]


def hand_predictions():
    scores, labels, generators, identifiers = [], [], [], []
    for image_id, generator, crops, _ in IMAGES:
        for score in crops:
            scores.append(score)
            labels.append(int(generator != 0))
            generators.append(generator)
            identifiers.append(image_id)
    pairing = {image_id: pair for image_id, _, _, pair in IMAGES if pair is not None}
    return build_predictions(
        scores,
        labels,
        generators,
        identifiers,
        generator_names=NAMES,
        windows=WINDOWS,
        pairing=pairing,
    )


# After step k = 1: next = C, past = A, growing = A+B, whole = all = A+B+C.
EXPECTED_STEP_1 = {
    "next": dict(  # fakes .3 .8, reals .35 .75
        auroc=2 / 4,
        ap=(1 + 2 / 4) / 2,
        accuracy=2 / 4,
        balanced_accuracy=0.5,
        precision=1 / 2,
        recall=1 / 2,
        f1=1 / 2,
        tnr=1 / 2,
        eer=0.5,
        n_real=2,
        n_fake=2,
    ),
    "past": dict(  # fakes .9 .6, reals .2 .65
        auroc=3 / 4,
        ap=(1 + 2 / 3) / 2,
        accuracy=3 / 4,
        balanced_accuracy=(1 + 1 / 2) / 2,
        precision=2 / 3,
        recall=1.0,
        f1=4 / 5,
        tnr=1 / 2,
        eer=0.5,
        best_f1_threshold=0.201,  # first grid value above the real at 0.2 (score >= t)
        n_real=2,
        n_fake=2,
    ),
    "growing": dict(  # fakes .9 .7 .6 .4, reals .65 .5 .2 .1
        auroc=13 / 16,
        ap=(1 + 1 + 3 / 4 + 4 / 6) / 4,
        accuracy=6 / 8,
        balanced_accuracy=3 / 4,
        precision=3 / 4,
        recall=3 / 4,
        f1=3 / 4,
        tnr=3 / 4,  # the real at exactly 0.5 is not "above" the threshold
        eer=0.25,
        best_f1_threshold=0.201,
        n_real=4,
        n_fake=4,
    ),
    "all": dict(  # fakes .9 .8 .7 .6 .4 .3, reals .75 .65 .5 .35 .2 .1
        auroc=26 / 36,
        ap=(1 + 1 + 3 / 4 + 4 / 6 + 5 / 8 + 6 / 10) / 6,
        accuracy=8 / 12,
        balanced_accuracy=4 / 6,
        precision=4 / 6,
        recall=4 / 6,
        f1=8 / 12,
        tnr=4 / 6,
        eer=1 / 3,
        n_real=6,
        n_fake=6,
    ),
}
EXPECTED_STEP_1["whole"] = EXPECTED_STEP_1["all"]


@pytest.mark.parametrize("subset", ["next", "past", "growing", "whole", "all"])
def test_every_metric_of_every_subset_matches_the_hand_computation(subset):
    result = evaluate_window(hand_predictions(), window=1).subsets[subset]
    for key, expected in EXPECTED_STEP_1[subset].items():
        assert getattr(result, key) == pytest.approx(expected, abs=1e-6), key


def test_confusion_counts_at_the_threshold():
    growing = evaluate_window(hand_predictions(), window=1).subsets["growing"]
    assert (growing.tp, growing.fp, growing.tn, growing.fn) == (3, 1, 3, 1)
    # lowering the threshold to 0.45 turns the real at exactly 0.5 into a false positive
    lower = evaluate_window(hand_predictions(), 1, EvaluationOptions(threshold=0.45))
    growing = lower.subsets["growing"]
    assert (growing.tp, growing.fp, growing.tn, growing.fn) == (3, 2, 2, 1)
    assert growing.tnr == pytest.approx(2 / 4)
    assert growing.auroc == pytest.approx(13 / 16)  # threshold-free


def test_per_generator_uses_its_fakes_and_the_reals_paired_with_them():
    per_generator = evaluate_window(hand_predictions(), window=1).per_generator
    assert list(per_generator) == ["A", "B", "C"]
    assert per_generator["A"].auroc == pytest.approx(3 / 4)  # .9 .6 vs .2 .65
    assert per_generator["B"].auroc == pytest.approx(3 / 4)  # .7 .4 vs .1 .5
    assert per_generator["C"].auroc == pytest.approx(2 / 4)  # .3 .8 vs .35 .75
    assert per_generator["B"].recall == pytest.approx(1 / 2)
    assert (per_generator["C"].n_real, per_generator["C"].n_fake) == (2, 2)


def test_without_pairing_every_real_joins_every_subset():
    options = EvaluationOptions(use_pairing=False)
    past = evaluate_window(hand_predictions(), 1, options).subsets["past"]
    # fakes .9 .6 against all six reals: .9 beats 6, .6 beats 4
    assert past.auroc == pytest.approx(10 / 12)
    assert (past.n_real, past.n_fake) == (6, 2)


def test_empty_past_at_step_0_and_no_next_at_the_last_step_are_not_defined():
    first = evaluate_window(hand_predictions(), window=0)
    past = first.subsets["past"]
    assert not past.defined and past.n_real == past.n_fake == 0
    assert past.auroc is None and past.accuracy is None and past.tnr is None
    assert first.subsets["next"].auroc == pytest.approx(3 / 4)  # B
    assert first.subsets["whole"].auroc == pytest.approx(13 / 16)  # A + B

    last = evaluate_window(hand_predictions(), window=2)
    assert last.subsets["next"].auroc is None and last.subsets["next"].n_fake == 0
    assert last.subsets["past"].auroc == pytest.approx(13 / 16)
    assert last.subsets["whole"].auroc == pytest.approx(26 / 36)
    official = evaluate_window(hand_predictions(), 2, EvaluationOptions(official_last_next=True))
    assert official.subsets["next"].auroc == pytest.approx(2 / 4)  # window 2 itself
    assert official.next_is_last_window


def test_subset_windows_table():
    assert subset_windows("next", 3, 9) == [4]
    assert subset_windows("next", 8, 9) == []
    assert subset_windows("next", 8, 9, official_last_next=True) == [8]
    assert subset_windows("past", 0, 9) == []
    assert subset_windows("past", 3, 9) == [0, 1, 2]
    assert subset_windows("growing", 3, 9) == [0, 1, 2, 3]
    assert subset_windows("whole", 3, 9) == [0, 1, 2, 3, 4]
    assert subset_windows("whole", 8, 9) == list(range(9))
    assert subset_windows("all", 0, 3) == [0, 1, 2]


def test_ties_count_half_in_auroc_and_form_one_step_in_ap():
    # fakes .8 .5, reals .5 .2: pairs 1 + 1 + 1/2 + 1 = 3.5 of 4
    metrics = subset_metrics(SortedScores.from_unsorted([0.8, 0.5, 0.5, 0.2], [1, 1, 0, 0]))
    assert metrics.auroc == pytest.approx(3.5 / 4)
    # thresholds .8 (recall 1/2, precision 1) and .5 (recall 1, precision 2/3)
    assert metrics.ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_one_class_subsets_keep_what_sklearn_defines():
    only_fakes = subset_metrics(SortedScores.from_unsorted([0.9, 0.3], [1, 1]))
    assert only_fakes.auroc is None and only_fakes.tnr is None and only_fakes.eer is None
    assert only_fakes.recall == pytest.approx(0.5)
    assert only_fakes.balanced_accuracy == pytest.approx(0.5)
    assert only_fakes.precision == 1.0
    only_reals = subset_metrics(SortedScores.from_unsorted([0.2, 0.1], [0, 0]))
    assert only_reals.precision == 0.0 and only_reals.recall == 0.0 and only_reals.f1 == 0.0
    assert only_reals.tnr == 1.0


def test_averages_over_time_and_the_matrix():
    predictions = hand_predictions()
    run = evaluate_files({0: predictions, 1: predictions, 2: predictions})
    # Same scores at every step: each row is [A, B, C] = [3/4, 3/4, 2/4].
    assert run.matrix == [[0.75, 0.75, 0.5]] * 3
    average = run.averages
    assert average["next"]["auroc"] == pytest.approx((3 / 4 + 2 / 4) / 2)  # k = 0, 1 only
    assert average["next"]["windows"] == [0, 1]
    assert average["past"]["auroc"] == pytest.approx((3 / 4 + 13 / 16) / 2)  # k = 1, 2
    assert average["growing"]["auroc"] == pytest.approx((3 / 4 + 13 / 16 + 26 / 36) / 3)
    assert average["whole"]["auroc"] == pytest.approx((13 / 16 + 26 / 36 + 26 / 36) / 3)
    assert run.transfer.backward_transfer == pytest.approx(0.0)
    assert run.transfer.forgetting == pytest.approx(0.0)
    assert run.transfer.forward_transfer == pytest.approx(((3 / 4 - 0.5) + (2 / 4 - 0.5)) / 2)
    official = evaluate_files(
        {0: predictions, 1: predictions, 2: predictions}, EvaluationOptions(official_last_next=True)
    )
    assert official.averages["next"]["auroc"] == pytest.approx((3 / 4 + 2 / 4 + 2 / 4) / 3)
    assert any("official rule" in note for note in official.notes)


def test_transfer_numbers_on_a_constructed_matrix():
    matrix = [
        [0.90, 0.60, 0.50],
        [0.80, 0.95, 0.70],
        [0.85, 0.90, 0.99],
    ]
    transfer = transfer_metrics(matrix)
    assert transfer.final_average == pytest.approx((0.85 + 0.90 + 0.99) / 3)
    # BWT: (0.85 - 0.90 + 0.90 - 0.95) / 2
    assert transfer.backward_transfer == pytest.approx(-0.05)
    # forgetting: window 0 best 0.90 -> 0.85; window 1 best 0.95 -> 0.90
    assert transfer.forgetting == pytest.approx(0.05)
    # FWT: (0.60 - 0.5 + 0.70 - 0.5) / 2
    assert transfer.forward_transfer == pytest.approx(0.15)
    # Forgetting uses the best earlier value, not the one right after learning
    transfer = transfer_metrics([[0.7, 0.5], [0.9, 0.8], [0.6, 0.8]], steps=[0, 1, 2])
    assert transfer.forgetting == pytest.approx(((0.9 - 0.6) + (0.8 - 0.8)) / 2)
    assert transfer.backward_transfer == pytest.approx(((0.6 - 0.7) + (0.8 - 0.8)) / 2)


def test_a_partial_run_summarises_what_it_has():
    predictions = hand_predictions()
    run = evaluate_files({0: predictions, 1: predictions})
    assert not run.complete
    assert run.transfer.final_step == 1
    assert any("incomplete run" in note for note in run.notes)
    document = run.to_json()
    assert document["matrix_steps"] == [0, 1]
    assert document["per_window"][0]["past"]["auroc"] is None
