"""The frozen-feature cache inside the runner: computed once, identical predictions, on one
process or two (DDP over gloo)."""

from __future__ import annotations

import numpy as np
import pytest

from aigenbench.training import cached_data
from aigenbench.training.feature_cache import FEATURES, FILLED
from tests.training.conftest import (
    assert_same_predictions,
    fit_args,
    fit_on_one_and_two_processes,
    load_predictions,
    write_config,
)

PROBE = ["--data.stochastic_augmentation", "false"]


def test_probe_with_and_without_cache_gives_the_same_predictions(
    run_cli, tiny_benchmark, tmp_path, monkeypatch
):
    config = write_config(tmp_path, freezing="probe")
    computed: list[tuple[str, int]] = []
    extract = cached_data.extract_features

    def counting(trainer, module, open_store, *args):
        store, n = extract(trainer, module, open_store, *args)
        computed.append((store.root.name, n))
        return store, n

    monkeypatch.setattr(cached_data, "extract_features", counting)
    cached = run_cli(*fit_args(config, tiny_benchmark, tmp_path, "cached", *PROBE))
    assert cached.exit_code == 0, cached.err
    plain = run_cli(
        *fit_args(config, tiny_benchmark, tmp_path, "plain", *PROBE),
        "--experiment.feature_cache",
        "off",
    )
    assert plain.exit_code == 0, plain.err
    assert_same_predictions(tmp_path / "plain", tmp_path / "cached", 2)

    # evaluation features once for the whole experiment; training features only for new rows
    evaluation = [n for part, n in computed if part == "validate"]
    training = [n for part, n in computed if part == cached_data.TRAIN_PART]
    assert evaluation[0] > 0 and evaluation[1:] == [0]
    assert len(training) == 2 and 0 < training[1] < training[0] * 2
    assert (tmp_path / "cached" / "features" / "validate" / "header.json").is_file()
    assert not (tmp_path / "plain" / "features").exists()


def test_tune_never_uses_the_cache(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(*fit_args(tiny_config, tiny_benchmark, tmp_path, "tuned", *PROBE))
    assert result.exit_code == 0, result.err
    assert not (tmp_path / "tuned" / "features").exists()


@pytest.mark.slow
def test_two_processes_fill_and_read_the_cache_like_one(tiny_benchmark, tmp_path):
    config = write_config(tmp_path, freezing="probe")
    two = fit_on_one_and_two_processes(config, tiny_benchmark, tmp_path, *PROBE)
    assert "GLOBAL_RANK: 1" in two.stdout + two.stderr
    for part in ("train", "validate"):
        one_dir, two_dir = (tmp_path / run / "features" / part for run in ("one", "two"))
        # every row computed once, in its place, whichever process computed it
        filled = np.load(one_dir / FILLED)
        assert filled.all() if part == "validate" else filled.any()
        np.testing.assert_array_equal(filled, np.load(two_dir / FILLED))
        np.testing.assert_allclose(
            np.load(one_dir / FEATURES), np.load(two_dir / FEATURES), atol=1e-5, err_msg=part
        )
    for window in (0, 1):
        single = load_predictions(tmp_path / "one", window)
        double = load_predictions(tmp_path / "two", window)
        np.testing.assert_array_equal(single["identifier"], double["identifier"])
        np.testing.assert_allclose(single["crop_scores"], double["crop_scores"], atol=1e-5)
