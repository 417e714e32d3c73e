"""The predictions file: building, fusing crops, atomic saving, reading ours and official files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aigenbench.errors import ConfigError, DataError, ProtocolError
from aigenbench.evaluation.metrics import evaluate_window
from aigenbench.evaluation.predictions import (
    build_predictions,
    find_predictions,
    image_scores,
    load_predictions,
    save_predictions,
)
from aigenbench.scoring import fake_scores, fuse_mean, image_runs
from tests.evaluation.official_format import (
    OFFICIAL_KEYS,
    make_eval_set,
    random_crop_scores,
    reference_evaluation,
    write_official_file,
)

NAMES = ["", "A", "B", "C"]
WINDOWS = [["A"], ["B", "C"]]


def small_predictions(**overrides):
    """Three images: ID 7 (fake A, 2 crops), ID 3 (real paired with A), ID 9 (fake C, 3 crops)."""
    arguments = dict(
        crop_scores=[0.5, 0.75, 0.25, 0.5, 1.0, 0.0],
        crop_labels=[1, 1, 0, 1, 1, 1],
        crop_generator_ids=[1, 1, 0, 3, 3, 3],
        crop_identifiers=[7, 7, 3, 9, 9, 9],
        generator_names=NAMES,
        windows=WINDOWS,
        pairing={3: 1},
        crop_to_image_index=[0, 0, 1, 0, 0, 0],  # two batches, the index restarts
    )
    arguments.update(overrides)
    return build_predictions(**arguments)


def test_build_fuses_the_crops_of_each_image_by_their_mean():
    predictions = small_predictions()
    assert predictions.fused_scores.tolist() == [0.625, 0.25, 0.5]
    assert predictions.fused_identifiers.tolist() == [7, 3, 9]
    assert predictions.identifier.tolist() == [7, 3, 9]
    assert predictions.fused_generator_ids.tolist() == [1, 0, 3]
    assert predictions.fused_labels.tolist() == [1, 0, 1]
    # pairing is per image, aligned with `identifier`: the real (ID 3) is paired with A (id 1)
    assert predictions.pairing.tolist() == [-1, 1, -1]
    assert predictions.crop_to_image_index.tolist() == [0, 0, 1, 0, 0, 0]
    assert predictions.crop_scores.dtype == np.float32
    # default losses: binary cross-entropy of the crop score (-log 0.5 for the first crop)
    assert predictions.crop_losses[0] == pytest.approx(math.log(2), rel=1e-6)
    assert predictions.fused_losses[0] == pytest.approx((math.log(2) - math.log(0.75)) / 2)


def test_build_accepts_a_pairing_function_and_numbers_images_without_batches():
    predictions = small_predictions(
        pairing=lambda ids: np.where(ids == 3, 2, -1), crop_to_image_index=None
    )
    assert predictions.pairing.tolist() == [-1, 2, -1]
    assert predictions.crop_to_image_index.tolist() == [0, 0, 1, 2, 2, 2]


def test_the_default_crop_loss_is_the_clipped_binary_log_loss():
    # crops: fake 0.5, fake 0.75, real 0.25, fake 0.5, fake 1.0, fake 0.0
    losses = small_predictions().crop_losses
    expected = [math.log(2), -math.log(0.75), -math.log(0.75), math.log(2)]
    assert losses[:4].tolist() == pytest.approx(expected, rel=1e-6)
    # a certain wrong answer (a fake at 0) costs -log(1e-7), finite: the score is clipped
    assert losses[5] == pytest.approx(-math.log(1e-7), rel=1e-6)
    assert 0 < losses[4] < 1e-6


def test_build_rejects_an_image_scored_twice_and_other_fusions():
    with pytest.raises(ProtocolError, match="image ID 7 appears in two places"):
        small_predictions(crop_identifiers=[7, 7, 3, 7, 9, 9])
    with pytest.raises(ConfigError, match="mean"):
        small_predictions(fusion="max")
    with pytest.raises(ProtocolError, match="one row per crop"):
        small_predictions(crop_labels=[1, 1, 0])


def test_multiclass_fake_score_is_one_minus_the_real_probability():
    # softmax([0, ln 3]) = [1/4, 3/4]; softmax([ln 2, 0, ln 2]) = [2/5, 1/5, 2/5]
    assert fake_scores(np.array([[0.0, math.log(3)]]))[0] == pytest.approx(0.75)
    three = np.array([[math.log(2), 0.0, math.log(2)]])
    assert fake_scores(three)[0] == pytest.approx(0.6)


def test_build_from_multiclass_logits_derives_the_scores():
    logits = np.log(np.array([[1, 1, 2, 0.001], [3, 1, 0.001, 0.001]], dtype=np.float32))
    predictions = build_predictions(
        None,
        [1, 0],
        [2, 0],
        [5, 6],
        generator_names=NAMES,
        windows=WINDOWS,
        pairing={6: 2},
        crop_multiclass_predictions=logits,
    )
    # 1 - P(real): 1 - 1/4.001 and 1 - 3/4.002
    assert predictions.crop_scores[0] == pytest.approx(1 - 1 / 4.001, rel=1e-5)
    assert predictions.crop_scores[1] == pytest.approx(1 - 3 / 4.002, rel=1e-5)
    assert predictions.is_multiclass


def test_fusion_is_bit_identical_to_the_per_image_mean():
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 13, size=800)
    identifiers = np.repeat(rng.permutation(5000)[:800], counts)
    values = (rng.random(len(identifiers)) * 10.0 ** rng.integers(-3, 3, len(identifiers))).astype(
        np.float32
    )
    starts, lengths = image_runs(identifiers)
    fused = fuse_mean(values, starts, lengths)
    expected = [
        values[s : s + n].mean() if n > 1 else values[s]
        for s, n in zip(starts, lengths, strict=True)
    ]
    assert np.array_equal(fused, np.array(expected))
    logits = rng.standard_normal((len(identifiers), 5)).astype(np.float32) * 7
    fused = fuse_mean(logits, starts, lengths)
    expected = [
        logits[s : s + n].mean(axis=0) if n > 1 else logits[s]
        for s, n in zip(starts, lengths, strict=True)
    ]
    assert np.array_equal(fused, np.array(expected))


def test_save_is_atomic_and_round_trips(tmp_path):
    predictions = small_predictions()
    path = save_predictions(tmp_path / "window_0" / "predictions_validate.npz", predictions)
    assert sorted(p.name for p in path.parent.iterdir()) == ["predictions_validate.npz"]
    with np.load(path, allow_pickle=False) as data:  # what the official script does
        assert set(data.files) >= OFFICIAL_KEYS
        assert data["generator_id_to_name"].tolist() == NAMES
        assert data["windows_timeline"].tolist() == [["A", "A"], ["B", "C"]]  # padded row
    loaded = load_predictions(path)
    assert loaded.windows_timeline == WINDOWS
    assert loaded.generator_names == NAMES
    for key in ("crop_scores", "crop_identifiers", "fused_scores", "pairing", "identifier"):
        assert np.array_equal(getattr(loaded, key), getattr(predictions, key))


def test_a_file_with_uneven_windows_is_read_right_by_the_official_formula(tmp_path):
    windows = [["A"], ["B", "C"], ["D", "E", "F"]]
    eval_set = make_eval_set(windows, per_generator=6, seed=5)
    scores = random_crop_scores(eval_set, step=1, seed=2, crops=1)
    predictions = build_predictions(
        np.concatenate(scores),
        (eval_set.generator_ids != 0).astype(int),
        eval_set.generator_ids,
        eval_set.ids,
        generator_names=eval_set.generator_names,
        windows=windows,
        pairing=eval_set.pairing,
    )
    path = save_predictions(tmp_path / "p.npz", predictions)
    assert load_predictions(path).windows_timeline == windows
    official = reference_evaluation(path, "growing", 1)  # windows 0..1 = A, B, C
    ours = evaluate_window(load_predictions(path), 1).subsets["growing"]
    assert official["n_fake"] == ours.n_fake == 18
    assert official["n_real"] == ours.n_real == 18
    assert ours.auroc == pytest.approx(official["auroc"], abs=1e-12)


def test_an_object_array_timeline_from_old_numpy_is_read(tmp_path):
    predictions = small_predictions()
    arrays = {
        key: getattr(predictions, key)
        for key in ("crop_scores", "crop_generator_ids", "crop_identifiers", "pairing")
    }
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = ["A"], ["B", "C"]
    np.savez(
        tmp_path / "old.npz",
        generator_id_to_name=np.array(NAMES),
        windows_timeline=ragged,
        **arrays,
    )
    assert load_predictions(tmp_path / "old.npz").windows_timeline == WINDOWS


def test_find_predictions_prefers_ours_then_all_then_the_highest_step(tmp_path):
    window = tmp_path / "window_0"
    window.mkdir()
    assert find_predictions(window) is None
    for name in (
        "predictions_validate_epoch=0-step=99.npz",
        "predictions_validate_epoch=0-step=100.npz",  # numerically highest, not by name
        "predictions_validate_epoch=0-step=2.npz",
        "predictions_test_epoch=0-step=5000.npz",
    ):
        (window / name).write_bytes(b"")
    assert find_predictions(window).name == "predictions_validate_epoch=0-step=100.npz"
    assert find_predictions(window, "test").name == "predictions_test_epoch=0-step=5000.npz"
    (window / "predictions_validate_all.npz").write_bytes(b"")
    assert find_predictions(window, "validation").name == "predictions_validate_all.npz"
    (window / "predictions_validate.npz").write_bytes(b"")
    assert find_predictions(window).name == "predictions_validate.npz"
    with pytest.raises(ConfigError, match="stage"):
        find_predictions(window, "train")


def test_official_file_is_loaded_with_its_per_batch_layout(tmp_path):
    eval_set = make_eval_set([["A", "B"], ["C", "D"]], per_generator=5, seed=1)
    scores = random_crop_scores(eval_set, step=0, seed=4)  # 1..5 crops per image
    path = write_official_file(tmp_path / "window_0", eval_set, scores, step=0, batch_size=4)
    loaded = load_predictions(path)
    assert loaded.n_images == len(eval_set.ids)
    assert loaded.crop_to_image_index.max() == 3  # restarts with every batch of 4 images
    fused, generators, identifiers = image_scores(loaded)
    assert identifiers.tolist() == eval_set.ids.tolist()
    assert generators.tolist() == eval_set.generator_ids.tolist()
    assert np.allclose(fused, [s.mean() for s in scores])
    assert loaded.pairing.tolist() == [eval_set.pairing.get(int(i), -1) for i in eval_set.ids]


def test_corrupt_incomplete_and_legacy_files_raise_clear_errors(tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DataError, match="corrupt"):
        load_predictions(corrupt)
    np.savez(tmp_path / "partial.npz", crop_scores=np.zeros(2), crop_identifiers=np.arange(2))
    with pytest.raises(DataError, match="lacks the key"):
        load_predictions(tmp_path / "partial.npz")
    np.savez(tmp_path / "legacy.npz", prediction=np.zeros(2), generator=np.zeros(2))
    with pytest.raises(DataError, match="legacy"):
        load_predictions(tmp_path / "legacy.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_predictions(tmp_path / "nothing.npz")
