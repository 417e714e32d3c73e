"""Training logs survive a resume and carry the per-window metrics, both learning rates,
the staged switch and images/s."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pytest

from aigenbench.cli import main
from tests.training.conftest import fit_args
from tests.training.test_resume_exact import signal_at, write_stochastic_config

pytestmark = pytest.mark.slow


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def resumed_logs(tmp_path_factory, tiny_benchmark):
    """Window 1 stopped at step 3, then resumed; CSV and TensorBoard logs."""
    root = tmp_path_factory.mktemp("logs")
    config = write_stochastic_config(root)
    args = fit_args(
        config, tiny_benchmark, root, "logged", "--experiment.loggers", "[csv, tensorboard]"
    )
    with pytest.MonkeyPatch.context() as patch:
        signal_at(patch, window=1, step=3)
        assert main(args) == 130
    first_rows = read_csv(root / "logged" / "logs" / "csv" / "window_1" / "metrics.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(args) == 0
    return root / "logged", first_rows, [str(w.message) for w in caught]


def test_a_resume_appends_to_the_logs(resumed_logs):
    run_dir, first_rows, caught = resumed_logs
    assert not [text for text in caught if "will be deleted" in text]
    rows = read_csv(run_dir / "logs" / "csv" / "window_1" / "metrics.csv")
    assert first_rows
    for kept, row in zip(first_rows, rows, strict=False):  # kept as they were (new columns aside)
        assert {k: v for k, v in row.items() if k in kept} == kept
    steps = {int(row["step"]) for row in rows if row.get("train/loss_step")}
    done = json.loads((run_dir / "window_1" / "DONE").read_text())
    # every step once: before the stop, the batch that received the signal, and after it
    assert set(range(done["steps"])) == steps
    assert [int(r["step"]) for r in first_rows if r.get("train/loss_step")] == [0, 1, 2]
    events = list((run_dir / "logs" / "tensorboard" / "window_1").glob("events.out.tfevents.*"))
    assert len(events) == 2  # the first run's events kept beside the resumed run's


def test_both_learning_rates_the_switch_and_throughput_are_logged(resumed_logs):
    run_dir, _, _ = resumed_logs
    rows = [
        row
        for row in read_csv(run_dir / "logs" / "csv" / "window_1" / "metrics.csv")
        if row.get("train/lr_head")
    ]
    head = [float(row["train/lr_head"]) for row in rows]
    backbone = [float(row["train/lr_backbone"]) for row in rows]
    assert all(b == pytest.approx(0.1 * h) for h, b in zip(head, backbone, strict=True))
    trainable = {int(row["step"]): float(row["train/backbone_trainable"]) for row in rows}
    # staged, unfreeze_at step 10; window 0 trained 8 steps: the switch is window 1's step 2
    assert trainable[1] == 0.0 and trainable[3] == 1.0 and trainable[10] == 1.0
    assert all(float(row["train/images_per_s"]) > 0 for row in rows if row["train/images_per_s"])


def test_window_metrics_are_scalars_over_the_window_axis(resumed_logs):
    run_dir, _, _ = resumed_logs
    rows = read_csv(run_dir / "logs" / "csv" / "windows" / "metrics.csv")
    assert [int(row["step"]) for row in rows] == [0, 1]
    for row in rows:
        metrics = json.loads((run_dir / f"window_{row['step']}" / "metrics.json").read_text())
        for subset in ("next", "past", "growing", "whole"):
            for name in ("auroc", "ap"):
                value = metrics[subset][name]
                logged = row.get(f"eval/{subset}_{name}") or None
                if value is None:
                    assert logged is None
                else:
                    assert float(logged) == pytest.approx(value, abs=1e-9)
    assert (run_dir / "logs" / "tensorboard" / "windows").is_dir()
