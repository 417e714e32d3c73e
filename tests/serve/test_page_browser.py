"""The page in a real browser (Playwright on the system Chromium) against the console command
``aigenbench serve`` started from a fresh folder: two images get predict's scores, a non-image
gets the server's reason."""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.evaluation.test_report import _chromium


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def console_script() -> str:
    """The installed ``aigenbench`` command beside this interpreter (what a user runs)."""
    found = Path(sys.executable).parent / "aigenbench"
    return str(found) if found.is_file() else shutil.which("aigenbench") or "aigenbench"


def start_server(model: Path, cwd: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [console_script(), "serve", str(model), "--port", str(port), *extra],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {process.stdout.read()}")
        try:
            if httpx.get(url + "health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError("serve did not answer /health within 120 s")


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    """One server for the module (starting one imports torch and the model: seconds)."""
    fresh = tmp_path_factory.mktemp("fresh")
    process, url = start_server(exported, fresh)
    yield url
    output = stop(process)
    assert "Traceback" not in output, output


def test_console_script_serves_on_localhost(server):
    assert server.startswith("http://127.0.0.1:")
    assert httpx.get(server + "health").json()["status"] == "ok"


@pytest.mark.browser
def test_page_scores_two_images_like_predict_and_shows_a_refusal(
    server, run_cli, exported, photos, tmp_path
):
    binary = _chromium()
    if binary is None:
        if os.environ.get("AIGENBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "AIGENBENCH_REQUIRE_BROWSER=1 but no chromium found (apt-get install chromium)"
            )
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    out = tmp_path / "predict.csv"
    assert run_cli("predict", exported, *photos, "-o", out).exit_code == 0
    expected = {
        Path(row["path"]).name: float(row["score"])
        for row in csv.DictReader(io.StringIO(out.read_text()))
    }
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=binary,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            page = browser.new_page()
            page.goto(server)
            assert "Drop images here" in page.text_content("#drop")
            page.set_input_files("#files", [str(p) for p in photos])
            page.wait_for_function(
                "document.querySelectorAll('td[data-probability]').length === 2", timeout=60_000
            )
            rows = page.eval_on_selector_all(
                "#results tbody tr",
                "rows => rows.map(r => [r.cells[0].textContent, "
                "Number(r.cells[1].dataset.probability), r.cells[1].textContent, "
                "r.cells[2].textContent])",
            )
            assert {name for name, *_ in rows} == set(expected)
            for name, probability, shown, label in rows:
                assert probability == pytest.approx(expected[name], abs=1e-6)
                assert shown == f"{expected[name]:.4f}"
                assert label in ("fake", "real")
            assert page.text_content("#error") == ""

            page.set_input_files("#files", [str(text_file)])
            page.wait_for_function(
                "document.getElementById('error').textContent !== ''", timeout=30_000
            )
            error = page.text_content("#error")
            assert "Refused (415)" in error and "notes.txt" in error and "not an image" in error
            # The earlier results stay; the server still scores after the refusal.
            assert page.eval_on_selector_all("td[data-probability]", "c => c.length") == 2
        finally:
            browser.close()
    assert httpx.get(server + "health").status_code == 200
