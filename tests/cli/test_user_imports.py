"""User code from the working directory: the ``aigenbench`` console script, run from the user's
folder without PYTHONPATH, imports ``my_method`` there (as ``python -m`` would), and ``predict``
imports what the experiment recorded."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.conftest import console
from tests.methods.conftest import TINY_REST

METHODS_MD = Path(__file__).parents[2] / "docs" / "METHODS.md"


def docs_block(language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", METHODS_MD.read_text(), flags=re.S)
    return next(block for block in blocks if marker in block)


@pytest.mark.slow
def test_the_console_script_imports_user_code_from_the_working_directory(tiny_benchmark, tmp_path):
    work = tmp_path / "user"
    work.mkdir()
    own_warning = '\nimport warnings\nwarnings.warn("my_method: a note of my own")\n'
    (work / "my_method.py").write_text(docs_block("python", "focal_highpass") + own_warning)
    (work / "my_method.yaml").write_text(docs_block("yaml", "method: focal_highpass"))
    (work / "tiny.yaml").write_text(TINY_REST)
    fit = console(
        [
            "fit", "--config", "my_method.yaml", "--config", "tiny.yaml",
            "--dataset", str(tiny_benchmark), "--experiment-id", "mine", "--window", "0",
            "--model.backbone", "timm:test_resnet", "--model.pretrained", "false",
            "--model.input_size", "32",
        ],
        work,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    assert (work / "runs" / "mine" / "window_0" / "DONE").is_file()

    image = work / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)).save(image)
    # no --import: predict imports the modules the experiment's config recorded
    predict = console(["predict", "runs/mine/window_0", "image.png", "--no_progress"], work)
    assert predict.returncode == 0, predict.stderr
    assert 0.0 <= float(predict.stdout.strip().splitlines()[-1].split(",")[1]) <= 1.0
    # quiet by default: no library banners, tips or deprecations; the user's warning shows
    for noise in ("GPU available", "TPU available", "Tip", "deprecated", "LeafSpec"):
        assert noise not in predict.stderr and noise not in fit.stderr, noise
    assert "my_method: a note of my own" in predict.stderr

    # a module that is not there: predict's error names predict's own flag
    missing = console(
        ["predict", "runs/mine/window_0", "image.png", "--import", "not_here", "--no_progress"],
        work,
    )
    assert missing.returncode == 2
    assert "--import: cannot import 'not_here'" in missing.stderr
    assert "Traceback" not in missing.stderr
