"""Operating points, calibration and threshold transfer: values against sklearn and by hand;
``evaluate --intervals / --operating-points`` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_curve

from aigenbench.evaluation.binary import SortedScores, subset_metrics
from aigenbench.evaluation.calibration import calibration, operating_point
from aigenbench.evaluation.thresholds import at_threshold, transfer_threshold


def _sorted(scores, fake) -> SortedScores:
    return SortedScores.from_unsorted(np.asarray(scores, float), np.asarray(fake, bool))


@pytest.mark.parametrize("target", [0.01, 0.05, 0.1, 0.3])
def test_tpr_at_fpr_is_the_best_roc_point_within_the_budget(target):
    rng = np.random.default_rng(4)
    fake = rng.random(400) < 0.5
    scores = np.round(np.where(fake, rng.beta(4, 2, 400), rng.beta(2, 4, 400)), 2)
    fpr, tpr, _ = roc_curve(fake, scores)
    allowed = fpr <= target
    tpr_value, threshold = operating_point(_sorted(scores, fake), target)
    assert tpr_value == pytest.approx(tpr[allowed].max())
    called = scores >= threshold
    assert (called & ~fake).sum() / (~fake).sum() <= target
    assert (called & fake).sum() / fake.sum() == pytest.approx(tpr_value)


def test_brier_and_ece_by_hand():
    # Bin [0.8, 0.867): 0.8 real, 0.85 fake -> |0.5 - 0.825| = 0.325, 2 images;
    # bin [0.133, 0.2): 0.15 fake -> |1 - 0.15| = 0.85; bin [0, 0.067): 0.0 real -> 0.
    scores, fake = [0.8, 0.85, 0.15, 0.0], [0, 1, 1, 0]
    values = calibration(_sorted(scores, fake))
    assert values.brier == pytest.approx(brier_score_loss(fake, scores))
    assert values.ece == pytest.approx((2 * 0.325 + 0.85 + 0) / 4)
    counts = [b.count for b in values.reliability]
    assert sum(counts) == 4 and len(counts) == 15
    logits = calibration(_sorted([2.5, -1.0, 0.3, 0.1], fake))
    assert logits.brier is None and logits.ece is None  # not probabilities


def test_threshold_transfer_by_hand():
    known = _sorted([0.9, 0.8, 0.7, 0.2, 0.1, 0.75], [1, 1, 1, 0, 0, 0])
    upcoming = _sorted([0.6, 0.5, 0.3, 0.4, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    result = transfer_threshold(0, known, upcoming, "fpr", target_fpr=0.0)
    # On window k no real may be called fake: the threshold is 0.8 (0.75 is a real).
    assert result.transferred.threshold == pytest.approx(0.8)
    assert result.transferred.tpr == 0.0 and result.transferred.fpr == 0.0
    # Chosen on window k+1 itself: 0.5 catches two fakes and no real.
    assert result.oracle.threshold == pytest.approx(0.5) and result.oracle.tpr == pytest.approx(
        2 / 3
    )
    best = transfer_threshold(0, known, upcoming, "best_f1")
    # Best F1 on window k (6/7) holds for t in (0.2, 0.7]; the official grid's first such
    # threshold is float32(0.2), just above the real scored 0.2.
    assert best.transferred.threshold == pytest.approx(0.2, abs=1e-6)
    assert best.transferred.tpr == 1.0 and best.transferred.fpr == pytest.approx(1 / 3)
    # The fixed 0.5 follows the official rule of every 0.5-threshold metric, score > 0.5: the
    # fake scored exactly 0.5 is not called fake (one rule everywhere).
    fixed = at_threshold(upcoming, 0.5, strict=True)
    exact = subset_metrics(upcoming, 0.5)
    assert best.fixed == fixed and fixed.tpr == pytest.approx(1 / 3) == exact.recall
    assert fixed.fpr == 1 - exact.tnr and fixed.f1 == pytest.approx(exact.f1)
    assert fixed.balanced_accuracy == pytest.approx(exact.balanced_accuracy)
    # The chosen thresholds are scores of images: ``>=`` there (0.5 catches two fakes above).
    assert at_threshold(upcoming, 0.5).tpr == pytest.approx(2 / 3)


def test_evaluate_json_has_intervals_calibration_and_threshold_transfer(run_cli, our_run):
    result = run_cli("evaluate", our_run, "--json", "--intervals", "bootstrap", "--resamples", "50")
    assert result.exit_code == 0, result.err
    data = json.loads(result.out)
    intervals = data["intervals"]
    assert intervals["method"] == "bootstrap" and intervals["resamples"] == 50
    low, high = intervals["average"]["next"]["auroc"]
    assert low <= data["average"]["next"]["auroc"] <= high
    assert set(intervals["per_window"][0]["next"]) >= {"auroc", "ap", "f1", "tpr_at_fpr_5"}
    assert intervals["per_window"][0]["past"]["auroc"] is None
    # A mean over steps of a threshold or of image counts means nothing: not averaged.
    average = data["average"]["next"]
    assert average["best_f1_threshold"] is None and average["n_real"] is None
    assert average["auroc"] is not None
    assert data["per_window"][0]["calibration"]["next"]["tpr_at_fpr_5"] is not None
    rules = {(t["step"], t["rule"]) for t in data["threshold_transfer"]}
    assert rules == {(0, "best_f1"), (0, "fpr"), (1, "best_f1"), (1, "fpr")}
    delong = json.loads(run_cli("evaluate", our_run, "--json", "--intervals", "delong").out)
    assert set(delong["intervals"]["average"]["next"]) == {"auroc"}
    assert "intervals" not in json.loads(run_cli("evaluate", our_run, "--json").out)


def test_evaluate_tables_show_intervals_and_operating_points(run_cli, our_run):
    result = run_cli("evaluate", our_run, "--intervals", "delong", "--operating_points")
    assert result.exit_code == 0, result.err
    assert "95% DeLong intervals of AUROC" in result.out
    assert "TPR@FPR 5%" in result.out and "best F1" in result.out
    assert run_cli("evaluate", our_run, "--intervals", "magic").exit_code == 2
    assert run_cli("evaluate", our_run, "--confidence", "1").exit_code == 2
