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
