"""Bad input to ``aigenbench fit``: a clear error (exit 2) before anything is trained or written."""

from __future__ import annotations

import shutil

import yaml

from tests.training.conftest import fit_args


def test_misspelt_key_on_the_command_line(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"), "--model.freezng", "probe"
    )
    assert result.exit_code == 2
    assert "--model.freezng" in result.err and "Did you mean: model.freezing" in result.err
    assert not (tmp_path / "x").exists()


def test_misspelt_key_in_a_yaml_file(run_cli, tiny_benchmark, tiny_config, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  max_epoch: 3\n")
    result = run_cli(*fit_args(tiny_config, tiny_benchmark, tmp_path, "x"), "--config", bad)
    assert result.exit_code == 2
    assert "max_epoch" in result.err and "trainer.max_epochs" in result.err
    assert not (tmp_path / "x").exists()


def test_abbreviated_keys_are_not_guessed(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"), "--trainer.max_epoch", "3"
    )
    assert result.exit_code == 2


def test_wrong_value_type(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"),
        "--protocol.benchmark_type",
        "sliding",
    )
    assert result.exit_code == 2
    assert "cumulative" in result.err


def test_unknown_model_lists_close_names(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"), "--model.backbone", "timm:resnet181"
    )
    assert result.exit_code == 2
    assert "unknown timm model 'resnet181'" in result.err
    assert "timm:resnet18" in result.err
    assert not (tmp_path / "x").exists()


def test_unknown_model_family(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"), "--model.backbone", "dinov3"
    )
    assert result.exit_code == 2
    assert "dinov3" in result.err


def test_missing_dataset_path(run_cli, tiny_config, tmp_path):
    result = run_cli(*fit_args(tiny_config, tmp_path / "no_such_dataset", tmp_path, "x"))
    assert result.exit_code == 2
    assert "no_such_dataset does not exist" in result.err
    assert "aigenbench data synth" in result.err


def test_no_dataset_given(run_cli, tiny_config, tmp_path):
    result = run_cli("fit", "--config", tiny_config, "--runs-dir", tmp_path)
    assert result.exit_code == 2
    assert "--dataset PATH" in result.err


def test_missing_config_file_names_the_shipped_ones(run_cli, tmp_path):
    result = run_cli("fit", "--config", "protocol/sliding_window")
    assert result.exit_code == 2
    assert "protocol/sliding_windows" in result.err


def test_generator_missing_from_the_timeline(run_cli, tiny_benchmark, tiny_config, tmp_path):
    dataset = tmp_path / "data"
    shutil.copytree(tiny_benchmark, dataset)
    timeline = (dataset / "timeline.csv").read_text().splitlines()
    dropped = timeline.pop(3).split(",")[0]
    (dataset / "timeline.csv").write_text("\n".join(timeline) + "\n")
    result = run_cli(*fit_args(tiny_config, dataset, tmp_path, "x"))
    assert result.exit_code == 2
    assert f"'{dropped}'" in result.err and "not in the timeline" in result.err
    assert not (tmp_path / "x").exists()


def test_impossible_window(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(*fit_args(tiny_config, tiny_benchmark, tmp_path, "x"), "--window", "7")
    assert result.exit_code == 2
    assert "window 7 does not exist" in result.err


def test_print_config_shows_the_resolved_whole(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"),
        "--config",
        "protocol/sliding_windows",
        "--trainer.max_epochs",
        "3",
        "--print-config",
    )
    assert result.exit_code == 0
    resolved = yaml.safe_load(result.out)
    assert resolved["trainer"]["max_epochs"] == 3
    assert resolved["data"]["augmentation_factor"] == 4  # from the protocol config
    assert resolved["model"]["backbone"] == "timm:test_resnet"  # from the tiny config
    assert not (tmp_path / "x").exists()


def test_wandb_without_the_package_says_how_to_install_it(
    run_cli, tiny_benchmark, tiny_config, tmp_path, monkeypatch
):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb" or name.startswith("wandb."):
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"), "--experiment.loggers", "[wandb]"
    )
    assert result.exit_code == 2
    assert "pip install 'aigenbench[wandb]'" in result.err
    assert not (tmp_path / "x").exists()


def test_shipped_configs_all_parse(tiny_benchmark):
    from aigenbench.commands._config import parse_config
    from aigenbench.config import packaged_configs

    for name in packaged_configs():
        if name.startswith("models/"):
            argv = ["--config", "protocol/sliding_windows", "--config", name]
        else:
            argv = ["--config", name, "--model.backbone", "small:cnn"]
        config = parse_config([*argv, "--dataset", str(tiny_benchmark)])
        assert config.data.source == str(tiny_benchmark), name


def test_unfreezing_after_the_last_window_is_an_error(
    run_cli, tiny_benchmark, tiny_config, tmp_path
):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"),
        "--model.freezing",
        "staged",
        "--model.unfreeze_at",
        "{window: 20}",
    )
    assert result.exit_code == 2
    assert "{window: 20}" in result.err and "2 window(s) (0..1)" in result.err
    assert not (tmp_path / "x").exists()


def test_missing_pretrained_weights_are_found_before_anything_is_written(
    run_cli, tiny_benchmark, tiny_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "x"),
        "--model.backbone",
        "timm:resnet18.a1_in1k",
        "--model.pretrained",
        "true",
    )
    assert result.exit_code == 2
    assert "timm/resnet18.a1_in1k" in result.err and "HF_HUB_OFFLINE" in result.err
    assert not (tmp_path / "x").exists()  # no config.yaml pinned by a start that trained nothing


def test_a_negative_experiment_seed_is_refused(run_cli, tiny_benchmark, tiny_config, tmp_path):
    result = run_cli(
        *fit_args(tiny_config, tiny_benchmark, tmp_path, "neg", "--experiment.seed", "-1")
    )
    assert result.exit_code == 2
    assert "experiment.seed must be a whole number >= 0, got -1" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "neg").exists()
