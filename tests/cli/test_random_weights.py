"""A method or freezing mode that expects a pretrained encoder, run with random weights, is
said out loud (``--config demo --config methods/univfd`` inherits ``pretrained: false``)."""

from __future__ import annotations


def test_univfd_on_the_demo_config_warns_of_random_weights(run_cli, tmp_path):
    result = run_cli(
        "fit", "--config", "demo", "--config", "methods/univfd", "--dataset", tmp_path / "none"
    )
    assert "warning: model.pretrained is false: clip_vitl14 starts from random weights" in (
        result.err
    )
    assert "method univfd is built on a pretrained encoder" in result.err


def test_the_demo_alone_trains_from_scratch_without_a_warning(run_cli, tmp_path):
    result = run_cli("fit", "--config", "demo", "--dataset", tmp_path / "none")
    assert result.exit_code != 0  # no dataset there
    assert "random weights" not in result.err
