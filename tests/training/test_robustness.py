"""Robustness on an experiment the tests train: the degradation record written by fit, the
controlled-degradation sweep through the CLI, and the report's robustness sections."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aigenbench.data.controlled import DEFAULT_STRENGTHS
from aigenbench.data.pipelines import EvalPipeline
from aigenbench.evaluation.predictions import load_predictions

pytestmark = pytest.mark.slow


@pytest.fixture
def run_dir(finished, tmp_path) -> Path:
    """A copy of the finished experiment (the sweep writes into it)."""
    copy = tmp_path / "runs" / "exp"
    shutil.copytree(finished[0], copy)
    return copy


def test_fit_records_each_images_degradations_by_id(finished, run_cli):
    run_dir, _ = finished
    for window in (0, 1):
        predictions = load_predictions(run_dir / f"window_{window}" / "predictions_validate.npz")
        assert predictions.degradations is not None
        expected = EvalPipeline(input_size=32).degradation_codes(predictions.identifier)
        np.testing.assert_array_equal(predictions.degradations, expected)
    result = run_cli("evaluate", run_dir, "--by-degradation", "--json")
    assert result.exit_code == 0, result.err
    document = json.loads(result.out)
    counts = sum(
        cell["n_real"] + cell["n_fake"]
        for name, cell in document["per_window"][1]["subsets"]["all"].items()
        if name in ("jpeg_never", "jpeg_once", "jpeg_twice")
    )
    assert counts == predictions.n_images  # the JPEG slices partition the images


def _scores(run_dir: Path, name: str) -> np.ndarray:
    return load_predictions(run_dir / "robustness" / "window_1" / name).crop_scores


def test_sweep_through_the_cli(run_dir, run_cli):
    result = run_cli("robustness", run_dir, "--json")
    assert result.exit_code == 0, result.err
    document = json.loads(result.out)
    assert document["window"] == 1  # the last finished window by default
    kinds = [(p["kind"], p["strength"]) for p in document["points"]]
    assert kinds == [(k, float(s)) for k, values in DEFAULT_STRENGTHS.items() for s in values]
    for point in [document["clean"], *document["points"]]:
        assert 0 <= point["all"]["auroc"] <= 1 and 0 <= point["all"]["ap"] <= 1
        assert point["next"]["auroc"] is None  # no window after the last one
    folder = run_dir / "robustness" / "window_1"
    assert (folder / "robustness.json").is_file() and (folder / "curves.png").is_file()
    clean = _scores(run_dir, "clean.npz")
    # The identity strengths reproduce the clean scores exactly; real degradations move them.
    for identity in ("blur_0.npz", "noise_0.npz", "resize_1.npz"):
        np.testing.assert_array_equal(_scores(run_dir, identity), clean, err_msg=identity)
    for harsh in ("blur_3.npz", "noise_0.1.npz", "jpeg_30.npz", "resize_0.25.npz"):
        assert not np.array_equal(_scores(run_dir, harsh), clean), harsh
    # Clean means the protocol's own degradations are off: not the window's own scores.
    protocol = load_predictions(run_dir / "window_1" / "predictions_validate.npz").crop_scores
    assert not np.array_equal(protocol, clean)


def test_one_kind_with_chosen_strengths_as_csv_and_another_window(run_dir, run_cli):
    result = run_cli(
        "robustness", run_dir, "--window", "0", "--kind", "jpeg", "--strengths", "90", "40", "--csv"
    )
    assert result.exit_code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [(r["kind"], r["strength"]) for r in rows] == [
        ("clean", ""),
        ("jpeg", "90.0"),
        ("jpeg", "40.0"),
    ]
    assert rows[0]["next_auroc"] != ""  # window 0 has a next window
    table = run_cli("robustness", run_dir, "--kind", "blur", "--strengths", "0", "2")
    assert table.exit_code == 0 and "under one degradation at a time" in table.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "jpeg", "blur", "--strengths", "50"], "exactly one --kind"),
        (["--kind", "jpeg", "--strengths", "0"], "not valid for jpeg"),
        (["--window", "7"], "window 7 does not exist"),
        (["--kind", "sharpen"], "invalid choice"),
    ],
)
def test_user_errors(run_dir, run_cli, args, message):
    result = run_cli("robustness", run_dir, *args)
    assert result.exit_code == 2, result.out
    assert message in result.err


def test_report_has_the_robustness_sections(run_dir, run_cli):
    assert (
        run_cli("robustness", run_dir, "--kind", "noise", "--strengths", "0", "0.1").exit_code == 0
    )
    assert run_cli("audit", run_dir).exit_code == 0
    result = run_cli("report", run_dir)
    assert result.exit_code == 0, result.err
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    for heading in (
        "AUROC by mandatory degradation",
        "Robustness to controlled degradations",
        "Shortcut audit",
        "Pretraining data against the timeline",
    ):
        assert heading in page
    assert "never JPEG&#39;d" in page and "<h3>Window 1" in page  # escaped by Jinja2
    assert (run_dir / "plots" / "robustness_window_1.png").is_file()
