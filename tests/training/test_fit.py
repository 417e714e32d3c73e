"""``aigenbench fit`` end to end on a tiny benchmark: the experiment directory and its rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aigenbench.data.sources import open_source
from aigenbench.protocol import ProtocolConfig, load_timeline, make_plan
from aigenbench.training.experiment_dir import ExperimentDir
from tests.evaluation.official_format import OFFICIAL_KEYS
from tests.training.conftest import fit_args, load_predictions


def test_experiment_directory_layout(finished):
    run_dir, _ = finished
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "summary.json").is_file()
    for window in (0, 1):
        window_dir = run_dir / f"window_{window}"
        for name in ("membership.json", "predictions_validate.npz", "metrics.json", "DONE"):
            assert (window_dir / name).is_file(), name
        assert (window_dir / "checkpoints" / "final.ckpt").is_file()
        assert not (window_dir / "checkpoints" / "last.ckpt").exists()
    assert (run_dir / "logs" / "csv" / "window_0" / "metrics.csv").is_file()


def test_membership_follows_the_protocol(finished, tiny_benchmark):
    run_dir, _ = finished
    source = open_source(tiny_benchmark)
    plan = make_plan(
        source.generators("train"),
        source.generators("validation"),
        ProtocolConfig(),
        load_timeline(tiny_benchmark / "timeline.csv"),
    )
    evaluation = plan.evaluation("validate")
    for window in (0, 1):
        membership = json.loads((run_dir / f"window_{window}" / "membership.json").read_text())
        assert membership["train_ids"] == plan.training_ids(window)
        assert membership["eval_ids"] == list(evaluation.ids)
        pairing = {int(k): v for k, v in membership["pairing"].items()}
        assert pairing == evaluation.pairing
        validation = source.generators("validation")
        assert all(validation[row_id] == "" for row_id in pairing), "pairing lists reals only"
    # cumulative: window 1 trains on everything window 0 did, and more
    first = json.loads((run_dir / "window_0" / "membership.json").read_text())["train_ids"]
    second = json.loads((run_dir / "window_1" / "membership.json").read_text())["train_ids"]
    assert set(first) < set(second)


def test_predictions_file_has_the_official_keys_in_evaluation_order(finished):
    run_dir, _ = finished
    membership = json.loads((run_dir / "window_1" / "membership.json").read_text())
    predictions = load_predictions(run_dir, 1)
    assert set(predictions) >= OFFICIAL_KEYS
    assert predictions["identifier"].tolist() == membership["eval_ids"]
    assert predictions["generator_id_to_name"][0] == ""
    assert predictions["windows_timeline"].shape == (2, 4)
    scores = predictions["crop_scores"]
    assert np.all((scores >= 0) & (scores <= 1))
    # pairing: a generator id for paired reals, -1 for every fake
    fake = predictions["fused_labels"] == 1
    assert np.all(predictions["pairing"][fake] == -1)
    assert np.all(predictions["pairing"][~fake] > 0)


def test_metrics_and_summary_carry_the_headline(finished):
    run_dir, _ = finished
    metrics = json.loads((run_dir / "window_0" / "metrics.json").read_text())
    assert metrics["past"]["auroc"] is None  # nothing before window 0
    assert 0.0 <= metrics["next"]["auroc"] <= 1.0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["metrics"]["headline"]) == {
        "next_auroc",
        "past_auroc",
        "growing_auroc",
        "whole_auroc",
    }
    done = json.loads((run_dir / "window_1" / "DONE").read_text())
    assert done["steps"] > 0 and done["n_train"] > 0
    # One object per window: its DONE headline is its metrics.json's; the run's headline is
    # the average of the windows' (Next over window 0 only: window 1 has no future).
    subsets = ("next", "past", "growing", "whole")
    for window in (0, 1):
        written = json.loads((run_dir / f"window_{window}" / "metrics.json").read_text())
        done = json.loads((run_dir / f"window_{window}" / "DONE").read_text())
        assert done["headline"] == {f"{name}_auroc": written[name]["auroc"] for name in subsets}
        assert summary["metrics"]["per_window"][window] == {
            key: value
            for key, value in written.items()
            if key not in ("stage", "threshold", "n_windows")
        }
    assert summary["metrics"]["headline"]["next_auroc"] == metrics["next"]["auroc"]


def test_rerun_skips_done_windows(finished, run_cli, tiny_benchmark):
    run_dir, config = finished
    before = (run_dir / "window_1" / "predictions_validate.npz").stat().st_mtime_ns
    config_written = (run_dir / "config.yaml").stat().st_mtime_ns
    result = run_cli(*fit_args(config, tiny_benchmark, run_dir.parent, "exp"))
    assert result.exit_code == 0
    assert result.out.count("done earlier, skipped") == 2
    assert (run_dir / "window_1" / "predictions_validate.npz").stat().st_mtime_ns == before
    assert (run_dir / "config.yaml").stat().st_mtime_ns == config_written  # written once


def test_rerun_with_result_changing_settings_is_refused(finished, run_cli, tiny_benchmark):
    run_dir, config = finished
    result = run_cli(
        *fit_args(config, tiny_benchmark, run_dir.parent, "exp"), "--model.input_size", "48"
    )
    assert result.exit_code == 2
    assert "model.input_size: 32 -> 48" in result.err


def test_an_experiment_recorded_before_a_setting_existed_resumes_at_its_default(
    finished, run_cli, tiny_benchmark, tmp_path
):
    """An older version wrote config.yaml without the settings added since (here the whole
    ``strategy`` section): the rerun compares them as their defaults, and still refuses a
    value other than the default."""
    import shutil

    import yaml

    run_dir, config = finished
    copy = tmp_path / "runs" / "exp"
    shutil.copytree(run_dir, copy)
    recorded = yaml.safe_load((copy / "config.yaml").read_text())
    assert recorded.pop("strategy")["name"] == "finetune"
    (copy / "config.yaml").write_text(yaml.safe_dump(recorded))
    result = run_cli(*fit_args(config, tiny_benchmark, copy.parent, "exp"))
    assert result.exit_code == 0, result.err
    assert result.out.count("done earlier, skipped") == 2
    refused = run_cli(
        *fit_args(config, tiny_benchmark, copy.parent, "exp"),
        "--protocol.benchmark_type",
        "continual_learning",
        "--strategy.name",
        "replay",
    )
    assert refused.exit_code == 2
    assert "strategy.name: 'finetune' -> 'replay'" in refused.err


def test_a_second_process_is_refused(finished, run_cli, tiny_benchmark):
    run_dir, config = finished
    holder = ExperimentDir(run_dir)
    holder.lock()
    try:
        result = run_cli(*fit_args(config, tiny_benchmark, run_dir.parent, "exp"))
    finally:
        holder.unlock()
    assert result.exit_code == 2
    assert "being run by another process" in result.err


def test_validate_and_test_rescore_a_finished_experiment(finished, run_cli):
    run_dir, _ = finished
    reference = load_predictions(run_dir, 1)
    result = run_cli("test", run_dir, "--data.num_workers", "0")
    assert result.exit_code == 0, result.err
    tested = load_predictions(run_dir, 1, "test")
    # same images and scores as validation, paired with the test stage's seed
    np.testing.assert_array_equal(tested["crop_scores"], reference["crop_scores"])
    # the table printed is the metrics computed with the files (not read back, not another stage)
    written = [
        json.loads((run_dir / f"window_{k}" / "metrics_test.json").read_text()) for k in (0, 1)
    ]
    growing = sum(document["growing"]["auroc"] for document in written) / 2
    assert "2 of 2 windows evaluated, stage test" in result.out
    assert f"averaged over time: Next {100 * written[0]['next']['auroc']:.2f}" in result.out
    assert f"Growing {100 * growing:.2f}" in result.out
    assert run_cli("validate", run_dir).exit_code == 0
    np.testing.assert_array_equal(
        load_predictions(run_dir, 1)["crop_scores"], reference["crop_scores"]
    )


def test_rescore_refuses_result_changing_overrides(finished, run_cli):
    run_dir, _ = finished
    result = run_cli("validate", run_dir, "--data.degradations", "false")
    assert result.exit_code == 2
    assert "data.degradations" in result.err


def test_single_window_needs_the_earlier_ones(run_cli, tiny_benchmark, tiny_config, tmp_path):
    args = fit_args(tiny_config, tiny_benchmark, tmp_path, "one")
    result = run_cli(*args, "--window", "1")
    assert result.exit_code == 2
    assert "window(s) 0 are not done" in result.err
    assert run_cli(*args, "--window", "0").exit_code == 0
    assert (tmp_path / "one" / "window_0" / "DONE").is_file()
    assert not (tmp_path / "one" / "window_1").exists()
    assert run_cli(*args, "--window", "1").exit_code == 0
    assert (tmp_path / "one" / "window_1" / "DONE").is_file()
    assert run_cli(*args, "--window", "2").exit_code == 2


def test_full_training_mode_has_one_window(run_cli, tiny_benchmark, tiny_config, tmp_path):
    args = fit_args(tiny_config, tiny_benchmark, tmp_path, "full")
    result = run_cli(*args, "--config", "protocol/full_training", "--data.augmentation_factor", "1")
    assert result.exit_code == 0, result.err
    membership = json.loads((tmp_path / "full" / "window_0" / "membership.json").read_text())
    assert len(membership["train_ids"]) == len(open_source(tiny_benchmark).generators("train"))
    assert not (tmp_path / "full" / "window_1").exists()


def test_the_same_command_twice_gives_the_same_numbers(finished, tiny_benchmark, run_cli):
    run_dir, config = finished
    assert run_cli(*fit_args(config, tiny_benchmark, run_dir.parent, "again")).exit_code == 0
    from tests.training.conftest import assert_same_predictions

    assert_same_predictions(run_dir, run_dir.parent / "again", 2)


def test_default_experiment_id_is_stable(tmp_path, tiny_benchmark, tiny_config):
    from aigenbench.commands._config import parse_config

    argv = ["--config", str(tiny_config), "--dataset", str(tiny_benchmark)]
    first, second = parse_config(argv), parse_config(argv)
    assert first.experiment_id == second.experiment_id
    assert first.experiment_id.startswith("timm_test_resnet-tune-")
    # a runtime setting does not change it, a result-changing one does
    assert parse_config([*argv, "--data.num_workers", "3"]).experiment_id == first.experiment_id
    assert parse_config([*argv, "--model.input_size", "48"]).experiment_id != first.experiment_id


def test_a_new_setting_at_its_default_keeps_the_experiment_id(tiny_benchmark, tiny_config):
    """After an upgrade that adds a setting, the same command finds the same experiment."""
    import copy

    from aigenbench.commands._config import parse_config
    from aigenbench.config import default_experiment_id

    config = parse_config(["--config", str(tiny_config), "--dataset", str(tiny_benchmark)])
    raw, defaults = copy.deepcopy(config.raw), copy.deepcopy(config.defaults)
    for settings in (raw, defaults):
        settings["model"]["a_setting_added_later"] = 0.5
    assert default_experiment_id(raw, defaults) == config.experiment_id
    raw["model"]["a_setting_added_later"] = 0.7  # set to another value: another experiment
    assert default_experiment_id(raw, defaults) != config.experiment_id


def test_config_yaml_records_the_resolved_settings(finished):
    run_dir, _ = finished
    import yaml

    recorded = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert recorded["model"]["backbone"] == "timm:test_resnet"
    assert Path(recorded["data"]["source"]).name == "tiny"


def test_a_cumulative_run_says_cumulative(finished, run_cli):
    """No strategy on the protocol's cumulative setting: summary and report say cumulative."""
    run_dir, _ = finished
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["strategy"]["name"] == "cumulative"
    assert [w["name"] for w in summary["strategy"]["windows"].values()] == ["cumulative"] * 2
    assert run_cli("report", run_dir, "-o", run_dir.parent / "exp_report.html").exit_code == 0
    page = (run_dir.parent / "exp_report.html").read_text(encoding="utf-8")
    assert '<td class="name">strategy.name</td><td class="name">cumulative</td>' in page
    data = page[page.index('<h2 id="data">') :]
    assert "finetune" not in data and "strategy.windows.1" in data
