"""aigenbench: train and evaluate AI-generated image detectors on the AI-GenBench protocol."""

from __future__ import annotations

from typing import Any

from aigenbench.classpath import find_moved_modules

__version__ = "0.1.0"

# Code written before a module of aigenbench moved (classpath.MOVED_MODULES) still imports it.
find_moved_modules()

# The public API, imported on first use so that ``import aigenbench`` stays light (no torch).
_LAZY = {
    "load_detector": "aigenbench.export.detector_api",
    "LoadedDetector": "aigenbench.export.detector_api",
    "Verdict": "aigenbench.export.detector_api",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aigenbench' has no attribute {name!r}")
