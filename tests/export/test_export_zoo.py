"""Every zoo method exports and reloads with predict's scores: from the folder, from the run,
through ``aigenbench predict DIR``, for every kind of image input."""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

import aigenbench
from aigenbench.export.writing import export
from aigenbench.inference import score_files

from .conftest import ZOO, zoo_checkpoint


def onnx_installed() -> bool:
    """The onnx extra is there (`make test` installs it; required when CI says so)."""
    import importlib.util
    import os

    found = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
    if not found and os.environ.get("AIGENBENCH_REQUIRE_EXTRAS") == "1":
        pytest.fail("onnx / onnxruntime are missing: `make test` installs the onnx extra")
    return found


def onnx_scores(folder, images) -> np.ndarray:
    """Scores of ``model.onnx`` by onnxruntime, following config.json alone: its transform's
    pixels (crop-if-large, crop to the input size), normalisation, score and mean fusion."""
    import json

    import onnxruntime

    from aigenbench.data.decode import decode_file
    from aigenbench.data.pipelines import EvalPipeline
    from aigenbench.scoring import fake_scores

    config = json.loads((folder / "config.json").read_text())
    transform = config["transform"]
    assert transform["fusion"] == "mean" and not transform["method_pixel_hooks"]
    pixels = EvalPipeline(
        input_size=transform["input_size"],
        crop=transform["crop"],
        maximum_processing_size=transform["crop_if_larger_than"],
        degradations=False,
    )
    mean = np.asarray(transform["normalize"]["mean"], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(transform["normalize"]["std"], dtype=np.float32).reshape(1, 3, 1, 1)
    session = onnxruntime.InferenceSession(str(folder / config["onnx"]["file"]))
    scores = []
    for index, path in enumerate(images):
        crops = np.stack([c.numpy() for c in pixels(decode_file(path), index)]).astype(np.float32)
        normalised = (crops - mean) / std
        if config["onnx"]["batch"] == 1:  # a graph that takes one crop at a time
            logits = np.concatenate(
                [session.run(["logits"], {"crops": crop[None]})[0] for crop in normalised]
            )
        else:
            logits = session.run(["logits"], {"crops": normalised})[0]
        scores.append(fake_scores(logits).mean())
    return np.asarray(scores)


CASES = [*sorted(ZOO), "multiclass"]


@pytest.mark.parametrize("name", CASES)
def test_every_zoo_method_exports_and_reloads_with_predicts_scores(name, images, tmp_path, run_cli):
    overrides = {"task": "multiclass"} if name == "multiclass" else {}
    checkpoint = zoo_checkpoint(tmp_path, "univfd" if name == "multiclass" else name, **overrides)
    folder = tmp_path / "exported"
    with_onnx = onnx_installed()
    config = export(checkpoint.parent.parent, folder, onnx=with_onnx)

    # Hugging Face layout, no pickle anywhere
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        *(["model.onnx"] if with_onnx else []),
        "model.safetensors",
    ]
    weights = (folder / "model.safetensors").read_bytes()
    assert config["detector_id"] == f"run-window_0-{hashlib.sha256(weights).hexdigest()[:12]}"

    expected = [row.score for row in score_files(checkpoint, images, progress=False).rows]
    detector = aigenbench.load_detector(folder, device="cpu")
    assert isinstance(detector, aigenbench.LoadedDetector) and not detector.training
    scores = detector.score(images)
    assert scores.dtype == np.float64 and scores.shape == (4,)
    np.testing.assert_array_equal(scores, np.asarray(expected, dtype=np.float32))
    # the run itself loads to the same detector
    from_run = aigenbench.load_detector(checkpoint.parent.parent)
    assert from_run.detector_id == detector.detector_id
    np.testing.assert_array_equal(from_run.score(images), scores)
    # every kind of input: paths, bytes, PIL images, arrays
    as_bytes = [path.read_bytes() for path in images]
    as_pil = [Image.open(path) for path in images]
    as_arrays = [np.asarray(Image.open(path).convert("RGB")) for path in images]
    for inputs in (as_bytes, as_pil, as_arrays, [str(p) for p in images]):
        np.testing.assert_array_equal(detector.score(inputs), scores)

    if with_onnx:  # onnxruntime on the transform config.json spells out: PyTorch's scores
        assert config["onnx"]["opset"] == 17
        assert config["onnx"]["batch"] == (1 if name == "rine" else "any")
        onnx = onnx_scores(folder, images)
        assert np.max(np.abs(onnx - scores)) <= config["onnx"]["tolerance"] == 1e-4

    verdicts = detector.classify(images)
    assert [v.probability for v in verdicts] == list(scores)
    assert [v.label for v in verdicts] == ["fake" if s > 0.5 else "real" for s in scores]
    if name == "multiclass":
        assert all(v.generator in ("gen_a", "gen_b", "gen_c", "gen_d") for v in verdicts)
    else:
        assert all(v.generator is None for v in verdicts)

    if name not in ("lora", "multiclass"):
        return  # predict's own path is the same for every method: two cases show it
    # `aigenbench predict DIR photos/` on the folder, like on the run
    result = run_cli("predict", folder, *images, "--no_progress")
    assert result.exit_code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [float(row["score"]) for row in rows] == pytest.approx(list(scores), abs=1e-6)
