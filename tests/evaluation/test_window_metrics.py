"""A window's metrics: computed once from its predictions, written to metrics.json, read back
equal (what a resumed run's summary is built from)."""

from __future__ import annotations

import json

import numpy as np

from aigenbench.evaluation.experiment import (
    evaluate_experiment,
    evaluate_window_predictions,
    read_window_metrics,
    write_window_metrics,
)
from aigenbench.evaluation.metrics import EvaluationOptions, summarise
from aigenbench.evaluation.predictions import load_predictions
from tests.evaluation.conftest import SMALL_WINDOWS, write_our_run


def window_evaluations(run_dir):
    """Each window evaluated from its predictions in memory (as the runner does)."""
    evaluations = []
    for step in range(len(SMALL_WINDOWS)):
        path = run_dir / f"window_{step}" / "predictions_validate.npz"
        evaluations.append(evaluate_window_predictions(load_predictions(path), step, path))
    return evaluations


def test_metrics_json_reads_back_equal_to_the_evaluation_that_wrote_it(tmp_path):
    run_dir = tmp_path / "exp"
    write_our_run(run_dir)
    for evaluation in window_evaluations(run_dir):
        window_dir = run_dir / f"window_{evaluation.window}"
        write_window_metrics(window_dir, evaluation.window, evaluation=evaluation)
        back = read_window_metrics(window_dir)
        assert back == evaluation
        assert back.to_json() == evaluation.to_json()
        if evaluation.window < len(SMALL_WINDOWS) - 1:
            assert {t.rule for t in back.threshold_transfer} == {"best_f1", "fpr"}


def test_a_summary_from_the_windows_objects_equals_the_one_from_the_files(tmp_path):
    run_dir = tmp_path / "exp"
    write_our_run(run_dir)
    from_files = evaluate_experiment(run_dir)
    evaluations = window_evaluations(run_dir)
    for evaluation in evaluations[:1]:  # window 0 "done earlier": read back from metrics.json
        write_window_metrics(run_dir / "window_0", 0, evaluation=evaluation)
    windows = [read_window_metrics(run_dir / "window_0"), *evaluations[1:]]
    from_objects = summarise(windows, SMALL_WINDOWS, EvaluationOptions())
    assert from_objects.to_json() == from_files.to_json()
    assert from_objects.averages["next"]["auroc"] is not None


def test_an_older_metrics_json_is_evaluated_again_from_the_file_and_left_as_it_is(tmp_path):
    run_dir = tmp_path / "exp"
    write_our_run(run_dir)
    window_dir = run_dir / "window_1"
    path = write_window_metrics(window_dir, 1)
    document = json.loads(path.read_text())
    del document["threshold_transfer"]  # written before the transfers were stored per window
    path.write_text(json.dumps(document))
    assert read_window_metrics(window_dir) == window_evaluations(run_dir)[1]
    assert "threshold_transfer" not in json.loads(path.read_text())


def test_a_step_without_an_auroc_is_said_in_the_summary_not_averaged_away(tmp_path):
    """The runner evaluates in memory (no file check): a window without fakes leaves Next at
    the step before it undefined, and the summary says the average runs over fewer steps."""
    from aigenbench.evaluation.metrics import ScoredImages, evaluate_scored
    from aigenbench.evaluation.predictions import load_predictions
    from tests.evaluation.conftest import SMALL_WINDOWS, write_our_run

    eval_set = write_our_run(tmp_path)
    window_2 = [eval_set.generator_names.index(g) for g in SMALL_WINDOWS[2]]
    images = {}
    for step in range(3):
        full = ScoredImages.from_predictions(
            load_predictions(tmp_path / f"window_{step}" / "predictions_validate.npz")
        )
        keep = ~np.isin(full.generator_ids, window_2)
        images[step] = ScoredImages(
            scores=full.scores[keep],
            generator_ids=full.generator_ids[keep],
            pairing=full.pairing[keep],
            generator_names=full.generator_names,
            windows=full.windows,
            ids=None if full.ids is None else full.ids[keep],
        )
    evaluation = evaluate_scored(images)
    assert evaluation.windows[1].subsets["next"].auroc is None
    assert evaluation.averages["next"]["auroc"] == evaluation.windows[0].subsets["next"].auroc
    assert any(
        "NOT COMPARABLE: 'next' has no AUROC at step(s) [1]" in note
        and "AUROC average runs over 1 step(s) only" in note
        for note in evaluation.notes
    )
