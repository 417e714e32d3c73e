"""What a user runs: the installed console script exports from a fresh folder, and another
Python process loads the folder (templates packaged, no test-suite path) with equal scores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import aigenbench

from .conftest import zoo_checkpoint


def test_console_export_then_load_in_a_fresh_process(tmp_path, images):
    checkpoint = zoo_checkpoint(tmp_path / "source", "univfd")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    console = Path(sys.executable).with_name("aigenbench")
    command = [str(console)] if console.exists() else [shutil.which("aigenbench") or "aigenbench"]
    done = subprocess.run(
        [*command, "export", str(checkpoint.parent.parent), "-o", "detector"],
        cwd=fresh,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "exported run-window_0-" in done.stdout
    script = (
        "import json, sys, aigenbench; d = aigenbench.load_detector('detector'); "
        "print(json.dumps([d.detector_id, d.score(sys.argv[1:]).tolist()]))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script, *map(str, images)],
        cwd=fresh,
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    detector_id, scores = json.loads(loaded.stdout.strip().splitlines()[-1])
    here = aigenbench.load_detector(fresh / "detector")
    assert detector_id == here.detector_id
    assert scores == here.score(images).tolist()
