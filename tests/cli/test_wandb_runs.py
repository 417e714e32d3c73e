"""W&B (offline): one run per window, each finished at its window's end, ids from the
experiment so a rerun resumes them; read back from the run folders wandb writes."""

from __future__ import annotations

import re

import pytest

from tests.conftest import optional_module
from tests.training.conftest import fit_args, write_config


@pytest.mark.slow
def test_each_window_is_its_own_wandb_run(run_cli, tiny_benchmark, tmp_path, monkeypatch):
    optional_module("wandb", "wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    args = fit_args(write_config(tmp_path), tiny_benchmark, tmp_path, "wb")
    result = run_cli(*args, "--experiment.loggers", "[wandb]")
    assert result.exit_code == 0, result.err
    assert "already in progress" not in result.out + result.err
    folders = sorted((tmp_path / "wb" / "logs" / "wandb").glob("offline-run-*"))
    ids = [re.sub(r"^offline-run-\d+_\d+-", "", folder.name) for folder in folders]
    assert "wb-window_0" in ids and "wb-window_1" in ids  # not window 1 inside window 0's run
    assert set(ids) <= {"wb-window_0", "wb-window_1", "wb-windows"}
    for folder in folders:  # every run was finished: its log says so
        log = (folder / "logs" / "debug-internal.log").read_text()
        assert "all finished" in log
