"""The exported folder of a real (tiny) run: its thresholds, headline and model card hold the
run's own numbers, as ``aigenbench evaluate --json --intervals delong`` prints them."""

from __future__ import annotations

import json

import pytest
import yaml

import aigenbench
from aigenbench.export.card import escape_markdown


@pytest.fixture(scope="module")
def evaluated(finished, tmp_path_factory):
    """The run, its `evaluate --json` document and window 0 exported with --threshold fpr_5."""
    from aigenbench.cli import main

    run, _ = finished
    out = tmp_path_factory.mktemp("export") / "window_0_detector"
    assert main(["export", str(run / "window_0"), "-o", str(out), "--threshold", "fpr_5"]) == 0
    return run, out


def evaluate_json(run, run_cli) -> dict:
    result = run_cli("evaluate", run, "--json", "--intervals", "delong")
    assert result.exit_code == 0, result.err
    return json.loads(result.out)


def test_thresholds_and_headline_are_the_runs_evaluation(evaluated, run_cli, tiny_benchmark):
    run, out = evaluated
    document = evaluate_json(run, run_cli)
    window = document["per_window"][0]
    config = json.loads((out / "config.json").read_text())
    assert config["threshold"]["chosen_on"] == {
        "window": 0,
        "subset": "growing",
        "file": "predictions_validate.npz",
    }
    assert config["thresholds"] == {
        "0.5": 0.5,
        "best_f1": window["growing"]["best_f1_threshold"],
        "fpr_1": window["calibration"]["growing"]["threshold_at_fpr_1"],
        "fpr_5": window["calibration"]["growing"]["threshold_at_fpr_5"],
    }
    assert config["threshold"]["default"] == "fpr_5"
    assert config["card_headline"] == {
        name: pytest.approx(100 * window[name]["auroc"], abs=1e-9)
        for name in ("next", "past", "growing", "whole")
        if window[name]["auroc"] is not None
    }
    assert set(config["card_headline"]) >= {"next", "growing", "whole"}
    assert config["training"]["generators"] == document["windows"][0]
    assert config["training"]["unseen_generators"] == document["windows"][1]
    timeline = (tiny_benchmark / "timeline.csv").read_text()  # the dataset's own dates
    dates = config["training"]["release_dates"]
    assert set(dates) == set(document["windows"][0] + document["windows"][1])
    assert all(f"{name},{date}" in timeline for name, date in dates.items())

    detector = aigenbench.load_detector(out)
    assert detector.threshold == window["calibration"]["growing"]["threshold_at_fpr_5"]
    assert detector.thresholds == config["thresholds"]
    assert detector.card_headline == config["card_headline"]
    assert detector.config == config


def test_the_card_prints_the_runs_numbers_and_intervals(evaluated, run_cli):
    run, out = evaluated
    document = evaluate_json(run, run_cli)
    window = document["per_window"][0]
    bounds = document["intervals"]["per_window"][0]
    card = (out / "README.md").read_text()
    _, header, body = card.split("---\n", 2)
    metadata = yaml.safe_load(header)
    assert metadata["library_name"] == "aigenbench"
    assert {"datasets", "metrics", "tags"} <= set(metadata)
    results = metadata["model-index"][0]["results"][0]["metrics"]
    assert {r["name"]: r["value"] for r in results} == {
        f"AUROC {name} (window 0)": pytest.approx(window[name]["auroc"], abs=1e-6)
        for name in ("next", "past", "growing", "whole")
        if window[name]["auroc"] is not None
    }
    for name in ("next", "growing", "whole"):
        low, high = bounds[name]["auroc"]
        row = f"| {name} | {100 * window[name]['auroc']:.2f} | {100 * low:.2f}–{100 * high:.2f} |"
        assert row in body
    for generator, metrics in window["per_generator"].items():
        assert f"| {escape_markdown(generator)} |" in body
        assert f"{100 * metrics['auroc']:.2f}" in body
    for name, value in json.loads((out / "config.json").read_text())["thresholds"].items():
        assert f"| {escape_markdown(name)} | {value:.6f} |" in body
    assert "Not seen in training" in body and "## Limits" in body


def test_markdown_in_a_name_cannot_break_the_card():
    assert escape_markdown("gen|*x*_[a](b)") == r"gen\|\*x\*\_\[a\]\(b\)"
    assert escape_markdown("two\nlines") == "two lines"
