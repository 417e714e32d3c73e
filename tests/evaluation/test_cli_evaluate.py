"""``aigenbench evaluate``: tables, --json schema, --csv, --save, and the errors a user can hit."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from aigenbench.evaluation.experiment import write_summary, write_window_metrics
from tests.evaluation.conftest import SMALL_WINDOWS, write_our_run

METRICS = {
    "auroc",
    "ap",
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "tnr",
    "n_real",
    "n_fake",
}


def test_json_schema(run_cli, our_run):
    result = run_cli("evaluate", our_run, "--json")
    assert result.exit_code == 0, result.err
    data = json.loads(result.out)
    assert {"per_window", "average", "matrix"} <= set(data)
    assert [w["window"] for w in data["per_window"]] == [0, 1, 2]
    for entry in data["per_window"]:
        for subset in ("next", "past", "growing", "whole", "all"):
            assert set(entry[subset]) >= METRICS
            assert isinstance(entry[subset]["n_real"], int)
    first, last = data["per_window"][0], data["per_window"][-1]
    assert first["past"]["auroc"] is None and first["past"]["n_fake"] == 0
    assert last["next"]["auroc"] is None
    assert 0.5 < first["next"]["auroc"] <= 1.0
    assert set(data["average"]) == {"next", "past", "growing", "whole", "all"}
    assert set(data["average"]["next"]) >= METRICS
    assert data["average"]["next"]["windows"] == [0, 1]
    assert data["average"]["past"]["windows"] == [1, 2]
    assert len(data["matrix"]) == 3 and all(len(row) == 3 for row in data["matrix"])
    assert data["matrix"][1][2] == pytest.approx(data["per_window"][1]["next"]["auroc"])
    assert set(data["per_window"][0]["per_generator"]) == {g for w in SMALL_WINDOWS for g in w}
    assert "NaN" not in result.out


def test_table_shows_every_step_and_the_averages(run_cli, our_run):
    result = run_cli("evaluate", our_run)
    assert result.exit_code == 0, result.err
    assert "AUROC (%) after each training step" in result.out
    assert "average" in result.out
    assert "AUROC (%) after step k (rows) on window j (columns)" in result.out
    assert "Next average runs over steps 0..1" in result.out
    on = run_cli("evaluate", our_run, "--on", "past", "--per_generator")
    assert on.exit_code == 0, on.err
    assert "'past' after each training step" in on.out
    assert "BalAcc" in on.out and "StyleGAN" in on.out


def test_csv_has_one_row_per_window_and_subset_plus_averages(run_cli, our_run):
    result = run_cli("evaluate", our_run, "--csv", "--threshold", "0.4")
    assert result.exit_code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert len(rows) == 3 * 5 + 5
    past_0 = next(r for r in rows if r["window"] == "0" and r["subset"] == "past")
    assert past_0["auroc"] == "" and past_0["n_fake"] == "0"
    only_next = list(
        csv.DictReader(io.StringIO(run_cli("evaluate", our_run, "--csv", "--on", "next").out))
    )
    assert {r["subset"] for r in only_next} == {"next"} and len(only_next) == 4


def test_threshold_changes_threshold_metrics_only(run_cli, our_run):
    low = json.loads(run_cli("evaluate", our_run, "--json", "--threshold", "0.1").out)
    high = json.loads(run_cli("evaluate", our_run, "--json", "--threshold", "0.9").out)
    a, b = low["per_window"][1]["all"], high["per_window"][1]["all"]
    assert a["auroc"] == b["auroc"] and a["recall"] > b["recall"] and a["tnr"] < b["tnr"]


def test_save_writes_metrics_and_keeps_other_summary_sections(run_cli, our_run):
    result = run_cli("evaluate", our_run, "--save", "--json")
    assert result.exit_code == 0, result.err
    summary = json.loads((our_run / "summary.json").read_text())
    assert summary["data"]["unreadable_images"] == 2  # untouched
    assert summary["metrics"]["headline"]["next_auroc"] == pytest.approx(
        json.loads(result.out)["average"]["next"]["auroc"]
    )
    metrics = json.loads((our_run / "window_1" / "metrics.json").read_text())
    assert metrics["window"] == 1 and metrics["stage"] == "validate"
    assert metrics["next"]["auroc"] == pytest.approx(
        summary["metrics"]["per_window"][1]["next"]["auroc"]
    )


def test_runner_functions_write_the_files(tmp_path):
    run_dir = tmp_path / "run"
    write_our_run(run_dir, steps=[0])  # a run that has finished its first window only
    path = write_window_metrics(run_dir / "window_0")
    assert json.loads(path.read_text())["past"]["auroc"] is None
    summary = json.loads(write_summary(run_dir).read_text())
    assert summary["metrics"]["complete"] is False
    assert summary["metrics"]["matrix_steps"] == [0]


def test_official_last_next_flag(run_cli, our_run):
    data = json.loads(run_cli("evaluate", our_run, "--json", "--official_last_next").out)
    assert data["per_window"][-1]["next"]["auroc"] == pytest.approx(data["matrix"][2][2])
    assert data["per_window"][-1]["next_is_last_window"] is True
    assert data["average"]["next"]["windows"] == [0, 1, 2]


def test_missing_directory_exits_2_with_a_clear_message(run_cli, tmp_path):
    result = run_cli("evaluate", tmp_path / "nope")
    assert result.exit_code == 2
    assert "does not exist" in result.err and "runs/<experiment-id>" in result.err
    assert "Traceback" not in result.err


def test_no_predictions_exits_2(run_cli, tmp_path):
    (tmp_path / "window_0").mkdir()
    result = run_cli("evaluate", tmp_path)
    assert result.exit_code == 2
    assert "no predictions files" in result.err and "predictions_validate_all.npz" in result.err
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("evaluate", empty)
    assert result.exit_code == 2 and "no window_<k>/" in result.err


def test_corrupt_npz_exits_2_naming_the_file(run_cli, our_run):
    path = our_run / "window_1" / "predictions_validate.npz"
    path.write_bytes(path.read_bytes()[:200])
    result = run_cli("evaluate", our_run)
    assert result.exit_code == 2
    assert str(path) in result.err and "corrupt" in result.err


def test_bad_arguments_exit_2(run_cli, our_run):
    assert run_cli("evaluate", our_run, "--threshold", "2").exit_code == 2
    assert run_cli("evaluate", our_run, "--on", "future").exit_code == 2
    assert run_cli("evaluate", our_run, "--json", "--csv").exit_code == 2


def test_nan_scores_are_a_clear_error(run_cli, tmp_path):
    run_dir = tmp_path / "run"
    write_our_run(run_dir, steps=[0])
    path = run_dir / "window_0" / "predictions_validate.npz"
    with np.load(path) as data:
        arrays = dict(data)
    arrays["crop_scores"][3] = np.nan
    np.savez(path, **arrays)
    result = run_cli("evaluate", run_dir)
    assert result.exit_code == 2 and "NaN" in result.err


def test_a_single_window_directory_can_be_evaluated(run_cli, our_run):
    data = json.loads(run_cli("evaluate", our_run / "window_1", "--json").out)
    assert [w["window"] for w in data["per_window"]] == [1]


def _keep_images(arrays, keep) -> None:
    """Keep the images of a predictions file's ``arrays`` where ``keep`` (one flag per image),
    with their crops."""
    crops = np.isin(arrays["crop_identifiers"], arrays["identifier"][keep])
    for key in [k for k in arrays if k.startswith("crop_")]:
        arrays[key] = arrays[key][crops]
    for key in (
        "fused_scores",
        "fused_labels",
        "fused_generator_ids",
        "fused_identifiers",
        "fused_losses",
        "identifier",
        "pairing",
    ):
        arrays[key] = arrays[key][keep]


def _rewrite_window(run_dir, step, windows=SMALL_WINDOWS, edit=None):
    """Window ``step``'s predictions file written again with ``edit(arrays)`` applied."""
    from aigenbench.evaluation.predictions import (
        load_predictions,
        predictions_arrays,
    )

    path = run_dir / f"window_{step}" / "predictions_validate.npz"
    arrays = predictions_arrays(load_predictions(path))
    if edit is not None:
        edit(arrays)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("intervals", [[], ["--intervals", "delong"], ["--intervals", "bootstrap"]])
def test_a_window_scored_on_other_images_is_refused_with_and_without_intervals(
    run_cli, tmp_path, intervals
):
    run_dir = tmp_path / "run"
    write_our_run(run_dir)

    def drop_one_fake_and_its_real(arrays):
        # Another evaluation set: two images fewer (the last fake and the real paired with it).
        keep = np.ones(len(arrays["identifier"]), dtype=bool)
        keep[-2:] = False
        _keep_images(arrays, keep)

    _rewrite_window(run_dir, 1, edit=drop_one_fake_and_its_real)
    result = run_cli("evaluate", run_dir, *intervals)
    assert result.exit_code != 0
    assert "window_1" in result.err and "another evaluation set than" in result.err
    assert "Traceback" not in result.err


def test_a_window_whose_images_got_other_generators_is_refused(run_cli, tmp_path):
    run_dir = tmp_path / "run"
    write_our_run(run_dir)

    def relabel(arrays):
        # The same IDs, two fakes' generators swapped (counts per generator kept).
        ids = arrays["crop_generator_ids"]
        fakes = np.flatnonzero(arrays["fused_generator_ids"] != 0)
        first, second = (arrays["identifier"][fakes[i]] for i in (0, 1))
        while arrays["fused_generator_ids"][fakes[1]] == arrays["fused_generator_ids"][fakes[0]]:
            fakes = fakes[1:]
            first, second = arrays["identifier"][fakes[0]], arrays["identifier"][fakes[1]]
        a, b = (arrays["fused_generator_ids"][fakes[i]] for i in (0, 1))
        ids[arrays["crop_identifiers"] == first] = b
        ids[arrays["crop_identifiers"] == second] = a

    _rewrite_window(run_dir, 2, edit=relabel)
    result = run_cli("evaluate", run_dir)
    assert result.exit_code != 0
    assert "2 image(s) have another generator" in result.err


@pytest.mark.parametrize("missing", ["fakes", "reals"])
def test_a_window_without_fakes_or_reals_is_refused_not_averaged_away(run_cli, tmp_path, missing):
    """Without window 2's fakes, Next at step 1 has no AUROC: the Next average would run over
    step 0 alone while claiming the protocol's average."""
    run_dir = tmp_path / "run"
    eval_set = write_our_run(run_dir)
    window_2 = [eval_set.generator_names.index(g) for g in SMALL_WINDOWS[2]]

    def drop(arrays):
        generators, pairing = arrays["fused_generator_ids"], arrays["pairing"]
        if missing == "fakes":
            gone = np.isin(generators, window_2)
        else:
            gone = (generators == 0) & np.isin(pairing, window_2)
        _keep_images(arrays, ~gone)

    for step in range(3):
        _rewrite_window(run_dir, step, edit=drop)
    result = run_cli("evaluate", run_dir)
    assert result.exit_code != 0
    noun = "fake" if missing == "fakes" else "real (paired)"
    assert f"window 2 (SDXL, FLUX) has no {noun} images in the evaluation set" in result.err
    assert "Traceback" not in result.err


def _three_columns(arrays):
    arrays["crop_scores"] = np.repeat(arrays["crop_scores"][:, None], 3, axis=1)


def _image_twice(arrays):
    # The first image's crops appended again: it would count twice in every metric.
    first = arrays["crop_identifiers"] == arrays["identifier"][0]
    for key in [k for k in arrays if k.startswith("crop_")]:
        arrays[key] = np.concatenate([arrays[key], arrays[key][first]])
    for key in (
        "fused_scores",
        "fused_labels",
        "fused_generator_ids",
        "fused_identifiers",
        "fused_losses",
        "identifier",
        "pairing",
    ):
        arrays[key] = np.concatenate([arrays[key], arrays[key][:1]])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_three_columns, "crop_scores must be one fake probability per crop"),
        (_image_twice, "appear in 2 places"),
    ],
    ids=["scores-N-by-3", "duplicated-image"],
)
def test_evaluate_refuses_scores_it_cannot_read_in_one_sentence(run_cli, tmp_path, edit, message):
    run_dir = tmp_path / "run"
    write_our_run(run_dir)
    path = _rewrite_window(run_dir, 0, edit=edit)
    result = run_cli("evaluate", run_dir)
    assert result.exit_code != 0
    assert message in result.err and str(path) in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
