"""Which rows each window trains on (PROTOCOL.md §4) and which rows are evaluated (§5).

Everything here works on the ``generator`` column of a split, as a list of names in row order, and
returns row IDs (the row index in the split *before* unknown generators are dropped). The draws
use the same seeds, the same random-number calls and the same order of operations as the official
framework, so the same dataset gives the same rows and the same pairing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from aigenbench.errors import ProtocolError
from aigenbench.protocol.timeline import REAL_GENERATOR, Timeline, unknown_generators_error
from aigenbench.protocol.windows import BenchmarkType, check_benchmark_type

UnknownGeneratorPolicy = Literal["error", "drop"]
Stage = Literal["validate", "test"]

# Offsets from the data seed (1337), as in the official framework.
BALANCE_SEED_OFFSET = 1
SUBSET_SEED_OFFSET = 2
SHUFFLE_SEED_OFFSET = 3
PAIRING_SEED_OFFSET: dict[str, int] = {"validate": 4, "test": 3}


@dataclass(frozen=True)
class SplitIndex:
    """The rows of one split that take part in the benchmark.

    ``ids[i]`` is the row's ID (its index in the split before filtering) and ``generators[i]`` its
    generator name (``""`` for real). Rows are in dataset order.
    """

    name: str
    ids: tuple[int, ...]
    generators: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)
    """Rows left out because their generator is not in the timeline: name -> count."""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_real(self) -> int:
        return sum(1 for name in self.generators if name == REAL_GENERATOR)

    @property
    def n_fake(self) -> int:
        return len(self.generators) - self.n_real


def index_split(
    generator_column: Sequence[str],
    timeline: Timeline,
    *,
    name: str,
    unknown: UnknownGeneratorPolicy = "error",
) -> SplitIndex:
    """Give every row its ID and keep real rows and rows whose generator is in ``timeline``.

    With ``unknown='error'`` a generator absent from the timeline is an error that names it and says
    how to add it; with ``'drop'`` its rows are left out (the official framework's behaviour).
    """
    if unknown not in ("error", "drop"):
        raise ProtocolError(
            f"protocol.unknown_generators must be 'error' or 'drop', got {unknown!r}"
        )
    if len(generator_column) == 0:
        raise ProtocolError(f"the {name} split is empty: it has no rows")
    ids: list[int] = []
    generators: list[str] = []
    dropped: dict[str, int] = {}
    for row_id, generator in enumerate(generator_column):
        if generator is None:
            raise ProtocolError(f"{name} split, row {row_id}: the generator is missing (None)")
        if generator == REAL_GENERATOR or generator in timeline:
            ids.append(row_id)
            generators.append(generator)
        else:
            dropped[generator] = dropped.get(generator, 0) + 1
    if dropped and unknown == "error":
        raise unknown_generators_error(dropped, timeline)
    if not ids:
        raise ProtocolError(
            f"the {name} split has no rows left: none of its generators is in the timeline "
            f"({timeline.source})"
        )
    return SplitIndex(name, tuple(ids), tuple(generators), dropped)


def training_windows(
    train: SplitIndex,
    windows: Sequence[Sequence[str]],
    benchmark_type: BenchmarkType,
    seed: int = 1337,
) -> list[list[int]]:
    """The training row IDs of every window.

    Window w holds its generators' fakes (dataset order) after as many reals, drawn with
    ``random.seed(seed + w); random.sample(sorted(not yet drawn reals), n_fakes)``. Cumulative:
    window k is window k's own rows followed by the cumulative window k-1. ``'none'``: every row.
    """
    check_benchmark_type(benchmark_type)
    if benchmark_type == "none":
        return [list(train.ids)]

    positions_of: list[list[int]] = []
    available_reals = {i for i, name in enumerate(train.generators) if name == REAL_GENERATOR}
    for window_index, window in enumerate(windows):
        members = set(window)
        fakes = [i for i, name in enumerate(train.generators) if name in members]
        if not fakes:
            raise ProtocolError(
                f"window {window_index} ({', '.join(window)}) has no training image"
            )
        if len(fakes) > len(available_reals):
            raise ProtocolError(
                f"window {window_index} needs {len(fakes)} real training images (one per fake) "
                f"but only {len(available_reals)} are left after earlier windows; the train split "
                f"needs at least as many real images as fake ones"
            )
        random.seed(seed + window_index)
        reals = random.sample(sorted(available_reals), len(fakes))
        available_reals.difference_update(reals)
        positions_of.append(reals + fakes)

    if benchmark_type == "cumulative":
        for window_index in range(1, len(positions_of)):
            positions_of[window_index] = positions_of[window_index] + positions_of[window_index - 1]
    return [[train.ids[p] for p in positions] for positions in positions_of]


def _subset_size(size: int | float, total: int) -> int:
    if isinstance(size, float) and size < 1.0:
        return int(size * total)
    return int(size)


def _stratified_first_part(
    items: Sequence[int], size: int, strata: Sequence[str], seed: int | None, what: str
) -> list[int]:
    """``train_test_split(items, train_size=size, stratify=strata, random_state=seed)[0]``."""
    from sklearn.model_selection import train_test_split

    if size >= len(items):
        raise ProtocolError(f"{what}: asked for {size} of {len(items)} rows; ask for fewer")
    if size < 1:
        raise ProtocolError(f"{what}: the subset would be empty; ask for at least 1 row")
    try:
        first, _ = train_test_split(
            list(items), train_size=size, stratify=list(strata), random_state=seed
        )
    except ValueError as error:
        raise ProtocolError(
            f"{what}: a stratified draw of {size} rows over {len(set(strata))} generators is "
            f"impossible ({error}); every generator needs at least 2 rows and the size must be "
            f"at least the number of generators"
        ) from None
    return [int(item) for item in first]


def training_subset(
    ids: Sequence[int],
    generators: Sequence[str],
    size: int | float,
    seed: int,
) -> list[int]:
    """A generator-stratified subset of a window's training rows (``train_subset_size``).

    ``size`` below 1.0 (float) is a fraction, otherwise a count; 0 keeps everything. Unlike the
    official framework, which draws it without a seed, the draw is seeded so runs repeat.
    """
    if not size:
        return list(ids)
    n = _subset_size(size, len(ids))
    positions = _stratified_first_part(
        list(range(len(ids))), n, generators, seed, "protocol.train_subset_size"
    )
    return [ids[p] for p in positions]


@dataclass(frozen=True)
class EvaluationSet:
    """The evaluated rows of a split, in evaluation order, and how reals are paired with fakes.

    ``pairing[real_id]`` is the generator id of the fake a real image is paired with; metrics
    restricted to some generators use their fakes and the reals paired with them.
    """

    stage: str
    ids: tuple[int, ...]
    generators: tuple[str, ...]
    pairing: dict[int, int]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def labels(self) -> list[int]:
        return [0 if name == REAL_GENERATOR else 1 for name in self.generators]

    def pairing_of(self, ids: Sequence[int]) -> np.ndarray:
        """The pairing column for ``ids``: the paired generator id for a real, -1 otherwise."""
        return np.fromiter(
            (self.pairing.get(int(i), -1) for i in ids), dtype=np.int64, count=len(ids)
        )


def evaluation_set(
    split: SplitIndex,
    generator_names: Sequence[str],
    *,
    stage: Stage = "validate",
    subset_size: int | float = 0,
    seed: int = 1337,
) -> EvaluationSet:
    """Balance, optionally subset, shuffle and pair the rows of an evaluation split (§5)."""
    if stage not in PAIRING_SEED_OFFSET:
        raise ProtocolError(f"unknown evaluation stage {stage!r}; use 'validate' or 'test'")
    generator_id = {name: i for i, name in enumerate(generator_names)}
    strangers = sorted({name for name in split.generators if name not in generator_id})
    if strangers:
        raise ProtocolError(
            f"the {split.name} split has generator(s) {', '.join(map(repr, strangers))} that the "
            f"train split lacks; every evaluated generator must also be trained on"
        )
    reals = [i for i, name in enumerate(split.generators) if name == REAL_GENERATOR]
    fakes = [i for i, name in enumerate(split.generators) if name != REAL_GENERATOR]
    if not reals or not fakes:
        missing = "real" if not reals else "fake"
        raise ProtocolError(
            f"the {split.name} split has no {missing} images; evaluation needs both real and fake"
        )

    # 1. Balance. The official code crashes when the counts are equal; we keep everything.
    if len(reals) > len(fakes):
        random.seed(seed + BALANCE_SEED_OFFSET)
        chosen = random.sample(reals, len(fakes)) + fakes
    elif len(fakes) > len(reals):
        chosen = reals + _stratified_first_part(
            fakes,
            len(reals),
            [split.generators[i] for i in fakes],
            seed + BALANCE_SEED_OFFSET,
            f"balancing the {split.name} split (fewer reals than fakes)",
        )
    else:
        chosen = reals + fakes

    # 2. Optional stratified subset, in the order the draw returns.
    if subset_size:
        n = _subset_size(subset_size, len(chosen))
        picked = _stratified_first_part(
            list(range(len(chosen))),
            n,
            [split.generators[i] for i in chosen],
            seed + SUBSET_SEED_OFFSET,
            "protocol.validation_subset_size",
        )
        chosen = [chosen[p] for p in picked]

    # 3. Shuffle: what datasets.Dataset.shuffle(seed=1340) does.
    permutation = np.random.default_rng(seed + SHUFFLE_SEED_OFFSET).permutation(len(chosen))
    order = [chosen[int(p)] for p in permutation]
    generators = [split.generators[i] for i in order]
    ids = [split.ids[i] for i in order]

    # 4. Pairing: shuffle the real positions, zip them with the fake positions.
    real_positions = [p for p, name in enumerate(generators) if name == REAL_GENERATOR]
    fake_positions = [p for p, name in enumerate(generators) if name != REAL_GENERATOR]
    random.seed(seed + PAIRING_SEED_OFFSET[stage])
    random.shuffle(real_positions)
    pairing = {
        ids[real]: generator_id[generators[fake]]
        for fake, real in zip(fake_positions, real_positions, strict=False)
    }
    return EvaluationSet(stage, tuple(ids), tuple(generators), pairing)
