"""A method or freezing mode that expects a pretrained encoder, run with random weights, is
said out loud (``--config demo --config methods/univfd`` inherits ``pretrained: false``)."""

from __future__ import annotations

import html
import json

import pytest

from aigenbench.commands._config import parse_config
from aigenbench.config import default_experiment_id
from tests.training.conftest import fit_args, write_config


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


@pytest.mark.slow
def test_the_warning_is_kept_in_config_summary_and_report(run_cli, tiny_benchmark, tmp_path):
    # A probe of a backbone that starts random: the warning goes where the results go.
    args = fit_args(write_config(tmp_path, "probe"), tiny_benchmark, tmp_path / "runs", "rand")
    first = run_cli(*args, "--window", "0")
    assert first.exit_code == 0, first.err
    sentence = "model.pretrained is false: timm:test_resnet starts from random weights"
    assert f"warning: {sentence}" in first.err
    run_dir = tmp_path / "runs" / "rand"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(summary["warnings"]) == 1 and summary["warnings"][0].startswith(sentence)
    recorded = (run_dir / "config.yaml").read_text()
    assert recorded.startswith(f"# warning: {sentence}")
    assert run_cli("report", run_dir).exit_code == 0
    page = (run_dir / "report.html").read_text()
    assert "<b>Warning:</b> " + html.escape(sentence) in page

    # The comment is not a setting: the same settings (and settings hash) with or without it.
    bare = tmp_path / "bare.yaml"
    bare.write_text("".join(line for line in recorded.splitlines(True) if not line.startswith("#")))
    assert bare.read_text() != recorded
    with_comment = parse_config(["--config", str(run_dir / "config.yaml")])
    without = parse_config(["--config", str(bare)])
    assert with_comment.raw == without.raw
    assert default_experiment_id(with_comment.raw, with_comment.defaults) == (
        default_experiment_id(without.raw, without.defaults)
    )
    # ... and the experiment resumes from its own config.yaml: window 0 is not trained again
    resumed = run_cli(
        "fit", "--config", run_dir / "config.yaml", "--runs-dir", tmp_path / "runs",
        "--experiment-id", "rand", "--window", "1",
    )  # fmt: skip
    assert resumed.exit_code == 0, resumed.err
    assert "window 0" not in resumed.out and (run_dir / "window_1" / "DONE").is_file()
    assert (run_dir / "config.yaml").read_text() == recorded
