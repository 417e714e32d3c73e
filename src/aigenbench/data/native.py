"""What the native region decoders (jpeg_region, webp_region, png_rows) share: finding a C
library that a wheel bundles, and checking a requested region against the image's size."""

from __future__ import annotations

import ctypes.util
import importlib
from collections.abc import Sequence
from pathlib import Path

Region = tuple[int, int, int, int]
"""``(top, left, height, width)`` in pixels."""


def library_candidates(package: str, patterns: Sequence[str], system_name: str) -> list[str]:
    """Paths to try for a shared library: those matching ``patterns`` (globs relative to the
    folder of the installed ``package``, the wheel that ships the library), then the system's
    ``system_name`` library when the loader knows one."""
    paths: list[str] = []
    try:
        folder = Path(importlib.import_module(package).__file__ or "").parent
    except ImportError:
        folder = None
    if folder is not None:
        for pattern in patterns:
            paths += sorted(str(path) for path in folder.glob(pattern))
    system = ctypes.util.find_library(system_name)
    if system:
        paths.append(system)
    return paths


def checked_region(region: Region | None, height: int, width: int) -> Region | None:
    """``region`` (the whole image when None) when it is non-empty and inside a ``height`` x
    ``width`` image; None otherwise (the caller then leaves the file to the usual decoder)."""
    top, left, crop_h, crop_w = (0, 0, height, width) if region is None else region
    if top < 0 or left < 0 or crop_h < 1 or crop_w < 1:
        return None
    if top + crop_h > height or left + crop_w > width:
        return None
    return top, left, crop_h, crop_w
