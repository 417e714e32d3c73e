"""Audit a dataset before a long run: every image decodable, every generator in the timeline,
labels consistent with generators. ``aigenbench data check`` prints the report."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from aigenbench.data.decode import DEFAULT_MAX_PIXELS, UnreadableImage, decode_image
from aigenbench.data.sources import SPLITS, ImageSource
from aigenbench.protocol import REAL_GENERATOR, Timeline

CHUNK = 256


@dataclass(frozen=True)
class Problem:
    """One bad row: its split, ID, where it lives and what is wrong."""

    split: str
    row_id: int
    where: str
    reason: str


@dataclass
class CheckReport:
    source: str
    timeline: str
    rows: dict[str, int] = field(default_factory=dict)
    unreadable: list[Problem] = field(default_factory=list)
    label_mismatches: list[Problem] = field(default_factory=list)
    unknown_generators: dict[str, Counter] = field(default_factory=dict)
    """Generator name -> rows per split, for generators absent from the timeline."""

    @property
    def ok(self) -> bool:
        return not (self.unreadable or self.label_mismatches or self.unknown_generators)


def _check_rows(
    source: ImageSource, split: str, start: int, stop: int, max_pixels: int
) -> list[Problem]:
    problems = []
    for row_id in range(start, stop):
        try:
            decode_image(source.read(split, row_id), max_pixels)
        except UnreadableImage as error:
            problems.append(Problem(split, row_id, source.describe(split, row_id), error.reason))
    return problems


_WORKER_SOURCE: ImageSource | None = None


def _init_worker(source: ImageSource) -> None:
    global _WORKER_SOURCE
    from aigenbench.data.loading import limit_threads

    limit_threads()
    _WORKER_SOURCE = source


def _check_chunk(split: str, start: int, stop: int, max_pixels: int) -> list[Problem]:
    assert _WORKER_SOURCE is not None
    return _check_rows(_WORKER_SOURCE, split, start, stop, max_pixels)


def check_source(
    source: ImageSource,
    timeline: Timeline,
    workers: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """Decode every image of both splits (in ``workers`` processes) and compare the generators with
    ``timeline``. ``progress(n)`` is called as ``n`` more rows are done."""
    report = CheckReport(str(source.path), timeline.source)
    chunks: list[tuple[str, int, int]] = []
    for split in SPLITS:
        generators = source.generators(split)
        labels = source.labels(split)
        report.rows[split] = len(generators)
        for row_id, (generator, label) in enumerate(zip(generators, labels, strict=True)):
            if generator != REAL_GENERATOR and generator not in timeline:
                report.unknown_generators.setdefault(generator, Counter())[split] += 1
            if label != (0 if generator == REAL_GENERATOR else 1):
                report.label_mismatches.append(
                    Problem(
                        split,
                        row_id,
                        source.describe(split, row_id),
                        f"label {label} but generator {generator!r} (real images: label 0, "
                        f"generator '')",
                    )
                )
        chunks += [
            (split, s, min(s + CHUNK, len(generators))) for s in range(0, len(generators), CHUNK)
        ]

    def done(chunk: tuple[str, int, int], problems: list[Problem]) -> None:
        report.unreadable.extend(problems)
        if progress is not None:
            progress(chunk[2] - chunk[1])

    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            done(chunk, _check_rows(source, *chunk, max_pixels))
    else:
        with ProcessPoolExecutor(
            max_workers=workers, initializer=_init_worker, initargs=(source,)
        ) as pool:
            futures = [(chunk, pool.submit(_check_chunk, *chunk, max_pixels)) for chunk in chunks]
            for chunk, future in futures:
                done(chunk, future.result())
    report.unreadable.sort(key=lambda problem: (SPLITS.index(problem.split), problem.row_id))
    return report


def default_workers() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
