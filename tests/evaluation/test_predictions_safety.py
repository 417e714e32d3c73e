"""A predictions file someone sent you cannot run code, and nonsense in it is named."""

from __future__ import annotations

import numpy as np
import pytest

from aigenbench.errors import DataError
from aigenbench.evaluation.predictions import load_predictions
from tests.evaluation.test_predictions import NAMES, WINDOWS, small_predictions


class RunsCode:
    """Unpickling this calls ``pathlib.Path.touch`` on ``target``: what an attacker would do."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def write_file(tmp_path, windows_timeline, **replace):
    predictions = small_predictions()
    arrays = {
        key: getattr(predictions, key)
        for key in ("crop_scores", "crop_generator_ids", "crop_identifiers", "pairing")
    }
    arrays.update(generator_id_to_name=np.array(NAMES), windows_timeline=windows_timeline)
    arrays.update(replace)
    path = tmp_path / "sent.npz"
    np.savez(path, **arrays)  # np.save pickles object arrays
    return path


def ragged(*items):
    array = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        array[index] = item
    return array


def test_the_official_ragged_timeline_is_read_without_pickle(tmp_path):
    path = write_file(tmp_path, ragged(["A"], ["B", "C"]))
    assert load_predictions(path).windows_timeline == WINDOWS


def test_a_pickle_that_runs_code_is_refused_and_not_run(tmp_path):
    target = tmp_path / "pwned"
    path = write_file(tmp_path, ragged(["A"], RunsCode(str(target))))
    with pytest.raises(DataError, match="windows_timeline") as error:
        load_predictions(path)
    assert not target.exists(), "the pickle's code ran"
    assert "pathlib" in str(error.value) and str(path) in str(error.value)


@pytest.mark.parametrize(
    "windows",
    [ragged(["A"], [1, 2]), ragged(["A"], {"B": 1}), ragged("A", ["B", "C"])],
    ids=["integers", "dict", "bare-string"],
)
def test_anything_but_lists_of_strings_is_refused(tmp_path, windows):
    with pytest.raises(DataError, match="not a list of windows of generator names"):
        load_predictions(write_file(tmp_path, windows))


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"crop_generator_ids": [0, 0, 9, 9]}, "id(s) 9 that generator_id_to_name"),
        ({"pairing": [7, -1, -1, -1]}, "pairing refers to generator id(s) 7"),
        ({"crop_scores": [0.1, 1.5, 0.2, 0.3]}, "not probabilities in [0, 1] (e.g. 1.5)"),
        ({"crop_scores": [0.1, -np.inf, 0.2, 0.3]}, "e.g. -inf"),
        ({"crop_scores": [0.1, np.nan, 0.2, 0.3]}, "e.g. nan"),
    ],
    ids=["unnamed-generator", "unknown-pairing", "above-1", "minus-inf", "nan"],
)
def test_values_no_metric_can_use_are_named(tmp_path, replace, message):
    predictions = small_predictions()
    n = len(predictions.crop_scores)
    replace = {
        k: np.resize(np.asarray(v), n if k.startswith("crop") else len(predictions.pairing))
        for k, v in replace.items()
    }
    path = write_file(tmp_path, np.array([["A", "A"], ["B", "C"]]), **replace)
    with pytest.raises(DataError) as error:
        load_predictions(path)
    assert message in str(error.value) and str(path) in str(error.value)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (
            {"crop_scores": np.full((6, 3), 0.5, dtype=np.float32)},
            "crop_scores must be one fake probability per crop (floating point, shape (N,)), "
            "got float32 of shape (6, 3)",
        ),
        ({"crop_scores": np.array([0, 1, 0, 1, 1, 0])}, "got int64 of shape (6,)"),
        ({"crop_scores": np.array(["0.5"] * 6)}, "crop_scores must be one fake probability"),
        (
            {"crop_multiclass_predictions": np.zeros((6,), dtype=np.float32)},
            "crop_multiclass_predictions must be floating-point logits of shape (N, classes)",
        ),
        (
            {"crop_generator_ids": np.array([1.0, 1, 0, 3, 3, 3])},
            "crop_generator_ids must be one integer per row (shape (N,)), got float64",
        ),
        (
            {"crop_identifiers": np.array([[7, 7, 3, 9, 9, 9]])},
            "crop_identifiers must be one integer per row (shape (N,)), got int64 of shape (1, 6)",
        ),
        ({"pairing": np.array([-1.0, 1, -1])}, "pairing must be one integer per row"),
    ],
    ids=[
        "scores-N-by-3",
        "integer-scores",
        "string-scores",
        "flat-logits",
        "float-ids",
        "2d-ids",
        "float-pairing",
    ],
)
def test_arrays_of_a_shape_or_type_no_metric_reads_are_refused(tmp_path, replace, message):
    path = write_file(tmp_path, np.array([["A", "A"], ["B", "C"]]), **replace)
    with pytest.raises(DataError) as error:
        load_predictions(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_one_column_scores_are_read_as_the_scores():
    """(N, 1) is one probability per crop, as some writers keep a trailing axis."""
    predictions = small_predictions()
    column = predictions.crop_scores[:, None]
    predictions.crop_scores = column
    from aigenbench.evaluation.predictions import image_scores

    assert image_scores(predictions)[0].tolist() == [0.625, 0.25, 0.5]


@pytest.mark.parametrize(
    "identifiers",
    [[7, 7, 3, 9, 9, 7], [7, 3, 7, 9, 9, 9]],
    ids=["image-scored-twice", "crops-not-consecutive"],
)
def test_an_image_id_in_two_places_is_refused(tmp_path, identifiers):
    path = write_file(
        tmp_path,
        np.array([["A", "A"], ["B", "C"]]),
        crop_identifiers=np.array(identifiers),
        pairing=np.array([-1, 1, -1, -1]),
    )
    with pytest.raises(DataError) as error:
        load_predictions(path)
    assert "image ID(s) 7 appear in 2 places" in str(error.value)
    assert str(path) in str(error.value)
