"""``aigenbench report``: a self-contained report.html, PNGs beside it, a real browser render."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from tests.evaluation.conftest import SMALL_WINDOWS, write_our_run

HEADINGS = (
    "Summary",
    "AUROC over time",
    "Window × window AUROC",
    "Per-generator AUROC",
    "Operating points and calibration",
    "Threshold transfer",
    "All metrics per subset",
    "Configuration",
    "Data summary",
)
PLOTS = {
    "auroc_over_time.png",
    "matrix.png",
    "generators.png",
    "roc.png",
    "pr.png",
    "det.png",
    "reliability.png",
}


def test_report_is_self_contained_with_every_section(run_cli, our_run):
    result = run_cli("report", our_run)
    assert result.exit_code == 0, result.err
    page = (our_run / "report.html").read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert heading in page
    assert "ROC, precision–recall and DET curves (step 2)" in page
    # Nothing fetched from anywhere: no links, scripts, external images or stylesheets.
    assert not re.search(r"(src|href)=\"(?!data:|#)", page)
    assert "<script" not in page and "<link" not in page and "http://" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 7
    for encoded in images:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
            assert image.format == "PNG" and image.width > 200
    # The config is shown escaped, the data summary's unreadable images are flagged.
    assert "&lt;b&gt;not html&lt;/b&gt;" in page
    assert "data.unreadable_images" in page
    assert {p.name for p in (our_run / "plots").iterdir()} == PLOTS
    for generator in (g for window in SMALL_WINDOWS for g in window):
        assert generator in page
    assert "report:" in result.out


def test_report_without_config_or_summary_and_to_another_path(run_cli, tmp_path):
    run_dir = tmp_path / "bare"
    write_our_run(run_dir, steps=[0, 1])
    out = tmp_path / "elsewhere" / "r.html"
    out.parent.mkdir()
    result = run_cli("report", run_dir, "-o", out)
    assert result.exit_code == 0, result.err
    page = out.read_text(encoding="utf-8")
    assert "No config.yaml" in page and "No data summary" in page
    assert "incomplete run" in page
    assert (tmp_path / "elsewhere" / "plots" / "matrix.png").is_file()


def test_report_errors_exit_2(run_cli, tmp_path):
    result = run_cli("report", tmp_path / "missing")
    assert result.exit_code == 2 and "does not exist" in result.err


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _run_chromium(binary: str, profile, *arguments: str) -> subprocess.CompletedProcess:
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(run_cli, our_run, tmp_path):
    binary = _chromium()
    if binary is None:
        if os.environ.get("AIGENBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "AIGENBENCH_REQUIRE_BROWSER=1 but no chromium found (apt-get install chromium)"
            )
        pytest.skip("chromium is not installed")
    assert run_cli("report", our_run).exit_code == 0
    url = (our_run / "report.html").resolve().as_uri()

    dom = _run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for heading in HEADINGS:
        assert heading in dom.stdout
    assert dom.stdout.count("data:image/png;base64,") == 7

    shot = tmp_path / "shot.png"
    rendered = _run_chromium(
        binary, tmp_path / "profile-shot", "--window-size=1100,1400", f"--screenshot={shot}", url
    )
    assert rendered.returncode == 0 and shot.is_file(), rendered.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    non_white = (pixels.sum(axis=2) < 740).mean()
    assert 0.02 < non_white < 0.9  # text, tables and a figure; not blank
    # The first figure (AUROC over time) was decoded and painted: matplotlib's default blue
    # line (#1f77b4) and orange (#ff7f0e) are on screen.
    for colour in ((31, 119, 180), (255, 127, 14)):
        close = (np.abs(pixels - np.array(colour)).sum(axis=2) < 30).sum()
        assert close > 50, f"colour {colour} not found: the plot image did not render"


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<h2 id="{anchor}">')
    end = page.find("<h2 ", start + 1)
    return page[start : end if end != -1 else len(page)]


def test_report_defines_its_terms_and_shows_intervals(run_cli, our_run):
    assert run_cli("report", our_run).exit_code == 0
    page = (our_run / "report.html").read_text(encoding="utf-8")
    summary = _section(page, "summary")
    for term in ("backward transfer (BWT)", "forgetting", "forward transfer (FWT)"):
        assert term in summary
    assert "0 = nothing forgotten" in summary and "before training on it" in summary
    assert "95% DeLong intervals" in summary
    # Every AUROC of the over-time table has its interval: "90.12 (85.3–94.0)".
    over_time = _section(page, "over-time")
    assert len(re.findall(r"\d+\.\d\d \(\d+\.\d–\d+\.\d\)", over_time)) >= 3 * 4
    assert "TPR@FPR 5%" in _section(page, "calibration")
    assert "oracle" in _section(page, "thresholds")


def test_average_rows_do_not_average_thresholds_or_counts(run_cli, our_run):
    assert run_cli("report", our_run).exit_code == 0
    page = (our_run / "report.html").read_text(encoding="utf-8")
    metrics = _section(page, "metrics")
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", metrics).group(1)
    titles = re.findall(r"<th[^>]*>(.*?)</th>", header)
    average = re.search(r'<tr class="average">(.*?)</tr>', metrics).group(1)
    cells = dict(zip(titles, re.findall(r"<td[^>]*>(.*?)</td>", average), strict=True))
    assert cells["best-F1 threshold"] == cells["reals"] == cells["fakes"] == ""
    assert cells["AUROC"] not in ("", "—")


def test_data_summary_is_a_table_not_json(run_cli, our_run):
    assert run_cli("report", our_run).exit_code == 0
    data = _section((our_run / "report.html").read_text(encoding="utf-8"), "data")
    assert "<pre>" not in data and "{" not in data
    assert "data.unreadable images" in data and "id 17, path x.png" in data


def test_data_summary_says_none_for_an_empty_section(run_cli, our_run):
    summary = {"data": {"dropped_rows": {"train": {}, "validation": {"GenX": 3}}}}
    (our_run / "summary.json").write_text(json.dumps(summary))
    assert run_cli("report", our_run).exit_code == 0
    data = _section((our_run / "report.html").read_text(encoding="utf-8"), "data")
    assert 'rows.train</td><td class="name">none</td>' in data
    assert "GenX 3" in data


def test_report_compares_with_other_runs(run_cli, our_run, tmp_path):
    other = tmp_path / "other"
    write_our_run(other, score_seed=1)
    result = run_cli("report", our_run, "--compare", other, "--resamples", "50")
    assert result.exit_code == 0, result.err
    comparison = _section((our_run / "report.html").read_text(encoding="utf-8"), "comparison")
    assert "Paired tests" in comparison and "other" in comparison and "exp1" in comparison
    assert "50 resamples" in comparison


def test_auroc_legend_covers_no_data(our_run):
    from aigenbench.evaluation.experiment import evaluate_experiment
    from aigenbench.evaluation.intervals import IntervalOptions
    from aigenbench.evaluation.plots import auroc_over_time_figure

    figure = auroc_over_time_figure(
        evaluate_experiment(our_run, intervals=IntervalOptions("delong"))
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    (axes,) = figure.axes
    renderer = canvas.get_renderer()
    legend = axes.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(axes.get_window_extent(renderer))


def test_heatmap_colours_reach_below_chance():
    from aigenbench.evaluation.plots import colour_floor

    assert colour_floor(np.array([[0.9, 0.7], [np.nan, 0.55]])) == 50
    assert colour_floor(np.array([[0.9, 0.31]])) == 30  # a detector worse than chance shows


def test_generator_heatmap_marks_windows_and_readable_text(our_run):
    from aigenbench.evaluation.experiment import evaluate_experiment
    from aigenbench.evaluation.plots import generator_heatmap_figure

    evaluation = evaluate_experiment(our_run)
    figure = generator_heatmap_figure(evaluation)
    axes = figure.axes[0]
    boundaries = sorted(
        line.get_ydata()[0] for line in axes.get_lines() if line.get_color() == "white"
    )
    assert boundaries == [1.5, 3.5]  # between the 2-generator windows
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert labels[0] == "w0  ProGAN" and labels[-1] == "w2  FLUX"
    assert min(text.get_fontsize() for text in axes.texts) >= 8
