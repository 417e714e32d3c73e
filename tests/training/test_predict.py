"""``aigenbench predict``: scores for files and folders; unreadable files reported, no crash."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigenbench.data.decode import decode_file
from aigenbench.data.ops import resize, to_tensor
from aigenbench.models.build import load_detector


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    from skimage import data

    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    Image.fromarray(data.astronaut()[:200, :300]).save(folder / "astronaut.jpg", quality=92)
    Image.fromarray(data.coffee()[:120, :160]).save(folder / "nested" / "coffee.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image, and not looked at")
    return folder


def read_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_predict_over_a_folder_with_corrupt_files(finished, photos, run_cli, tmp_path):
    run_dir, _ = finished
    out = tmp_path / "scores.csv"
    result = run_cli("predict", run_dir / "window_1", photos, "-o", out, "--no_progress")
    assert result.exit_code == 0, result.err
    rows = {Path(row["path"]).name: row for row in read_rows(out.read_text())}
    assert set(rows) == {"astronaut.jpg", "coffee.png", "corrupt.jpg", "empty.png"}
    for name in ("astronaut.jpg", "coffee.png"):
        assert 0.0 <= float(rows[name]["score"]) <= 1.0
        assert rows[name]["label"] in ("fake", "real")
    for name in ("corrupt.jpg", "empty.png"):
        assert rows[name] == {**rows[name], "score": "", "label": "unreadable"}
    assert "2 file(s) could not be read" in result.err
    assert "empty.png: empty file" in result.err


def test_scores_are_the_model_on_the_evaluation_transform(finished, photos, run_cli):
    """No benchmark degradation: the score is the detector on the resized image."""
    run_dir, _ = finished
    path = photos / "astronaut.jpg"
    result = run_cli("predict", run_dir / "window_1", path, "--no_progress")
    score = float(read_rows(result.out)[0]["score"])
    loaded = load_detector(run_dir / "window_1" / "checkpoints" / "final.ckpt")
    size = loaded.config.input_size
    image = to_tensor(resize(decode_file(path), size, size, "bilinear"))[None]
    with torch.inference_mode():
        logit = loaded.detector(loaded.detector.normalize(image))
    assert score == pytest.approx(torch.sigmoid(logit[0, 0]).item(), abs=1e-6)


def test_experiment_folder_uses_its_last_window(finished, photos, run_cli):
    run_dir, _ = finished
    by_window = run_cli("predict", run_dir / "window_1", photos / "nested", "--no_progress")
    by_experiment = run_cli("predict", run_dir, photos / "nested", "--no_progress")
    by_file = run_cli(
        "predict",
        run_dir / "window_1" / "checkpoints" / "final.ckpt",
        photos / "nested",
        "--no_progress",
    )
    assert by_window.out == by_experiment.out == by_file.out
    window0 = run_cli("predict", run_dir / "window_0", photos / "nested", "--no_progress")
    assert window0.out != by_window.out


def test_threshold_sets_the_labels(finished, photos, run_cli):
    run_dir, _ = finished
    everything_fake = run_cli("predict", run_dir, photos, "--threshold", "-1", "--no_progress")
    labels = {row["label"] for row in read_rows(everything_fake.out)}
    assert labels == {"fake", "unreadable"}


@pytest.mark.parametrize(
    ("model", "paths", "message"),
    [
        ("{run}", "{missing}", "does not exist"),
        ("{empty}", "{photos}", "no trained detector"),
        ("{run}", "{empty}", "no image found"),
    ],
)
def test_bad_input_is_a_clear_error(finished, photos, run_cli, tmp_path, model, paths, message):
    run_dir, _ = finished
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    values = {"run": run_dir, "missing": tmp_path / "nope", "empty": empty, "photos": photos}
    result = run_cli("predict", model.format(**values), paths.format(**values), "--no_progress")
    assert result.exit_code == 2
    assert message in result.err
    assert "Traceback" not in result.err


def test_multicrop_model_gets_five_crops_per_image(photos):
    from aigenbench.data.pipelines import EvalPipeline
    from aigenbench.inference import ImageFiles

    pipeline = EvalPipeline(input_size=32, crop="multicrop", degradations=False)
    item = ImageFiles([photos / "astronaut.jpg"], pipeline, 1 << 27)[0]
    assert len(item["crops"]) == 5 and item["error"] is None
    assert np.all([tuple(c.shape) == (3, 32, 32) for c in item["crops"]])
