"""When the images a pretrained encoder learned from stop: the latest date they can be from.

A generator released before that date may have images in the encoder's pretraining data (web
crawls pick up generated images soon after a generator is public), so a detector built on that
encoder may "know" the generator before the benchmark shows it: its Next-period numbers on that
generator are not a clean test of generalisation to the future. The dates below are upper
bounds: the publication of the data set or of the model trained on it (the crawl itself ended
earlier, often undisclosed); ``basis`` says which.

Pure data and string matching (no torch): ``backbone_pretraining(spec)`` finds the entry of a
backbone spec such as ``timm:vit_large_patch14_dinov2.lvd142m`` or
``open_clip:ViT-L-14/commonpool_xl_s13b_b90k``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PretrainingData:
    name: str
    cutoff: dt.date
    """The latest date its images can be from (an upper bound, see ``basis``)."""
    basis: str
    markers: tuple[str, ...]
    """Lower-case substrings of a backbone spec that name this data."""


PRETRAINING_DATA: tuple[PretrainingData, ...] = (
    PretrainingData(
        "ImageNet (ILSVRC-2012 / ImageNet-21k)",
        dt.date(2011, 12, 31),
        "the fall 2011 ImageNet release, which ILSVRC-2012 is drawn from",
        ("in1k", "in21k", "in22k", "imagenet", "tv_in1k", "torchvision:"),
    ),
    PretrainingData(
        "OpenAI CLIP (WIT-400M)",
        dt.date(2021, 1, 5),
        "CLIP's publication (January 2021); the crawl date is not published",
        ("openai",),
    ),
    PretrainingData(
        "LAION-400M",
        dt.date(2021, 8, 20),
        "LAION-400M's release (August 2021)",
        ("laion400m",),
    ),
    PretrainingData(
        "LAION-2B (LAION-5B)",
        dt.date(2022, 3, 31),
        "LAION-5B's release (March 2022)",
        ("laion2b", "laion5b"),
    ),
    PretrainingData(
        "DataComp CommonPool / DataComp-1B",
        dt.date(2023, 4, 27),
        "DataComp's publication (April 2023; Common Crawl snapshots up to 2022)",
        ("commonpool", "datacomp"),
    ),
    PretrainingData(
        "SigLIP (WebLI)",
        dt.date(2023, 3, 27),
        "SigLIP's publication (March 2023)",
        ("siglip", "webli"),
    ),
    PretrainingData(
        "DINOv2 (LVD-142M)",
        dt.date(2023, 4, 14),
        "DINOv2's publication (April 2023)",
        ("dinov2", "lvd142m"),
    ),
    PretrainingData(
        "MetaCLIP (Common Crawl 2.5B)",
        dt.date(2023, 9, 28),
        "MetaCLIP's publication (September 2023)",
        ("metaclip",),
    ),
    PretrainingData(
        "Apple DFN-5B",
        dt.date(2023, 9, 29),
        "Data Filtering Networks' publication (September 2023)",
        ("dfn2b", "dfn5b"),
    ),
)


def backbone_pretraining(spec: str) -> PretrainingData | None:
    """The pretraining data a backbone spec names (the most specific marker wins), or None."""
    text = spec.lower()
    best: tuple[int, PretrainingData] | None = None
    for data in PRETRAINING_DATA:
        for marker in data.markers:
            if marker in text and (best is None or len(marker) > best[0]):
                best = (len(marker), data)
    return None if best is None else best[1]


@dataclass(frozen=True)
class ExposureRow:
    """One generator against one pretraining data set."""

    generator: str
    release: dt.date
    window: int
    may_have_seen: bool
    """Released before the data's cut-off: its images may be in the pretraining data."""


def exposure(
    data: PretrainingData,
    windows: Sequence[Sequence[str]],
    release_dates: dict[str, dt.date],
) -> list[ExposureRow]:
    """Every generator of the timeline, in window order, flagged against ``data``'s cut-off."""
    return [
        ExposureRow(name, release_dates[name], index, release_dates[name] < data.cutoff)
        for index, window in enumerate(windows)
        for name in window
        if name in release_dates
    ]
