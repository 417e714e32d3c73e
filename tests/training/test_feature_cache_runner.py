"""The frozen-feature cache inside the runner: computed once, identical predictions."""

from __future__ import annotations

from aigenbench.training import cached_data
from tests.training.conftest import assert_same_predictions, fit_args, write_config

PROBE = ["--data.stochastic_augmentation", "false"]


def test_probe_with_and_without_cache_gives_the_same_predictions(
    run_cli, tiny_benchmark, tmp_path, monkeypatch
):
    config = write_config(tmp_path, freezing="probe")
    computed: list[tuple[str, int]] = []
    extract = cached_data.extract_features

    def counting(detector, batches, store, part, **kwargs):
        n = extract(detector, batches, store, part, **kwargs)
        computed.append((part, n))
        return n

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
    evaluation = [n for part, n in computed if part == cached_data.EVAL_PART]
    training = [n for part, n in computed if part == cached_data.TRAIN_PART]
    assert len(evaluation) == 1 and evaluation[0] > 0
    assert len(training) == 2 and 0 < training[1] < training[0] * 2
    assert (tmp_path / "cached" / "features" / cached_data.EVAL_PART / "meta.json").is_file()
    assert not (tmp_path / "plain" / "features").exists()


def test_tune_never_uses_the_cache(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(*fit_args(tiny_config, tiny_benchmark, tmp_path, "tuned", *PROBE))
    assert result.exit_code == 0, result.err
    assert not (tmp_path / "tuned" / "features").exists()
