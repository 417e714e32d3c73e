"""Chronological windows of generators (PROTOCOL.md §3)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from aigenbench.errors import ProtocolError
from aigenbench.protocol.timeline import REAL_GENERATOR, Timeline

BenchmarkType = Literal["cumulative", "continual_learning", "none"]
BENCHMARK_TYPES: tuple[str, ...] = get_args(BenchmarkType)


def check_benchmark_type(benchmark_type: str) -> BenchmarkType:
    if benchmark_type not in BENCHMARK_TYPES:
        raise ProtocolError(
            f"unknown benchmark type {benchmark_type!r}; use one of {', '.join(BENCHMARK_TYPES)}"
        )
    return benchmark_type  # type: ignore[return-value]


def make_windows(
    generators: Iterable[str],
    timeline: Timeline,
    per_window: int = 4,
    benchmark_type: BenchmarkType = "cumulative",
) -> list[list[str]]:
    """Group the fake ``generators`` into chronological windows.

    Generators are taken in release order, ``per_window`` at a time; after adding a generator, every
    following generator with the same release date joins the same window (so a window can hold more
    than ``per_window``). With ``benchmark_type='none'`` there is one window holding everything.
    Real images (the empty name) are ignored here.
    """
    check_benchmark_type(benchmark_type)
    fakes = sorted({name for name in generators if name != REAL_GENERATOR})
    if not fakes:
        raise ProtocolError("there are no fake generators to put in windows")
    ordered = timeline.chronological(fakes)
    if benchmark_type == "none":
        return [ordered]
    if isinstance(per_window, bool) or not isinstance(per_window, int) or per_window < 1:
        raise ProtocolError(
            f"generators per window must be a whole number of at least 1, got {per_window!r}"
        )

    windows: list[list[str]] = []
    position = 0
    while position < len(ordered):
        window: list[str] = []
        for _ in range(per_window):
            if position == len(ordered):
                break
            date = timeline[ordered[position]]
            window.append(ordered[position])
            position += 1
            while position < len(ordered) and timeline[ordered[position]] == date:
                window.append(ordered[position])
                position += 1
        windows.append(window)
    return windows


def generator_id_to_name(train_generators: Iterable[str]) -> list[str]:
    """Generator ids: the sorted distinct names of the train split, real (``""``) first = id 0."""
    names = sorted(set(train_generators))
    if not names or names[0] != REAL_GENERATOR:
        raise ProtocolError(
            "the train split has no real images (generator ''); the protocol pairs every fake "
            "with a real image, so real images are required"
        )
    return names
