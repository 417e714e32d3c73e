"""``aigenbench report``: a self-contained report.html, PNGs beside it, a real browser render."""

from __future__ import annotations

import base64
import io
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
    "Configuration",
    "Data summary",
)
PLOTS = {"auroc_over_time.png", "matrix.png", "generators.png", "roc.png", "pr.png", "det.png"}


def test_report_is_self_contained_with_every_section(run_cli, our_run):
    result = run_cli("report", our_run)
    assert result.exit_code == 0, result.err
    page = (our_run / "report.html").read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert heading in page
    assert "ROC, precision–recall and DET curves (step 2)" in page
    # Nothing fetched from anywhere: no links, scripts, external images or stylesheets.
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "<script" not in page and "<link" not in page and "http://" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 6
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
    assert dom.stdout.count("data:image/png;base64,") == 6

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
