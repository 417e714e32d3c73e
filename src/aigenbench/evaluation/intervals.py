"""Confidence intervals: DeLong for AUROC, a stratified paired bootstrap for every metric.

**DeLong** (DeLong, DeLong & Clarke-Pearson 1988, the fast form of Sun & Xu 2014): AUROC is
the mean of the *structural components* ``V10[i]`` (the fraction of reals a fake i outscores,
ties counted half) and equally of ``V01[j]`` (the fraction of fakes that outscore a real j);
``Var(AUROC) = S10 / n_fake + S01 / n_real`` with S the sample variances (``ddof=1``) of those
components. The interval is computed on the logit scale, ``logit(A) ± z * sqrt(Var) / (A (1 -
A))`` mapped back (the delta method): it stays inside (0, 1) and keeps its coverage near 1,
where ``A ± z * sqrt(Var)`` does not (measured on binormal scores with 50 fakes and 50 reals,
4,000 trials, ``benchmarks/interval_coverage.py``: AUROC 0.96: 88.4% for ``A ± z sqrt(Var)``,
94.7% on the logit scale; AUROC 0.8: 93.6% and 95.7%; AUROC 0.99: 80.4% and 91.8%, so with
so few images that close to 1 it still undercovers). An AUROC of exactly 0 or 1 has no DeLong
variance: its interval is that point. An average of
AUROCs (the headline: Next averaged over steps) and a difference of two detectors on the same
images get their variance from the same components summed per image (each image's
*influence*), so images shared by several subsets or runs are counted once, with their
correlation.

**Bootstrap**: a resample draws, inside each *stratum* (one generator's fakes and the reals
paired with them), as many (fake, paired real) *units* as the stratum has, with replacement:
every resample keeps each generator's share and stays exactly balanced and paired (a stratum
whose fakes and reals differ in number, e.g. ``--no_pairing``, resamples fakes and reals
separately). A resample is a vector of counts per unit; every metric is recomputed with
those counts as weights, by one compiled walk over the scores sorted once
(:mod:`~aigenbench.evaluation.bootstrap_kernel`), so a resample never copies or re-sorts
images. The draws of a stratum are seeded by (seed,
stratum) only, so the same seed gives the same intervals on any machine, and adding a
window or a generator does not change the other strata's resamples. One set of resamples
is shared by every window's file (they hold the same images), so averages over steps and
differences between runs are computed per resample: "resample once, average per resample".
The interval is the percentile interval of the resampled values.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit  # type: ignore[import-untyped]
from scipy.stats import norm  # type: ignore[import-untyped]

from aigenbench.errors import ConfigError, ProtocolError
from aigenbench.evaluation.binary import BEST_F1_THRESHOLDS, METRIC_KEYS, SortedScores
from aigenbench.evaluation.bootstrap_kernel import (
    OUTPUT_KEYS,
    BlockedCounts,
    encode_images,
    resampled_metrics,
)
from aigenbench.evaluation.calibration import FPR_TARGETS, fpr_key
from aigenbench.evaluation.metrics import (
    SUBSETS,
    ScoredImages,
    SubsetSelector,
    subset_generator_ids,
)

METHODS = ("delong", "bootstrap")
BOOTSTRAP_KEYS = (*METRIC_KEYS, *(fpr_key(target) for target in FPR_TARGETS), "brier")
"""Every metric the bootstrap gives an interval for (DeLong: ``auroc`` only)."""

Bounds = tuple[float, float] | None
MetricBounds = dict[str, Bounds]


@dataclass(frozen=True)
class IntervalOptions:
    method: str = "delong"
    """``delong`` (AUROC only, analytic, fast) or ``bootstrap`` (every metric)."""
    confidence: float = 0.95
    resamples: int = 1000
    """Bootstrap resamples."""
    seed: int = 0
    """Bootstrap seed: the same seed gives the same intervals."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"unknown interval method {self.method!r}; use one of {', '.join(METHODS)}"
            )
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"confidence must be between 0 and 1, got {self.confidence}")
        if self.resamples < 2:
            raise ConfigError(f"resamples must be at least 2, got {self.resamples}")
        if self.seed < 0:
            # The draws are seeded by NumPy's SeedSequence, which takes whole numbers >= 0 only.
            raise ConfigError(f"the bootstrap seed must be a whole number >= 0, got {self.seed}")

    @property
    def z(self) -> float:
        return float(norm.ppf(0.5 + self.confidence / 2))

    @property
    def percentiles(self) -> tuple[float, float]:
        tail = 100 * (1 - self.confidence) / 2
        return tail, 100 - tail


# ----------------------------------------------------------------------------- DeLong


@dataclass(frozen=True)
class DelongComponents:
    """AUROC of one subset and its structural components (subset's sorted order)."""

    auroc: float
    v10: np.ndarray
    """Per fake: the fraction of the subset's reals it outscores (ties half)."""
    v01: np.ndarray
    """Per real: the fraction of the subset's fakes that outscore it (ties half)."""

    @property
    def variance(self) -> float:
        return _component_variance(self.v10) / len(self.v10) + _component_variance(self.v01) / len(
            self.v01
        )


def _component_variance(values: np.ndarray) -> float:
    return float(np.var(values, ddof=1)) if len(values) > 1 else 0.0


def delong_components(sorted_scores: SortedScores) -> DelongComponents | None:
    """DeLong's components of a subset (scores in descending order); None without both classes."""
    scores, fake = sorted_scores.scores, sorted_scores.fake
    n_fake = int(np.count_nonzero(fake))
    n_real = len(fake) - n_fake
    if n_fake == 0 or n_real == 0:
        return None
    new_run = np.concatenate(([False], scores[1:] != scores[:-1]))
    run = np.cumsum(new_run)  # the tie run each position belongs to
    last_of_run = np.flatnonzero(np.append(new_run[1:], True))
    tps_end = np.cumsum(fake, dtype=np.int64)[last_of_run]
    fps_end = last_of_run + 1 - tps_end
    tps_start = np.concatenate(([0], tps_end[:-1]))
    fps_start = np.concatenate(([0], fps_end[:-1]))
    # A fake outscores every real after its run and half of the reals tied with it.
    reals_below = (n_real - fps_end) + 0.5 * (fps_end - fps_start)
    fakes_above = tps_start + 0.5 * (tps_end - tps_start)
    v10 = reals_below[run[fake]] / n_real
    v01 = fakes_above[run[~fake]] / n_fake
    return DelongComponents(float(np.mean(v10)), v10, v01)


def auroc_bounds(estimate: float, variance: float, z: float) -> tuple[float, float]:
    """The interval of an AUROC (or an average of AUROCs) on the logit scale (delta method)."""
    if not 0.0 < estimate < 1.0:
        return estimate, estimate  # no variance at a perfect (or perfectly wrong) ranking
    centre = float(np.log(estimate / (1.0 - estimate)))
    half = z * float(np.sqrt(max(variance, 0.0))) / (estimate * (1.0 - estimate))
    low, high = expit(centre - half), expit(centre + half)
    # The estimate stays inside however the rounding of expit falls.
    return min(float(low), estimate), max(float(high), estimate)


@dataclass
class Influence:
    """Per-image influence of a linear combination of AUROCs (for averages and differences).

    For an AUROC A with components V: fake i contributes ``(V10[i] - A) / n_fake``, real j
    ``(V01[j] - A) / n_real``; a combination ``sum c * A`` sums ``c *`` those per image. Its
    variance (DeLong's, extended) is the sum of squares. DeLong's sample variances divide by
    ``n - 1`` of *each* AUROC's own class sizes: every contribution is scaled by
    ``sqrt(n / (n - 1))`` of its step, so one AUROC gets exactly DeLong's variance, an average
    over disjoint steps the sum of theirs, and two AUROCs on the same images DeLong's
    covariance (pooling one ``n / (n - 1)`` over all the images of every step would be
    smaller than DeLong's whenever the steps' subsets differ).
    """

    n_images: int
    fake: np.ndarray = field(init=False)
    real: np.ndarray = field(init=False)
    fake_used: np.ndarray = field(init=False)
    real_used: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.fake = np.zeros(self.n_images)
        self.real = np.zeros(self.n_images)
        self.fake_used = np.zeros(self.n_images, dtype=bool)
        self.real_used = np.zeros(self.n_images, dtype=bool)

    def add(
        self,
        components: DelongComponents,
        fake_images: np.ndarray,
        real_images: np.ndarray,
        weight: float,
    ) -> None:
        """Add ``weight * A``; ``*_images``: the canonical image index of each component."""
        a = components.auroc
        for total, images, values in (
            (self.fake, fake_images, components.v10),
            (self.real, real_images, components.v01),
        ):
            np.add.at(total, images, weight * _unbiased(len(values)) * (values - a) / len(values))
        self.fake_used[fake_images] = True
        self.real_used[real_images] = True

    @property
    def variance(self) -> float:
        return float(np.sum(self.fake**2) + np.sum(self.real**2))


def _unbiased(n: int) -> float:
    """``sqrt(n / (n - 1))``: squared, the ``ddof=1`` correction of one class of one AUROC
    (0 for a single image, whose sample variance DeLong leaves at 0)."""
    return float(np.sqrt(n / (n - 1))) if n > 1 else 0.0


# ----------------------------------------------------------------------------- resampling


@dataclass(frozen=True)
class ResamplingUnits:
    """How the images of an evaluation set are resampled: units, grouped in strata."""

    ids: np.ndarray
    """The evaluation set's image IDs, sorted (the canonical image order)."""
    unit_of_image: np.ndarray
    """Canonical image -> its unit (-1: in no subset, an unpaired real)."""
    strata: dict[tuple[int, int], np.ndarray]
    """(kind, group) -> the units of the stratum; kind 0 = paired units, 1 = fakes, 2 = reals."""
    n_units: int

    @property
    def paired(self) -> bool:
        return all(kind == 0 for kind, _ in self.strata)

    def image_index(self, images: ScoredImages) -> np.ndarray:
        """Canonical index of each image of a file; refuses a file with other images."""
        return canonical_index(self.ids, images)

    def counts(self, resamples: int, seed: int) -> np.ndarray:
        """``[resamples, n_units]`` how often each unit is drawn (uint16), seeded per stratum."""
        counts = np.zeros((resamples, self.n_units), dtype=np.uint16)
        rows = np.arange(resamples)[:, None]
        for (kind, group), units in self.strata.items():
            n = len(units)
            rng = np.random.default_rng([seed, kind, group + 2])
            draws = rng.integers(0, n, size=(resamples, n))
            drawn = np.bincount((rows * n + draws).ravel(), minlength=resamples * n)
            counts[:, units] = drawn.reshape(resamples, n)
        return counts


def canonical_index(sorted_ids: np.ndarray, images: ScoredImages) -> np.ndarray:
    if images.ids is None:
        if len(images.scores) != len(sorted_ids):
            raise ProtocolError(f"{images.source}: a different number of images than step 0")
        return np.arange(len(images.scores))
    ids = np.asarray(images.ids, dtype=np.int64)
    position = np.clip(np.searchsorted(sorted_ids, ids), 0, max(len(sorted_ids) - 1, 0))
    if len(ids) != len(sorted_ids) or not np.array_equal(sorted_ids[position], ids):
        raise ProtocolError(
            f"{images.source} holds other images than the first predictions file: its windows "
            "were not scored on the same evaluation set"
        )
    return position


def resampling_units(images: ScoredImages, use_pairing: bool = True) -> ResamplingUnits:
    """Units and strata of an evaluation set (from any one of its predictions files)."""
    n = len(images.scores)
    ids = np.arange(n) if images.ids is None else np.asarray(images.ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    if len(np.unique(ids)) != n:
        raise ProtocolError(f"{images.source}: image IDs are not unique")
    generator_ids = images.generator_ids[order]
    fake = generator_ids != 0
    pairing = images.pairing[order] if use_pairing else np.full(n, -2)
    group = np.where(fake, generator_ids, pairing)
    unit_of_image = np.full(n, -1, dtype=np.int64)
    strata: dict[tuple[int, int], np.ndarray] = {}
    next_unit = 0
    for value in np.unique(group).tolist():
        if value == -1 and use_pairing:
            continue  # unpaired reals belong to no subset
        fakes = np.flatnonzero(fake & (group == value))
        reals = np.flatnonzero(~fake & (group == value))
        if len(fakes) == len(reals):
            units = np.arange(next_unit, next_unit + len(fakes))
            unit_of_image[fakes] = units
            unit_of_image[reals] = units
            strata[(0, value)] = units
            next_unit += len(units)
            continue
        for kind, members in ((1, fakes), (2, reals)):
            if len(members):
                units = np.arange(next_unit, next_unit + len(members))
                unit_of_image[members] = units
                strata[(kind, value)] = units
                next_unit += len(units)
    return ResamplingUnits(ids[order], unit_of_image, strata, next_unit)


def bootstrap_subset(
    sorted_scores: SortedScores,
    units: np.ndarray,
    counts: np.ndarray | BlockedCounts,
    threshold: float = 0.5,
) -> dict[str, np.ndarray]:
    """Every metric of :data:`BOOTSTRAP_KEYS` per resample of one subset.

    ``units``: the unit of each image in sorted order; ``counts``: ``[resamples, n_units]``
    (or those counts blocked once, for many subsets). Each resample equals
    :func:`~aigenbench.evaluation.binary.subset_metrics` (and
    :func:`~aigenbench.evaluation.calibration.calibration`) on the subset with every image
    repeated as often as its unit was drawn: one compiled walk per block of resamples
    (:mod:`~aigenbench.evaluation.bootstrap_kernel`).
    """
    if not isinstance(counts, BlockedCounts):
        counts = BlockedCounts.from_counts(counts)
    scores, fake = sorted_scores.scores, sorted_scores.fake
    if not fake.any() or fake.all():
        return {key: np.full(counts.resamples, np.nan) for key in BOOTSTRAP_KEYS}
    last = np.append(scores[1:] != scores[:-1], True)
    # Compare in the scores' own dtype, as the exact metrics do.
    above = int(np.count_nonzero(scores > np.asarray(threshold, dtype=scores.dtype)))
    thresholds = BEST_F1_THRESHOLDS.astype(np.float32).astype(scores.dtype)
    at_least = np.searchsorted(-scores, -thresholds, side="right")  # images >= each threshold
    # Thresholds that call the same images fake have the same F1: one group each, in order.
    group_start = np.flatnonzero(np.append(True, at_least[1:] != at_least[:-1]))
    f1_positions = at_least[group_start].astype(np.int64)
    event = np.zeros(len(scores), dtype=bool)
    for position in (above, *f1_positions.tolist()):
        if position > 0:
            event[position - 1] = True  # the curve is read after this image
    # Per unit of the subset: its fakes, its reals, their squared errors (Brier's numerator).
    n_units = counts.blocks.shape[1]
    fakes_per_unit = np.bincount(units, weights=fake, minlength=n_units)
    reals_per_unit = np.bincount(units, weights=~fake, minlength=n_units)
    squared_error = (scores.astype(np.float64) - fake) ** 2
    subset_units = np.flatnonzero(fakes_per_unit + reals_per_unit)
    values = resampled_metrics(
        encode_images(units, fake, last, event),
        subset_units,
        fakes_per_unit[subset_units],
        reals_per_unit[subset_units],
        np.bincount(units, weights=squared_error, minlength=n_units)[subset_units],
        counts,
        above,
        f1_positions,
        thresholds.astype(np.float64)[group_start],
        np.asarray(FPR_TARGETS, dtype=np.float64),
    )
    per_metric = np.ascontiguousarray(values.T)  # one row per column of the kernel
    first_fpr = OUTPUT_KEYS.index("tpr_at_fpr")
    columns = dict(zip(OUTPUT_KEYS[:first_fpr], per_metric, strict=False))
    for t, target in enumerate(FPR_TARGETS):
        columns[fpr_key(target)] = per_metric[first_fpr + t]
    # Brier is defined for probabilities only (as the exact calibration).
    in_unit_interval = bool(scores[0] <= 1.0 and scores[-1] >= 0.0)
    columns["brier"] = per_metric[-1] if in_unit_interval else np.full(len(values), np.nan)
    return {key: columns[key] for key in BOOTSTRAP_KEYS}


def percentile_bounds(values: np.ndarray, options: IntervalOptions) -> Bounds:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return None
    low, high = np.percentile(finite, options.percentiles)
    return float(low), float(high)


def metric_bounds(values: Mapping[str, np.ndarray], options: IntervalOptions) -> MetricBounds:
    """:func:`percentile_bounds` of every metric: one call for the metrics without NaN."""
    keys = [key for key, v in values.items() if np.isfinite(v).all()]
    bounds: MetricBounds = {}
    if keys:
        stacked = np.percentile(np.stack([values[key] for key in keys]), options.percentiles, 1)
        bounds = {key: (float(stacked[0, k]), float(stacked[1, k])) for k, key in enumerate(keys)}
    return {
        key: bounds[key] if key in bounds else percentile_bounds(v, options)
        for key, v in values.items()
    }


# ----------------------------------------------------------------------------- a run


@dataclass
class WindowIntervals:
    window: int
    subsets: dict[str, MetricBounds]
    per_generator: dict[str, MetricBounds]
    matrix_row: list[Bounds]

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            **{name: _bounds_json(values) for name, values in self.subsets.items()},
            "per_generator": {
                name: _bounds_json(values) for name, values in self.per_generator.items()
            },
            "matrix_row": [None if b is None else list(b) for b in self.matrix_row],
        }


def _bounds_json(values: MetricBounds) -> dict[str, list[float] | None]:
    return {key: None if b is None else [b[0], b[1]] for key, b in values.items()}


@dataclass
class RunIntervals:
    """Intervals of every subset of every window, and of the averages over steps."""

    options: IntervalOptions
    windows: dict[int, WindowIntervals]
    averages: dict[str, MetricBounds]
    paired: bool = True
    resampled: dict[str, dict[int, dict[str, np.ndarray]]] = field(default_factory=dict)
    """Bootstrap only: subset -> step -> metric -> per-resample values (for comparisons)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.options.method,
            "confidence": self.options.confidence,
            "resamples": self.options.resamples if self.options.method == "bootstrap" else None,
            "seed": self.options.seed if self.options.method == "bootstrap" else None,
            "paired_units": self.paired,
            "per_window": [self.windows[k].to_json() for k in sorted(self.windows)],
            "average": {name: _bounds_json(values) for name, values in self.averages.items()},
        }


def _generator_subsets(
    images: ScoredImages, step: int, official_last_next: bool
) -> tuple[dict[str, list[int]], dict[str, int], list[list[int]]]:
    window_ids = images.window_generator_ids()
    subsets = {
        name: subset_generator_ids(name, step, window_ids, official_last_next) for name in SUBSETS
    }
    per_generator = {
        name: generator_id
        for names, ids in zip(images.windows, window_ids, strict=True)
        for name, generator_id in zip(names, ids, strict=True)
    }
    return subsets, per_generator, window_ids


def canonical_ids(images: ScoredImages) -> np.ndarray:
    """The sorted image IDs of a file (positions when it has no IDs)."""
    return np.sort(np.arange(len(images.scores)) if images.ids is None else images.ids)


def average_auroc_influence(
    images_per_step: Mapping[int, ScoredImages],
    subset: str,
    sorted_ids: np.ndarray,
    use_pairing: bool = True,
    official_last_next: bool = False,
) -> tuple[float | None, Influence]:
    """The AUROC of ``subset`` averaged over the steps where it is defined, and its influence."""
    influence = Influence(len(sorted_ids))
    parts = []
    for step, images in sorted(images_per_step.items()):
        ids = subset_generator_ids(subset, step, images.window_generator_ids(), official_last_next)
        if not ids:
            continue
        selector = SubsetSelector(images, use_pairing)
        chosen = selector.mask(ids)
        fake = selector.fake[chosen]
        components = delong_components(SortedScores(selector.scores[chosen], fake))
        if components is None:
            continue
        image_of_sorted = canonical_index(sorted_ids, images)[selector.order][chosen]
        parts.append((components, image_of_sorted[fake], image_of_sorted[~fake]))
    for components, fakes, reals in parts:
        influence.add(components, fakes, reals, 1.0 / len(parts))
    mean = float(np.mean([c.auroc for c, _, _ in parts])) if parts else None
    return mean, influence


def delong_run_intervals(
    images_per_step: Mapping[int, ScoredImages],
    options: IntervalOptions,
    use_pairing: bool = True,
    official_last_next: bool = False,
) -> RunIntervals:
    """DeLong intervals of AUROC: every subset, generator and matrix cell; and the averages."""
    first = images_per_step[min(images_per_step)]
    sorted_ids = np.sort(np.arange(len(first.scores)) if first.ids is None else first.ids)
    z = options.z
    windows: dict[int, WindowIntervals] = {}
    influences = {name: Influence(len(sorted_ids)) for name in SUBSETS}
    used_steps: dict[str, list[tuple[DelongComponents, np.ndarray, np.ndarray]]] = {
        name: [] for name in SUBSETS
    }

    def bounds(components: DelongComponents | None) -> Bounds:
        if components is None:
            return None
        return auroc_bounds(components.auroc, components.variance, z)

    for step, images in sorted(images_per_step.items()):
        selector = SubsetSelector(images, use_pairing)
        image_of_sorted = canonical_index(sorted_ids, images)[selector.order]
        subsets, per_generator, window_ids = _generator_subsets(images, step, official_last_next)
        subset_bounds: dict[str, MetricBounds] = {}
        for name, generator_ids in subsets.items():
            if not generator_ids:
                subset_bounds[name] = {"auroc": None}
                continue
            chosen = selector.mask(generator_ids)
            components = delong_components(
                SortedScores(selector.scores[chosen], selector.fake[chosen])
            )
            subset_bounds[name] = {"auroc": bounds(components)}
            if components is not None:
                fake = selector.fake[chosen]
                images_chosen = image_of_sorted[chosen]
                used_steps[name].append((components, images_chosen[fake], images_chosen[~fake]))
        generator_bounds = {
            name: {"auroc": bounds(delong_components(selector.select([generator_id])))}
            for name, generator_id in per_generator.items()
        }
        matrix = [bounds(delong_components(selector.select(ids))) for ids in window_ids]
        windows[step] = WindowIntervals(step, subset_bounds, generator_bounds, matrix)

    averages: dict[str, MetricBounds] = {}
    for name in SUBSETS:
        steps = used_steps[name]
        if not steps:
            averages[name] = {"auroc": None}
            continue
        influence = influences[name]
        for components, fakes, reals in steps:
            influence.add(components, fakes, reals, 1.0 / len(steps))
        mean = float(np.mean([c.auroc for c, _, _ in steps]))
        averages[name] = {"auroc": auroc_bounds(mean, influence.variance, z)}
    return RunIntervals(options, windows, averages, paired=True)


def bootstrap_run_intervals(
    images_per_step: Mapping[int, ScoredImages],
    options: IntervalOptions,
    threshold: float = 0.5,
    use_pairing: bool = True,
    official_last_next: bool = False,
    subsets_only: Sequence[str] | None = None,
    per_generator: bool = True,
    matrix: bool = True,
    keep_resampled: bool = False,
) -> RunIntervals:
    """Bootstrap intervals of every metric; ``subsets_only`` restricts the work (compare)."""
    first = images_per_step[min(images_per_step)]
    units = resampling_units(first, use_pairing)
    counts = BlockedCounts.from_counts(units.counts(options.resamples, options.seed))
    names = tuple(subsets_only) if subsets_only is not None else SUBSETS
    windows: dict[int, WindowIntervals] = {}
    resampled: dict[str, dict[int, dict[str, np.ndarray]]] = {name: {} for name in names}

    cache: dict[tuple[int, ...], dict[str, np.ndarray]] = {}

    def run(selector: SubsetSelector, unit_of_sorted: np.ndarray, ids: list[int]):
        # The same generators in one file (Next = the matrix cell of window k+1): once.
        key = tuple(sorted(ids))
        if key not in cache:
            cache[key] = compute(selector, unit_of_sorted, ids)
        return cache[key]

    def compute(selector: SubsetSelector, unit_of_sorted: np.ndarray, ids: list[int]):
        chosen = selector.mask(ids)
        selected = SortedScores(selector.scores[chosen], selector.fake[chosen])
        return bootstrap_subset(selected, unit_of_sorted[chosen], counts, threshold)

    for step, images in sorted(images_per_step.items()):
        selector = SubsetSelector(images, use_pairing)
        unit_of_sorted = units.unit_of_image[units.image_index(images)][selector.order]
        cache.clear()
        generator_subsets, generators, window_ids = _generator_subsets(
            images, step, official_last_next
        )
        subset_bounds: dict[str, MetricBounds] = {}
        for name in names:
            ids = generator_subsets[name]
            if not ids:
                subset_bounds[name] = dict.fromkeys(BOOTSTRAP_KEYS)
                continue
            values = run(selector, unit_of_sorted, ids)
            resampled[name][step] = values
            subset_bounds[name] = metric_bounds(values, options)
        generator_bounds: dict[str, MetricBounds] = {}
        if per_generator:
            for generator, generator_id in generators.items():
                values = run(selector, unit_of_sorted, [generator_id])
                generator_bounds[generator] = metric_bounds(values, options)
        matrix_row: list[Bounds] = []
        if matrix:
            matrix_row = [
                percentile_bounds(run(selector, unit_of_sorted, ids)["auroc"], options)
                for ids in window_ids
            ]
        windows[step] = WindowIntervals(step, subset_bounds, generator_bounds, matrix_row)

    averages: dict[str, MetricBounds] = {}
    for name in names:
        per_step = resampled[name]
        averages[name] = {}
        for key in BOOTSTRAP_KEYS:
            if not per_step:
                averages[name][key] = None
                continue
            stacked = np.stack([values[key] for values in per_step.values()])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any value
                mean = np.nanmean(np.where(np.isfinite(stacked), stacked, np.nan), axis=0)
            averages[name][key] = percentile_bounds(mean, options)
    return RunIntervals(
        options,
        windows,
        averages,
        paired=units.paired,
        resampled=resampled if keep_resampled else {},
    )


def run_intervals(
    images_per_step: Mapping[int, ScoredImages],
    options: IntervalOptions,
    threshold: float = 0.5,
    use_pairing: bool = True,
    official_last_next: bool = False,
) -> RunIntervals:
    """Intervals of every subset, generator and matrix cell of a run, by ``options.method``."""
    if options.method == "delong":
        return delong_run_intervals(images_per_step, options, use_pairing, official_last_next)
    return bootstrap_run_intervals(
        images_per_step, options, threshold, use_pairing, official_last_next
    )
