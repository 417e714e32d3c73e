"""Preempted at any moment: SLURM's requeue signal, then SIGTERM, in every phase of a run.

A simulated SLURM job (SLURM_* variables, an ``scontrol`` on PATH that records its arguments)
runs the console command; ``preempt_hooks`` sends the signals to the process itself when a named
phase starts. The run must stop at its next safe point, requeue the job once through ``scontrol``
with its id, exit 75 without a traceback; the requeued command then finishes with the
uninterrupted run's predictions bit for bit, leaving no ``hpc_ckpt_*`` or ``last-v*`` behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from aigenbench.cli import main
from aigenbench.errors import ConfigError
from aigenbench.training.preemption import (
    REQUEUED_EXIT_CODE,
    Requeued,
    RunInterrupted,
    SignalFlag,
    parse_signal,
    requeue,
    slurm_job_id,
)
from tests.training.conftest import (
    assert_same_predictions,
    fit_args,
    run_aigenbench,
    write_config,
)
from tests.training.test_resume_exact import signal_at

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
HOOKS = "--experiment.imports", '["tests.training.preempt_hooks"]'
JOB_ID = "4242"


def slurm_environment(bin_dir: Path, log: Path) -> dict[str, str]:
    """A one-task batch job as SLURM sets it up, with a recording ``scontrol`` first on PATH."""
    bin_dir.mkdir(exist_ok=True)
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n')
    scontrol.chmod(0o755)
    return {
        "SLURM_JOB_ID": JOB_ID,
        "SLURM_JOB_NAME": "aigenbench",
        "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_NNODES": "1",
        "SLURM_NODEID": "0",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODELIST": "localhost",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }


def run_preempted(
    args: list[str], phase: str, slurm: dict[str, str]
) -> subprocess.CompletedProcess:
    env = {
        **slurm,
        "AIGENBENCH_TEST_PREEMPT_AT": phase,
        "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")]),
    }
    return run_aigenbench(args, env=env, cwd=REPOSITORY)


@pytest.fixture(scope="module")
def probe_reference(tmp_path_factory, tiny_benchmark) -> tuple[Path, Path]:
    """An uninterrupted run with a frozen backbone (its features are cached)."""
    root = tmp_path_factory.mktemp("probe")
    config = write_config(root, "probe")
    assert main(fit_args(config, tiny_benchmark, root / "runs", "ref")) == 0
    return root / "runs" / "ref", config


PHASES = {
    # phase -> (frozen backbone?, what the stopped run must not have finished)
    "startup": (False, "window_0/membership.json"),
    "first-window-setup": (False, "window_0/checkpoints/last.ckpt"),
    "training": (False, "window_1/DONE"),
    "evaluation": (False, "window_0/DONE"),
    "between-windows": (False, "window_1/membership.json"),
    "feature-extraction": (True, "window_0/DONE"),  # the evaluation set's features
}


@pytest.mark.parametrize("phase", PHASES)
def test_requeue_signal_then_sigterm_in_every_phase(
    phase, request, tiny_benchmark, tmp_path, monkeypatch
):
    probe, not_yet = PHASES[phase]
    config = write_config(tmp_path, "probe" if probe else "tune")  # as the reference's
    log = tmp_path / "scontrol.log"
    slurm = slurm_environment(tmp_path / "bin", log)
    args = fit_args(config, tiny_benchmark, tmp_path / "runs", "job", *HOOKS)
    run_dir = tmp_path / "runs" / "job"

    stopped = run_preempted(args, phase, slurm)
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode == REQUEUED_EXIT_CODE, output
    assert "Traceback" not in output
    assert f"SLURM job {JOB_ID} is requeued" in output
    assert log.read_text().splitlines() == [f"requeue {JOB_ID}"]
    assert not (run_dir / not_yet).exists(), f"the run was not stopped at {phase}"

    # The requeued job: the same command in the same SLURM job, no signal this time.
    for name, value in slurm.items():
        monkeypatch.setenv(name, value)
    assert main(args) == 0
    assert log.read_text().splitlines() == [f"requeue {JOB_ID}"], "requeued twice"
    reference, _ = request.getfixturevalue("probe_reference" if probe else "finished")
    assert_same_predictions(reference, run_dir, 2)
    left = [p.name for p in run_dir.rglob("*.ckpt") if p.name.startswith(("hpc_ckpt_", "last"))]
    assert left == []


def test_array_job_is_requeued_by_its_array_id(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "1001")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "1000")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert slurm_job_id() == "1000_3"
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID")
    assert slurm_job_id() == "1001"


def test_requeue_calls_scontrol_once_with_the_job_id(tmp_path, monkeypatch):
    log = tmp_path / "scontrol.log"
    for name, value in slurm_environment(tmp_path / "bin", log).items():
        monkeypatch.setenv(name, value)
    flag = SignalFlag()
    flag.requeue_requested = True
    became = requeue(RunInterrupted("stopped on SIGUSR1 before window 1."), flag)
    assert isinstance(became, Requeued) and became.exit_code == REQUEUED_EXIT_CODE
    assert log.read_text().splitlines() == [f"requeue {JOB_ID}"]
    monkeypatch.setenv("SLURM_PROCID", "1")  # another rank: stops, does not requeue
    assert isinstance(requeue(RunInterrupted("stopped."), flag), Requeued)
    assert log.read_text().splitlines() == [f"requeue {JOB_ID}"]


def test_requeue_signal_is_configurable():
    assert parse_signal("USR2") == signal.SIGUSR2
    assert parse_signal("SIGUSR1") == signal.SIGUSR1
    with pytest.raises(ConfigError, match=r"Did you mean: .*SIGUSR1"):
        parse_signal("SIGUSR")
    flag = SignalFlag()
    with flag:
        flag.use_requeue_signal(signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR2)
        assert flag.requeue_requested and flag.received == signal.SIGUSR2


def test_every_checkpoint_read_back_is_weights_only(
    tiny_config, tiny_benchmark, tmp_path, monkeypatch
):
    """Resuming under SLURM reads every checkpoint with weights_only=True, and nothing is saved
    with Lightning's unset weights_only (its SLURM handler's save, now off)."""
    from lightning.pytorch.trainer.connectors.checkpoint_connector import _CheckpointConnector

    for name, value in slurm_environment(tmp_path / "bin", tmp_path / "scontrol.log").items():
        monkeypatch.setenv(name, value)
    args = fit_args(tiny_config, tiny_benchmark, tmp_path, "loads")
    with monkeypatch.context() as patch:
        signal_at(patch, window=1, step=3)
        assert main(args) == 130
    loads: list[object] = []
    saves: list[object] = []
    real_load, real_dump = torch.load, _CheckpointConnector.dump_checkpoint

    def load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    def dump(connector, weights_only=None):
        saves.append(weights_only)
        return real_dump(connector, weights_only)

    monkeypatch.setattr(torch, "load", load)
    monkeypatch.setattr(_CheckpointConnector, "dump_checkpoint", dump)
    assert main(args) == 0
    assert loads, "the rerun read no checkpoint: it did not resume"
    assert all(flag is True for flag in loads), loads
    assert saves and None not in saves, saves
