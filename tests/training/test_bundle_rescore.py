"""``bundle --weights`` and ``verify --rescore``: scores proven by the bundled weights.

The run is the shared two-window experiment of the runner tests (a tiny CNN trained on the
tiny synthetic benchmark); every test works on its own copy of it.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from aigenbench.evaluation.predictions import load_predictions, save_predictions
from aigenbench.evaluation.rescore import PRECISION_TOLERANCE, WEIGHTS, crop_scores, draw
from aigenbench.scoring import fuse_mean, image_runs

TOLERANCE = PRECISION_TOLERANCE["32"]  # the run's trainer.precision is 32-true


@pytest.fixture
def run(finished, tmp_path) -> Path:
    """A copy of the finished run without summary.json (a forger rewrites it; the headline
    check is not what these tests are about)."""
    copy = tmp_path / "run"
    shutil.copytree(finished[0], copy, ignore=shutil.ignore_patterns("logs", "summary.json"))
    return copy


def _verify(run_cli, bundle: Path, *extra: str) -> dict:
    result = run_cli("verify", bundle, "--json", *extra)
    data = json.loads(result.out)
    assert result.exit_code == {"verified": 0, "failed": 1, "incomplete": 3}[data["verdict"]]
    return data


def _status(data: dict) -> dict[str, str]:
    return {check["name"]: check["status"] for check in data["checks"]}


def _rescore(data: dict) -> dict:
    return next(check for check in data["checks"] if check["name"] == "rescore")


def _set_scores(run: Path, window: int, change) -> None:
    """Replace a window's crop scores by ``change(crop_ids, scores)`` (fused keys follow)."""
    path = run / f"window_{window}" / "predictions_validate.npz"
    predictions = load_predictions(path)
    scores = np.asarray(change(predictions.crop_identifiers, predictions.crop_scores.copy()))
    predictions.crop_scores = scores.astype(np.float32)
    starts, counts = image_runs(predictions.crop_identifiers)
    predictions.fused_scores = fuse_mean(predictions.crop_scores, starts, counts)
    save_predictions(path, predictions)


def test_an_honest_bundle_with_weights_is_rescored_and_verified(run_cli, run, tmp_path):
    made = run_cli("bundle", run, "-o", tmp_path / "b.zip", "--weights")
    assert made.exit_code == 0, made.err
    assert "--rescore" in made.out
    data = _verify(run_cli, tmp_path / "b.zip", "--rescore", "6", "--seed", "3")
    assert data["verdict"] == "verified", data
    assert _status(data)["rescore"] == "pass"
    assert "12 images (6 per window, seed 3)" in _rescore(data)["detail"]


def test_a_single_edited_score_is_caught(run_cli, run, tmp_path):
    def nudge_one(ids, scores):
        crops = ids == ids[len(ids) // 2]
        scores[crops] += 0.05 if scores[crops].mean() < 0.5 else -0.05
        return scores

    _set_scores(run, 1, nudge_one)
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip", "--weights").exit_code == 0
    data = _verify(run_cli, tmp_path / "b.zip", "--rescore", "100000", "--seed", "0")
    status = _status(data)
    assert status["rescore"] == "fail"
    assert {k: v for k, v in status.items() if k != "rescore"} == dict.fromkeys(
        [k for k in status if k != "rescore"], "pass"
    )
    detail = _rescore(data)["detail"]
    assert "window 1: 1 of " in detail and "window 0" not in detail


def _module_of(run: Path, window: int):
    from aigenbench.methods import resolve_method
    from aigenbench.models.build import load_detector

    loaded = load_detector(run / f"window_{window}" / "checkpoints" / "final.ckpt")
    return resolve_method(loaded.config.method)(
        loaded.config,
        loaded.generator_names,
        window=loaded.window,
        known_generator_ids=loaded.known_generator_ids,
        detector=loaded.detector,
    )


def test_scores_computed_in_float64_verify_within_the_tolerance(run_cli, run, tmp_path):
    """Another machine's precision, simulated: every submitted score computed in float64 (the
    whole network), the verifier scores in float32. The difference is not zero and stays
    within the tolerance of 32-bit runs."""
    from aigenbench.data.config import DataConfig
    from aigenbench.data.sources import open_source
    from aigenbench.protocol import make_plan

    config = yaml.safe_load((run / "config.yaml").read_text())
    source = open_source(config["data"]["source"])
    plan = make_plan(
        source.generators("train"), source.generators("validation"), None, source.timeline
    )
    data_config = DataConfig(**{**config["data"], "num_workers": 0})
    for window in range(plan.n_windows):
        # the images verify --rescore 24 --seed 0 draws (the others are never compared)
        ids = draw(np.asarray(plan.evaluation("validate").ids), 24, 0, window)
        double = crop_scores(
            _module_of(run, window), source, plan, ids, data_config, precision="64-true"
        )

        def in_float64(crop_ids, scores, double=double):
            for image_id, values in double.items():
                scores[crop_ids == image_id] = values
            return scores

        _set_scores(run, window, in_float64)
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip", "--weights").exit_code == 0
    data = _verify(run_cli, tmp_path / "b.zip", "--rescore", "24", "--seed", "0")
    assert data["verdict"] == "verified", data
    largest = float(_rescore(data)["detail"].rsplit("largest difference ", 1)[1])
    assert 0 < largest < TOLERANCE
    print(f"float64 vs float32 scores: largest difference {largest:.2g}")


@pytest.mark.parametrize(("shift", "verdict"), [(0.9, "verified"), (1.5, "failed")])
def test_the_tolerance_is_the_stated_one(run_cli, run, tmp_path, shift, verdict):
    """Every score moved towards 0.5 by a fraction of the tolerance passes; past it, fails."""

    def move(ids, scores):
        return scores + np.where(scores < 0.5, 1, -1) * shift * TOLERANCE

    for window in (0, 1):
        _set_scores(run, window, move)
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip", "--weights").exit_code == 0
    data = _verify(run_cli, tmp_path / "b.zip", "--rescore", "5", "--seed", "1")
    assert data["verdict"] == verdict, _rescore(data)


def test_tensors_equal_across_windows_are_stored_once(run_cli, run, tmp_path):
    shutil.copy(
        run / "window_0" / "checkpoints" / "final.ckpt",
        run / "window_1" / "checkpoints" / "final.ckpt",
    )
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip", "--weights").exit_code == 0
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        documents = [json.loads(archive.read(f"window_{k}/weights.json")) for k in (0, 1)]
        header_size = int.from_bytes(archive.read(WEIGHTS)[:8], "little")
        header = json.loads(archive.read(WEIGHTS)[8 : 8 + header_size])
    stored = {key for key in header if key != "__metadata__"}
    assert documents[0]["tensors"] == documents[1]["tensors"]
    assert stored == set(documents[0]["tensors"].values())
    # a copied detector is caught twice: the same weights in two windows, and they do not
    # score window 1's predictions
    data = _verify(run_cli, tmp_path / "b.zip", "--rescore", "8", "--seed", "0")
    windows = next(check for check in data["checks"] if check["name"] == "windows")
    assert windows["status"] == "fail"
    assert "windows 0 and 1 have the same weights" in windows["detail"]
    assert _status(data)["rescore"] == "fail"
    assert "window 1:" in _rescore(data)["detail"]


def test_a_config_that_names_code_is_not_rescored(run_cli, run, tmp_path):
    path = run / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["experiment"]["imports"] = ["evil_module"]
    path.write_text(yaml.safe_dump(config))
    assert run_cli("bundle", run, "-o", tmp_path / "b.zip", "--weights").exit_code == 0
    data = _verify(run_cli, tmp_path / "b.zip", "--rescore", "2")
    assert data["verdict"] == "incomplete"
    assert "experiment.imports names code" in _rescore(data)["detail"]


def test_bundle_weights_without_a_final_checkpoint_is_one_clear_error(run_cli, run, tmp_path):
    (run / "window_1" / "checkpoints" / "final.ckpt").unlink()
    result = run_cli("bundle", run, "-o", tmp_path / "b.zip", "--weights")
    assert result.exit_code == 2
    assert "window 1 has no checkpoints/final.ckpt" in result.err
