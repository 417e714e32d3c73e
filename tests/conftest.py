"""Shared fixtures: run the CLI in-process and capture what a user would see."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

# Nothing in the suite may reach a hub: weights and data are made by the tests themselves.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def optional_module(name: str, extra: str):
    """Import an optional dependency; skip without it, unless CI requires it (then fail)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("AIGENBENCH_REQUIRE_EXTRAS") == "1":
            pytest.fail(f"{name} is missing: `make test` installs the {extra} extra")
        pytest.skip(f"the {extra} extra is not installed")


@dataclass
class CliResult:
    exit_code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys):
    """Run ``aigenbench ARGS...`` in-process; return exit code, stdout and stderr."""
    from aigenbench.cli import main

    def run(*args: str) -> CliResult:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
