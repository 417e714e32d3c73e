"""Field metadata shared by the config sections (dataclasses owned by their packages).

A field marked :data:`RUNTIME` changes how a run executes, not what it computes (devices,
workers, loggers, where the dataset lives): an experiment may be resumed with another value.
Every other field is result-affecting: it is hashed into the default experiment id and must
match the experiment's ``config.yaml`` on a rerun. The world size is the exception that proves
the rule: ``trainer.devices`` / ``num_nodes`` are runtime fields, yet the processes they make are
recorded per window and a resume on another number is refused (see ``training/window.py``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

RUNTIME: MappingProxyType[str, Any] = MappingProxyType({"runtime": True})
"""``field(default=..., metadata=RUNTIME)``: a setting that does not change results."""


def is_runtime(metadata: Any) -> bool:
    return bool(metadata.get("runtime", False))
