"""User methods through ``fit``: the docs' worked example exactly as written in
docs/METHODS.md, and a method named by import path with window hooks and its own pixels."""

from __future__ import annotations

import csv
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigenbench.cli import main
from tests.training.conftest import fit_args, load_predictions

from .conftest import TINY_REST

DOCS = Path(__file__).parents[2] / "docs" / "METHODS.md"
TINY_MODEL = [
    "--model.backbone",
    "timm:test_resnet",
    "--model.pretrained",
    "false",
    "--model.input_size",
    "32",
]


def docs_blocks(language: str) -> list[str]:
    text = DOCS.read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def logged(run: Path, window: int) -> list[dict[str, str]]:
    path = run / "logs" / "csv" / f"window_{window}" / "metrics.csv"
    return list(csv.DictReader(path.open()))


@pytest.mark.slow
def test_the_docs_worked_example_trains_with_its_loss_and_metric(
    tiny_benchmark, tmp_path, monkeypatch, run_cli
):
    python = next(block for block in docs_blocks("python") if "focal_highpass" in block)
    config_text = next(block for block in docs_blocks("yaml") if "method: focal_highpass" in block)
    (tmp_path / "my_method.py").write_text(python)
    (tmp_path / "my_method.yaml").write_text(config_text)
    (tmp_path / "tiny.yaml").write_text(TINY_REST)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = fit_args(tmp_path / "my_method.yaml", tiny_benchmark, tmp_path, "docs")
    args += ["--config", str(tmp_path / "tiny.yaml"), *TINY_MODEL]
    assert main(args) == 0
    run = tmp_path / "docs"
    for window in (0, 1):
        # the custom metric is computed on the window's evaluation images: it equals the
        # accuracy of the predictions file's scores at 0.5
        metrics = json.loads((run / f"window_{window}" / "method_metrics.json").read_text())
        predictions = load_predictions(run, window)
        truth = predictions["fused_generator_ids"] != 0
        accuracy = float(np.mean((predictions["fused_scores"] > 0.5) == truth))
        assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-6)
        # the custom loss is what trains: the focal loss is below the BCE it weighs down
        rows = [r for r in logged(run, window) if r.get("train/loss_step")]
        assert rows and all(float(r["train/loss_step"]) < float(r["train/bce_step"]) for r in rows)
    # predict rebuilds the user's network from the checkpoint (the module imported again)
    image = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)).save(image)
    result = run_cli("predict", run, image, "--import", "my_method", "--no_progress")
    assert result.exit_code == 0, result.err
    assert 0.0 <= float(result.out.strip().splitlines()[-1].split(",")[1]) <= 1.0


HOOKED = textwrap.dedent(
    """
    import numpy as np
    from aigenbench.methods import Method, TrainAugmentation

    EVENTS = []
    CALLS = {"deterministic": 0}


    class Darken:
        def __call__(self, image, rng):
            CALLS["deterministic"] += 1
            return (image // 2).astype(np.uint8)


    class Hooked(Method):
        def on_window_start(self):
            EVENTS.append(("start", self.window))

        def on_window_end(self):
            EVENTS.append(("end", self.window))

        def train_augmentation(self):
            return TrainAugmentation(deterministic=Darken())
    """
)


@pytest.mark.slow
def test_a_method_by_import_path_gets_its_hooks_and_pixels(tiny_benchmark, tmp_path, monkeypatch):
    (tmp_path / "hooked_method.py").write_text(HOOKED)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "hooked.yaml"
    config.write_text(
        "experiment:\n  imports: [hooked_method]\n"
        "model:\n  method: hooked_method.Hooked\n  freezing: tune\n" + TINY_REST
    )
    assert main([*fit_args(config, tiny_benchmark, tmp_path, "hooked"), *TINY_MODEL]) == 0
    import hooked_method

    assert hooked_method.EVENTS == [("start", 0), ("end", 0), ("start", 1), ("end", 1)]
    assert hooked_method.CALLS["deterministic"] > 0  # the method's pixels reached training
