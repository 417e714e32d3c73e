"""``aigenbench demo`` (what ``make demo`` runs), shrunk by overrides to stay quick."""

from __future__ import annotations

import json


def test_demo_runs_the_whole_protocol_and_writes_the_report(run_cli, tmp_path):
    result = run_cli(
        "demo",
        "--data_dir",
        tmp_path / "data",
        "--runs_dir",
        tmp_path / "runs",
        "--protocol.train_subset_size",
        "64",
        "--protocol.validation_subset_size",
        "160",
        "--data.augmentation_factor",
        "1",
        "--trainer.max_epochs",
        "1",
        "--data.num_workers",
        "0",
    )
    assert result.exit_code == 0, result.err
    assert "AUROC (%) averaged over time: Next" in result.out
    run_dir = tmp_path / "runs" / "demo"
    assert (run_dir / "report.html").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(summary["metrics"]["per_window"]) == 4  # the synthetic benchmark: 4 windows
    assert (tmp_path / "data" / "timeline.csv").is_file()
