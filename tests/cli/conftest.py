"""The CLI tests share the runner tests' tiny synthetic benchmark, and run the console script
as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.training.conftest import tiny_benchmark  # noqa: F401  (the shared session fixture)

CONSOLE_SCRIPT = Path(sys.executable).parent / "aigenbench"


def console(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``aigenbench ARGS`` as a user types it: the installed script, no PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
