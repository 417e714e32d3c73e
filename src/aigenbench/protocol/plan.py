"""The whole protocol for one dataset: windows, generator ids, training rows, evaluation sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from aigenbench.errors import ProtocolError
from aigenbench.protocol.selection import (
    EvaluationSet,
    SplitIndex,
    Stage,
    UnknownGeneratorPolicy,
    evaluation_set,
    index_split,
    training_subset,
    training_windows,
)
from aigenbench.protocol.timeline import Timeline, load_timeline
from aigenbench.protocol.windows import (
    BenchmarkType,
    check_benchmark_type,
    generator_id_to_name,
    make_windows,
)


@dataclass
class ProtocolConfig:
    """How the benchmark cuts the data (the ``protocol`` section of a config)."""

    benchmark_type: Literal["cumulative", "continual_learning", "none"] = "cumulative"
    """``cumulative`` (the protocol), ``continual_learning`` (window k only) or ``none``."""
    generators_per_window: int = 4
    """Generators per window, in release order (the protocol: 4)."""
    timeline: str | None = None
    """A ``generator,release_date`` CSV; None uses the built-in v1.0 timeline."""
    data_seed: int = 1337
    """Seed of the protocol's draws (real images, training subsets): window w uses it + w."""
    train_subset_size: int | float = 0
    """A generator-stratified subset of each window's training rows (0: all; <1.0: fraction)."""
    validation_subset_size: int | float = 0
    """Keep a stratified subset of the evaluation rows (0: all; <1.0: fraction)."""
    unknown_generators: Literal["error", "drop"] = "error"
    """A generator missing from the timeline: stop with an error, or drop its rows (official)."""


@dataclass
class BenchmarkPlan:
    """Everything the protocol decides for one dataset, computed from its generator columns."""

    config: ProtocolConfig
    timeline: Timeline
    train: SplitIndex
    validation: SplitIndex
    windows: list[list[str]]
    generator_names: list[str]
    """Generator id -> name; id 0 is real (``""``)."""
    notes: list[str] = field(default_factory=list)
    """Things a user should know (e.g. timeline generators the data lacks)."""
    _evaluation_sets: dict[str, EvaluationSet] = field(default_factory=dict, init=False, repr=False)

    @property
    def n_windows(self) -> int:
        return len(self.windows)

    @cached_property
    def train_rows(self) -> list[list[int]]:
        """Training row IDs per window (before ``train_subset_size``)."""
        return training_windows(
            self.train, self.windows, self.config.benchmark_type, self.config.data_seed
        )

    def training_ids(self, window: int) -> list[int]:
        """The training row IDs of ``window``, with the optional stratified subset applied."""
        self.check_window(window)
        ids = self.train_rows[window]
        if not self.config.train_subset_size:
            return list(ids)
        position = {row_id: p for p, row_id in enumerate(self.train.ids)}
        generators = [self.train.generators[position[row_id]] for row_id in ids]
        return training_subset(
            ids, generators, self.config.train_subset_size, self.config.data_seed + window
        )

    def evaluation(self, stage: Stage = "validate") -> EvaluationSet:
        """The evaluation rows and pairing (validation and test both read the validation split)."""
        if stage not in self._evaluation_sets:
            self._evaluation_sets[stage] = evaluation_set(
                self.validation,
                self.generator_names,
                stage=stage,
                subset_size=self.config.validation_subset_size,
                seed=self.config.data_seed,
            )
        return self._evaluation_sets[stage]

    def check_window(self, window: int) -> None:
        if not 0 <= window < self.n_windows:
            raise ProtocolError(
                f"window {window} does not exist: this benchmark has {self.n_windows} window(s), "
                f"numbered 0 to {self.n_windows - 1}"
            )

    def windows_with_dates(self) -> list[list[dict[str, str]]]:
        return windows_with_dates(self.windows, self.timeline)


def windows_with_dates(
    windows: Sequence[Sequence[str]], timeline: Timeline
) -> list[list[dict[str, str]]]:
    return [
        [{"generator": name, "release_date": timeline[name].isoformat()} for name in window]
        for window in windows
    ]


def make_plan(
    train_generators: Sequence[str],
    validation_generators: Sequence[str],
    config: ProtocolConfig | None = None,
    timeline: Timeline | None = None,
) -> BenchmarkPlan:
    """Apply the protocol to a dataset given the ``generator`` column of its two splits.

    ``timeline`` defaults to ``config.timeline`` (or the built-in one).
    """
    config = config or ProtocolConfig()
    check_benchmark_type(config.benchmark_type)
    if timeline is None:
        timeline = load_timeline(config.timeline)
    unknown: UnknownGeneratorPolicy = config.unknown_generators
    train = index_split(train_generators, timeline, name="train", unknown=unknown)
    validation = index_split(validation_generators, timeline, name="validation", unknown=unknown)
    names = generator_id_to_name(train.generators)
    benchmark_type: BenchmarkType = config.benchmark_type
    windows = make_windows(names[1:], timeline, config.generators_per_window, benchmark_type)

    notes: list[str] = []
    absent = [name for name in timeline if name not in set(names)]
    if absent:
        note = (
            f"{len(absent)} generator(s) of the timeline ({timeline.source}) have no training "
            f"image and are left out of the windows: {', '.join(absent[:8])}"
            + (" ..." if len(absent) > 8 else "")
        )
        notes.append(note)
    for split in (train, validation):
        for generator, count in sorted(split.dropped.items()):
            notes.append(
                f"{split.name}: dropped {count} row(s) of {generator!r} (not in the timeline)"
            )
    return BenchmarkPlan(config, timeline, train, validation, windows, names, notes)
