"""``aigenbench predict`` runs through the Lightning Trainer: devices, DDP and bars come with it."""

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
from tests.training.conftest import fit_args, run_aigenbench, write_config


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(7):  # odd: two processes get unequal shares (the sampler pads one)
        pixels = rng.integers(0, 256, (40 + 3 * index, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"p{index}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


def scores_of(text: str) -> dict[str, str]:
    return {Path(row["path"]).name: row["score"] for row in csv.DictReader(io.StringIO(text))}


def test_two_processes_score_like_one(finished, pictures, tmp_path):
    run_dir, _ = finished
    one = run_aigenbench(["predict", str(run_dir), str(pictures), "-o", str(tmp_path / "1.csv")])
    assert one.returncode == 0, one.stderr
    two = run_aigenbench(
        [
            "predict",
            str(run_dir),
            str(pictures),
            "-o",
            str(tmp_path / "2.csv"),
            "--trainer.accelerator",
            "cpu",
            "--trainer.devices",
            "2",
            "--trainer.strategy",
            "ddp",
            "--batch_size",
            "2",
        ],
        timeout=600,
    )
    assert two.returncode == 0, two.stdout + two.stderr
    assert "GLOBAL_RANK: 1" in two.stdout + two.stderr  # really two processes
    single = scores_of((tmp_path / "1.csv").read_text())
    double = scores_of((tmp_path / "2.csv").read_text())
    assert list(single) == list(double)  # every file once, in the given order
    assert single["broken.jpg"] == double["broken.jpg"] == ""
    for name in single:
        if single[name]:
            assert float(double[name]) == pytest.approx(float(single[name]), abs=1e-5)


def test_log_file_output_no_bar_unix_lines_and_the_checkpoint_named(finished, pictures, tmp_path):
    run_dir, _ = finished
    out = tmp_path / "scores.csv"
    done = run_aigenbench(["predict", str(run_dir), str(pictures), "-o", str(out)])
    assert done.returncode == 0, done.stderr
    assert b"\r" not in out.read_bytes()  # awk and grep see 'fake', not 'fake\r'
    assert "\r" not in done.stderr and "scoring images" not in done.stderr  # no bar in a log
    assert f"with {run_dir / 'window_1' / 'checkpoints' / 'final.ckpt'}" in done.stderr


def test_multiclass_names_the_likeliest_generator(tiny_benchmark, tmp_path, run_cli):
    config = write_config(tmp_path)
    fitted = run_cli(
        *fit_args(config, tiny_benchmark, tmp_path, "multi", "--window", "0"),
        "--model.task",
        "multiclass",
        "--trainer.max_steps",
        "3",
    )
    assert fitted.exit_code == 0, fitted.err
    image = tmp_path / "one.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
    result = run_cli("predict", tmp_path / "multi" / "window_0", image, "--no_progress")
    assert result.exit_code == 0, result.err
    row = next(csv.DictReader(io.StringIO(result.out)))
    loaded = load_detector(tmp_path / "multi" / "window_0" / "checkpoints" / "final.ckpt")
    pixels = to_tensor(resize(decode_file(image), 32, 32, "bilinear"))[None]
    with torch.inference_mode():
        logits = loaded.detector(loaded.detector.normalize(pixels))[0]
    known = torch.zeros_like(logits, dtype=torch.bool)
    known[list(loaded.known_generator_ids)] = True
    logits = logits.masked_fill(~known, float("-inf"))
    expected = loaded.generator_names[1 + int(torch.argmax(logits[1:]))]
    assert row["generator"] == expected
    assert loaded.generator_names.index(expected) in loaded.known_generator_ids


def test_multiclass_probabilities_are_the_mean_over_every_crop_of_an_image():
    """predict's likeliest generator comes from the crop-averaged class probabilities: with
    three crops, dropping any one of them would name another generator for image 7."""
    from aigenbench.inference import per_image

    big = 4.0
    logits = torch.tensor(
        [
            [0.0, big, 0.0],  # image 7: two crops vote class 1 ...
            [0.0, big, 0.0],
            [0.0, 0.0, 3 * big],  # ... one crop votes class 2 more strongly
            [0.0, 0.0, big],  # image 9: one crop
        ]
    )
    rows = {
        "id": torch.tensor([7, 7, 7, 9]),
        "logits": logits,
        "image_id": torch.tensor([7, 9]),
        "image_score": torch.tensor([0.9, 0.8]),
    }
    result = per_image([rows], multiclass=True)
    crops = torch.softmax(logits, dim=1).numpy()
    np.testing.assert_allclose(result["probabilities"][0], crops[:3].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(result["probabilities"][1], crops[3], rtol=1e-6)
    assert int(np.argmax(result["probabilities"][0][1:])) + 1 == 1
    assert result["id"].tolist() == [7, 9]
