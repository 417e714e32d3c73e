"""Fixtures of the runner tests: a tiny synthetic benchmark and a tiny CPU model config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aigenbench.data.synth import SynthConfig, build_synthetic

TINY = SynthConfig(seed=5, size=32, per_generator=16, validation_per_generator=8, generators=8)
"""8 generators = 2 windows of 4; 256 training and 128 validation images of 32x32 px."""

TINY_YAML = """\
model:
  backbone: timm:test_resnet
  pretrained: false
  freezing: {freezing}
  input_size: 32
data:
  train_batch_size: 16
  eval_batch_size: 32
  num_workers: 0
  augmentation_factor: 1
trainer:
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  log_every_n_steps: 1
experiment:
  checkpoint_every_n_steps: 2
  loggers: [csv]
"""


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "tiny"
    build_synthetic(out, TINY)
    return out


def write_config(directory: Path, freezing: str = "tune") -> Path:
    path = directory / f"tiny_{freezing}.yaml"
    path.write_text(TINY_YAML.format(freezing=freezing))
    return path


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def fit_args(config: Path, dataset: Path, runs: Path, experiment: str, *extra: str) -> list[str]:
    return [
        "fit",
        "--config",
        str(config),
        "--dataset",
        str(dataset),
        "--runs-dir",
        str(runs),
        "--experiment-id",
        experiment,
        *extra,
    ]


def run_aigenbench(
    args: list[str], env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """The console command in a subprocess (what a user runs), output captured; ``env``: more
    environment variables (e.g. a test hook's), ``kwargs`` go to subprocess.run (cwd, timeout)."""
    kwargs.setdefault("timeout", 600)
    return subprocess.run(
        [sys.executable, "-m", "aigenbench.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        **kwargs,
    )


def fit_on_one_and_two_processes(
    config: Path, dataset: Path, runs: Path, *extra: str
) -> subprocess.CompletedProcess:
    """The same fit as experiment ``one`` (1 process, batch 16) and ``two`` (2 CPU processes
    under DDP, batch 8 each: with averaged gradients, one step of 16). Returns ``two``'s run."""
    one = run_aigenbench(
        fit_args(config, dataset, runs, "one", "--data.train_batch_size", "16", *extra)
    )
    assert one.returncode == 0, one.stderr
    two = run_aigenbench(
        fit_args(
            config,
            dataset,
            runs,
            "two",
            "--trainer.devices",
            "2",
            "--trainer.strategy",
            "ddp",
            "--data.train_batch_size",
            "8",
            *extra,
        ),
        timeout=600,
    )
    assert two.returncode == 0, two.stdout + two.stderr
    return two


def load_predictions(run_dir: Path, window: int, stage: str = "validate") -> dict[str, np.ndarray]:
    with np.load(run_dir / f"window_{window}" / f"predictions_{stage}.npz") as data:
        return {key: data[key] for key in data.files}


def assert_same_predictions(a: Path, b: Path, windows: int) -> None:
    for window in range(windows):
        left, right = load_predictions(a, window), load_predictions(b, window)
        assert left.keys() == right.keys()
        for key in left:
            np.testing.assert_array_equal(left[key], right[key], err_msg=f"window {window}: {key}")


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_benchmark: Path) -> tuple[Path, Path]:
    """One complete two-window experiment (run dir, config), shared by tests that read it."""
    from aigenbench.cli import main

    root = tmp_path_factory.mktemp("fit")
    config = write_config(root)
    assert main(fit_args(config, tiny_benchmark, root / "runs", "exp")) == 0
    return root / "runs" / "exp", config
