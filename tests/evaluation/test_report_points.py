"""The report's points of the first-hour review: each on the rendered page or its data."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from types import SimpleNamespace

import pytest

from aigenbench.evaluation.compare import compare_runs
from aigenbench.evaluation.intervals import IntervalOptions
from tests.evaluation.conftest import write_our_run


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<h2 id="{anchor}">')
    end = page.find("<h2 ", start + 1)
    return page[start : end if end != -1 else len(page)]


def _report(run_cli, run_dir) -> str:
    result = run_cli("report", run_dir)
    assert result.exit_code == 0, result.err
    return (run_dir / "report.html").read_text(encoding="utf-8")


def test_last_step_curves_say_why_there_is_no_next_curve(run_cli, our_run, tmp_path):
    curves = _section(_report(run_cli, our_run), "curves")
    assert "no Next curve" in curves and "Growing = Whole = All" in curves
    # A run stopped before its last window has a next window: no such note.
    partial = tmp_path / "partial"
    write_our_run(partial, steps=[0, 1])
    assert "no Next curve" not in _section(_report(run_cli, partial), "curves")


def test_brier_is_not_under_a_percent_header(run_cli, our_run):
    calibration = _section(_report(run_cli, our_run), "calibration")
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", calibration).group(1)
    titles = re.findall(r"<th[^>]*>(.*?)</th>", header)
    assert "Brier (0–1)" in titles and "ECE (%)" in titles
    row = re.search(r"<tbody><tr>(.*?)</tr>", calibration).group(1)
    brier = re.findall(r"<td[^>]*>(.*?)</td>", row)[titles.index("Brier (0–1)")]
    assert 0 <= float(brier) <= 1


AUDIT = {
    "shortcut": False,
    "verdict": "no shortcut",
    "per_window": [],
    "headline": {},
    "trait_auroc": {},
    "encoder": {
        "resolved": "timm:vit_small_patch14_dinov2.lvd142m",
        "data": "DINOv2 (LVD-142M)",
        "cutoff": "2023-04-14",
        "table": [
            {"data": d, "cutoff": c, "this_run": False, "generators_before_cutoff": 0}
            | {"generators": 6}
            for d, c in (("LAION-2B", "2022-03-31"), ("ImageNet", "2012-06-01"))
        ]
        + [
            {"data": "DINOv2 (LVD-142M)", "cutoff": "2023-04-14", "this_run": True}
            | {"generators_before_cutoff": 6, "generators": 6}
        ],
        "generators": [],
    },
}


def test_pretraining_cutoff_table_is_sorted_by_date(run_cli, our_run):
    (our_run / "audit").mkdir()
    (our_run / "audit" / "audit.json").write_text(json.dumps(AUDIT))
    shortcut = _section(_report(run_cli, our_run), "shortcut")
    cutoffs = re.findall(r"<td>(\d{4}-\d\d-\d\d)</td>", shortcut)
    assert cutoffs == ["2012-06-01", "2022-03-31", "2023-04-14"]


def test_audit_lists_pretraining_data_oldest_first():
    from aigenbench.evaluation.shortcut import encoder_exposure

    plan = SimpleNamespace(windows=[["GenA"]], timeline={"GenA": dt.date(2021, 1, 1)})
    document = encoder_exposure("timm:resnet50", False, plan)
    cutoffs = [row["cutoff"] for row in document["table"]]
    assert len(cutoffs) > 2 and cutoffs == sorted(cutoffs)


ROBUSTNESS = {
    "window": 1,
    "subsets": ["all", "next"],
    "clean": {"kind": "clean", "strength": None, "all": {"auroc": 0.9, "ap": 0.9}}
    | {"next": {"auroc": 0.8, "ap": 0.8}},
    "points": [
        {"kind": "jpeg", "strength": q, "all": {"auroc": a, "ap": a}, "next": {"auroc": n}}
        | {"next": {"auroc": n, "ap": n}}
        for q, a, n in ((90, 0.85, 0.75), (50, 0.7, 0.6))
    ],
}


def test_robustness_plot_starts_at_chance_and_shows_next():
    from aigenbench.evaluation.robustness import curves_plot

    (axes,) = curves_plot(ROBUSTNESS).axes
    assert 45 <= axes.get_ylim()[0] <= 50
    labels = [line.get_label() for line in axes.get_lines()]
    assert "AUROC next" in labels and "AUROC all" in labels
    nexts = next(line for line in axes.get_lines() if line.get_label() == "AUROC next")
    assert list(nexts.get_ydata()) == pytest.approx([60.0, 75.0])  # by strength
    # Worse than chance: the axis goes down far enough to show it.
    worse = json.loads(json.dumps(ROBUSTNESS))
    worse["points"][1]["next"]["auroc"] = 0.31
    (axes,) = curves_plot(worse).axes
    assert axes.get_ylim()[0] < 31


def test_comparing_a_run_with_itself_warns(run_cli, our_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(our_run, copy)
    intervals = IntervalOptions("bootstrap", resamples=20)
    same_folder = compare_runs([our_run, our_run], intervals=intervals)
    assert any("same run folder" in w for w in same_folder.warnings)
    copied = compare_runs([our_run, copy], intervals=intervals)
    assert any("identical scores" in w for w in copied.warnings)
    other = tmp_path / "other"
    write_our_run(other, score_seed=1)
    assert compare_runs([our_run, other], intervals=intervals).warnings == []
    result = run_cli("compare", our_run, copy, "--resamples", "20")
    assert result.exit_code == 0, result.err
    assert "warning:" in result.out and "identical scores" in result.out
    page = tmp_path / "cmp.html"
    assert run_cli("compare", our_run, copy, "--resamples", "20", "--html", page).exit_code == 0
    assert "Warning:" in page.read_text(encoding="utf-8")


def test_a_single_run_has_no_holm_wording(run_cli, our_run):
    result = run_cli("compare", our_run, "--resamples", "20")
    assert result.exit_code == 0, result.err
    assert "0 pair(s)" not in result.out and "Holm-adjusted" not in result.out
    assert "a single run: no pair to test" in result.out
