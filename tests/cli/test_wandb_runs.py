"""W&B (offline): one run per window, each finished at its window's end, ids from the
experiment so a rerun continues them; read back from the run folders and records wandb writes.

A fit stopped by SIGTERM inside window 1's training and run again: window 0's run is not
reopened, window 1's run continues under its id at the step its checkpoint saved, window 2 has
its own run."""

from __future__ import annotations

import json
import re
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import CONSOLE_SCRIPT, console
from tests.conftest import optional_module
from tests.training.conftest import fit_args, write_config

BLOCK = 32768
"""wandb's transaction log (``run-<id>.wandb``): LevelDB's log format, 32 KiB blocks."""


def wandb_records(path: Path) -> Iterator[bytes]:
    """The serialized records of a ``.wandb`` file (header ``:W&B``, then LevelDB log chunks:
    CRC, length, type FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    position, pending = 7, b""
    while position + 7 <= len(data):
        left = BLOCK - position % BLOCK
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if left < 7 or (kind == 0 and length == 0):  # block trailer / padding
            position += left
            continue
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk


def read_run(folder: Path) -> dict:
    """A run folder's id, group and logged rows (W&B's ``_step`` and the trainer's step)."""
    from wandb.proto import wandb_internal_pb2

    run: dict = {"rows": []}
    for raw in wandb_records(next(folder.glob("run-*.wandb"))):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["id"], run["group"] = record.run.run_id, record.run.run_group
        elif kind == "history":
            items = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in record.history.item
            }
            run["rows"].append((record.history.step.num, items.get("trainer/global_step")))
    return run


@pytest.mark.slow
def test_an_interrupted_window_continues_its_own_wandb_run(tiny_benchmark, tmp_path, monkeypatch):
    optional_module("wandb", "wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    args = [
        *fit_args(write_config(tmp_path), tiny_benchmark, tmp_path / "runs", "wb"),
        "--experiment.loggers", "[wandb]",
        "--protocol.generators_per_window", "3",  # 3 windows: 0, 1 (stopped), 2
        "--data.augmentation_factor", "2",  # enough steps that the stop lands inside window 1
    ]  # fmt: skip
    run_dir = tmp_path / "runs" / "wb"
    first = subprocess.Popen(
        [str(CONSOLE_SCRIPT), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last = run_dir / "window_1" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.is_file():
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "window 1 never checkpointed"
        time.sleep(0.01)
    first.send_signal(signal.SIGTERM)
    stopped, _ = first.communicate(timeout=300)
    assert first.returncode == 130, stopped
    assert not (run_dir / "window_1" / "DONE").exists(), "stopped too late to test"

    rerun = console(args, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    output = stopped + rerun.stdout + rerun.stderr
    assert "already in progress" not in output

    folders = sorted((run_dir / "logs" / "wandb").glob("offline-run-*"))
    runs = [read_run(folder) for folder in folders]
    for folder, run in zip(folders, runs, strict=True):
        assert re.sub(r"^offline-run-\d+_\d+-", "", folder.name) == run["id"]
        assert run["group"] == "wb"
        assert "all finished" in (folder / "logs" / "debug-internal.log").read_text()
    by_id: dict[str, list[dict]] = {}
    for run in runs:  # folders sort by their start time
        by_id.setdefault(run["id"], []).append(run)
    assert set(by_id) == {"wb-window_0", "wb-window_1", "wb-window_2", "wb-windows"}
    # window 0 was finished before the stop: its run is not reopened by the rerun
    assert len(by_id["wb-window_0"]) == 1 and len(by_id["wb-window_2"]) == 1
    # window 1: one run, started twice; the second start continues at the step it saved
    stopped_part, continued = by_id["wb-window_1"]
    assert stopped_part["rows"] and continued["rows"]
    for run in by_id["wb-window_1"] + by_id["wb-window_2"]:
        assert all(step == trainer_step for step, trainer_step in run["rows"])
    steps_before = sorted({step for step, _ in stopped_part["rows"]})
    steps_after = sorted({step for step, _ in continued["rows"]})
    assert steps_before[0] == 0 and steps_after[0] == steps_before[-1] + 1
    # the window axis: one point per window, at step k, whichever process logged it
    assert sorted(step for run in by_id["wb-windows"] for step, _ in run["rows"]) == [0, 1, 2]
