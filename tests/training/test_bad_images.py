"""Unreadable images never stop a run: training replaces them, evaluation flags them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from aigenbench.data.sources import open_source
from aigenbench.protocol import ProtocolConfig, make_plan
from tests.training.conftest import fit_args


def export_as_folders(dataset: Path, out: Path) -> Path:
    """The tiny benchmark as an image-folder tree ROOT/{split}/{real,<generator>}/<file>."""
    source = open_source(dataset)
    for split in ("train", "validation"):
        for row_id, generator in enumerate(source.generators(split)):
            folder = out / split / (generator or "real")
            folder.mkdir(parents=True, exist_ok=True)
            data = source.read(split, row_id)
            suffix = ".png" if data[:4] == b"\x89PNG" else ".jpg"
            (folder / f"{row_id:05d}{suffix}").write_bytes(data)
    shutil.copy(dataset / "timeline.csv", out / "timeline.csv")
    return out


def test_corrupt_images_are_replaced_in_training_and_flagged_in_evaluation(
    run_cli, tiny_benchmark, tiny_config, tmp_path
):
    root = export_as_folders(tiny_benchmark, tmp_path / "folders")
    source = open_source(root)
    plan = make_plan(
        source.generators("train"),
        source.generators("validation"),
        ProtocolConfig(),
        source.timeline,
    )
    evaluated_real = next(
        i for i in plan.evaluation().ids if source.generators("validation")[i] == ""
    )
    bad_eval = Path(source.describe("validation", evaluated_real))
    bad_eval.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    trained_fake = next(i for i in plan.training_ids(0) if source.generators("train")[i] != "")
    bad_train = Path(source.describe("train", trained_fake))
    bad_train.write_bytes(b"")

    result = run_cli(
        *fit_args(tiny_config, root, tmp_path / "runs", "bad"), "--data.num_workers", "2"
    )
    assert result.exit_code == 0, result.err

    run_dir = tmp_path / "runs" / "bad"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["data"]["unreadable_evaluation_images"] == [
        {"id": evaluated_real, "path": str(bad_eval)}
    ]
    # counted once although met in both windows, by loader worker processes
    assert summary["data"]["n_unreadable_training_images"] == 1
    assert summary["data"]["unreadable_training_images"] == [
        {
            "id": trained_fake,
            "path": str(bad_train),
            "reason": "empty file (0 bytes)",
            "windows": [0, 1],
        }
    ]
    for window in (0, 1):
        metrics = json.loads((run_dir / f"window_{window}" / "metrics.json").read_text())
        assert metrics["n_invalid"] == 1 and metrics["comparable"] is False
    assert (run_dir / "window_1" / "DONE").is_file()

    assert run_cli("report", run_dir).exit_code == 0
    assert "could not be decoded" in (run_dir / "report.html").read_text()
