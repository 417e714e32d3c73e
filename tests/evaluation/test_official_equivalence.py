"""Files laid out like the official framework's, evaluated here and by a plain re-implementation
of the official evaluation formula (``official_format.reference_evaluation``): same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score, roc_curve

from aigenbench.evaluation.binary import BEST_F1_THRESHOLDS, SortedScores, subset_metrics
from aigenbench.evaluation.experiment import discover_predictions, evaluate_experiment
from aigenbench.evaluation.metrics import OFFICIAL_SUBSET_NAMES, EvaluationOptions
from tests.evaluation.conftest import write_our_run
from tests.evaluation.official_format import (
    make_eval_set,
    random_crop_scores,
    reference_evaluation,
    write_official_file,
)

WINDOWS = [
    ["GAN1", "GAN2", "GAN3"],
    ["Diff1", "Diff2", "Diff3"],
    ["X1", "X2", "X3"],
    ["Y1", "Y2", "Y3"],
]
COMPARED = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "tnr", "ap", "auroc")


def official_experiment(root, *, ties=False, ranks=1, crops=None, seed=0):
    eval_set = make_eval_set(WINDOWS, per_generator=25, seed=seed)
    files = {}
    for step in range(len(WINDOWS)):
        scores = random_crop_scores(eval_set, step, seed=100 * seed + step, crops=crops, ties=ties)
        files[step] = write_official_file(
            root / f"window_{step}", eval_set, scores, step=step, ranks=ranks, batch_size=9
        )
    return eval_set, files


def assert_same_as_official(run, files, threshold):
    compared = 0
    for window in run.windows:
        for subset, official_name in OFFICIAL_SUBSET_NAMES.items():
            ours = window.subsets[subset]
            if not ours.defined:
                assert (subset, window.window) in {("past", 0), ("next", len(WINDOWS) - 1)}
                continue
            expected = reference_evaluation(
                files[window.window], official_name, window.window, threshold
            )
            assert (ours.n_real, ours.n_fake) == (expected["n_real"], expected["n_fake"])
            for key in COMPARED:
                assert getattr(ours, key) == pytest.approx(expected[key], abs=1e-12), (
                    window.window,
                    subset,
                    key,
                )
            compared += 1
    return compared


@pytest.mark.parametrize(
    ("ties", "ranks", "crops", "threshold"),
    [(False, 1, None, 0.5), (True, 2, 1, 0.5), (False, 3, 5, 0.3), (True, 1, None, 0.6)],
)
def test_random_experiments_equal_the_official_formula(tmp_path, ties, ranks, crops, threshold):
    _, files = official_experiment(tmp_path, ties=ties, ranks=ranks, crops=crops, seed=ranks)
    run = evaluate_experiment(tmp_path, options=EvaluationOptions(threshold=threshold))
    assert assert_same_as_official(run, files, threshold) == 4 * 5 - 2


def test_official_last_step_next_is_reproduced_on_request(tmp_path):
    _, files = official_experiment(tmp_path, seed=7)
    run = evaluate_experiment(tmp_path, options=EvaluationOptions(official_last_next=True))
    last = len(WINDOWS) - 1
    expected = reference_evaluation(files[last], "immediate_future", last)
    assert run.windows[last].subsets["next"].auroc == pytest.approx(expected["auroc"], abs=1e-12)
    assert assert_same_as_official(run, files, 0.5) == 4 * 5 - 1


def test_the_highest_step_file_is_used_when_there_is_no_all_copy(tmp_path):
    eval_set = make_eval_set(WINDOWS, per_generator=10, seed=3)
    window = tmp_path / "window_0"
    good = random_crop_scores(eval_set, 0, seed=1, crops=1)
    stale = [np.zeros_like(s) + 0.5 for s in good]  # an earlier, meaningless evaluation
    write_official_file(window, eval_set, stale, step=0, keep_all_copy=False)  # step=100
    (window / "predictions_validate_epoch=0-step=100.npz").rename(
        window / "predictions_validate_epoch=0-step=99.npz"
    )
    latest = write_official_file(window, eval_set, good, step=0, keep_all_copy=False)
    assert discover_predictions(tmp_path) == {0: latest}
    run = evaluate_experiment(tmp_path)
    expected = reference_evaluation(latest, "growing", 0)
    assert run.windows[0].subsets["growing"].auroc == pytest.approx(expected["auroc"], abs=1e-12)


def test_multiclass_logits_are_fused_then_turned_into_fake_scores(tmp_path):
    eval_set = make_eval_set(WINDOWS, per_generator=8, seed=11)
    rng = np.random.default_rng(0)
    n_classes = len(eval_set.generator_names)
    logits, crop_scores = [], []
    for generator in eval_set.generator_ids.tolist():
        n = int(rng.integers(1, 4))
        values = rng.standard_normal((n, n_classes)).astype(np.float32)
        values[:, generator] += 2.0
        logits.append(values)
        crop_scores.append(np.full(n, 0.5, dtype=np.float32))  # the official sigmoid(p) bug
    path = write_official_file(
        tmp_path / "window_1", eval_set, crop_scores, step=1, multiclass=logits
    )
    run = evaluate_experiment(tmp_path)
    for subset, official_name in OFFICIAL_SUBSET_NAMES.items():
        expected = reference_evaluation(path, official_name, 1)
        ours = run.windows[0].subsets[subset]
        for key in COMPARED:
            assert getattr(ours, key) == pytest.approx(expected[key], abs=1e-12), (subset, key)


def test_per_generator_and_matrix_cells_equal_sklearn(tmp_path):
    _, files = official_experiment(tmp_path, seed=4, crops=1)
    run = evaluate_experiment(tmp_path)
    step = 2
    data = np.load(files[step])
    scores, generators, pairing = data["crop_scores"], data["crop_generator_ids"], data["pairing"]
    names = data["generator_id_to_name"].tolist()
    for window_index, window_names in enumerate(WINDOWS):
        ids = [names.index(name) for name in window_names]
        keep = np.isin(generators, ids) | ((generators == 0) & np.isin(pairing, ids))
        expected = roc_auc_score(generators[keep] != 0, scores[keep])
        assert run.windows[step].matrix_row[window_index] == pytest.approx(expected, abs=1e-12)
        for name, generator_id in zip(window_names, ids, strict=True):
            keep = (generators == generator_id) | ((generators == 0) & (pairing == generator_id))
            expected = roc_auc_score(generators[keep] != 0, scores[keep])
            ours = run.windows[step].per_generator[name]
            assert ours.auroc == pytest.approx(expected, abs=1e-12)
            assert ours.n_fake == ours.n_real == 25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_f1_threshold_and_eer_against_plain_loops(seed):
    rng = np.random.default_rng(seed)
    fake = rng.random(300) < 0.5
    scores = np.where(fake, rng.beta(3, 2, 300), rng.beta(2, 3, 300)).astype(np.float32)
    if seed == 2:
        scores = np.round(scores, 2)  # many ties, scores on the threshold grid
    metrics = subset_metrics(SortedScores.from_unsorted(scores, fake))

    # The official BestBinaryThresholdF1: first threshold of linspace(0, 1, 1001) with the
    # best F1, predicting fake when score >= threshold.
    best_threshold, best_score = 0.0, -1.0
    for threshold in BEST_F1_THRESHOLDS.astype(np.float32):
        predicted = scores >= threshold
        tp = int(np.sum(predicted & fake))
        score = 2 * tp / (2 * tp + int(np.sum(predicted & ~fake)) + int(np.sum(~predicted & fake)))
        if score > best_score:
            best_threshold, best_score = float(threshold), score
    assert metrics.best_f1_threshold == pytest.approx(best_threshold, abs=1e-9)
    assert f1_score(fake, scores >= best_threshold) == pytest.approx(best_score)

    # EER: where FPR = FNR along the ROC curve (linear between its points).
    fpr, tpr, _ = roc_curve(fake, scores, drop_intermediate=False)
    fnr = 1 - tpr
    i = int(np.argmax(fnr - fpr <= 0))
    t = (fnr[i - 1] - fpr[i - 1]) / ((fnr[i - 1] - fpr[i - 1]) - (fnr[i] - fpr[i]))
    assert metrics.eer == pytest.approx(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]), abs=1e-12)


def test_our_files_give_the_same_numbers_under_the_official_formula(tmp_path):
    """What we write, the official script reads: key names, per-image pairing, timeline."""
    write_our_run(tmp_path, windows=WINDOWS, per_generator=9)
    files = discover_predictions(tmp_path)
    assert {path.name for path in files.values()} == {"predictions_validate.npz"}
    run = evaluate_experiment(tmp_path)
    assert assert_same_as_official(run, files, 0.5) == 4 * 5 - 2
