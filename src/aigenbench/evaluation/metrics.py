"""The protocol's metrics over predictions files: per window, averaged, and as a matrix.

After training step k the evaluation set is scored once (one predictions file per step) and
every number is cut from those scores (PROTOCOL.md §8). A subset is a set of windows; it
holds the fakes of their generators **and the reals paired with those fakes** (the
``pairing`` column), so it stays balanced. For step k of K windows:

============  ===========================  ======================================
subset        windows                      official name (``--computed_on``)
============  ===========================  ======================================
``next``      k + 1 (not defined at K - 1) ``immediate_future``
``past``      0 .. k - 1 (empty at k = 0)  ``past``
``growing``   0 .. k                       ``growing``
``whole``     0 .. min(k + 1, K - 1)       ``growing_whole``
``all``       0 .. K - 1                   ``all``
============  ===========================  ======================================

Per generator g: the fakes of g and the reals paired with them. The matrix cell
``[k][j]`` is the AUROC after step k on window j alone.

Where the official script differs: at the last step it evaluates ``immediate_future`` on the
last window itself (``min(k + 1, K - 1)``), which is not a future; we report Next there as
not defined, so the Next average runs over k = 0..K-2 (``official_last_next=True``
reproduces the official number, labelled as such). An empty subset (``past`` at k = 0)
crashes the official script (sklearn rejects empty input); here it is not defined (None).
Otherwise the numbers are the official script's: the same crop fusion, truth
(``generator id != 0``), pairing, threshold rule and sklearn formulas (see ``binary``).

Speed: one sort of each window's scores; every subset is then a boolean selection of the
sorted arrays and a few cumulative sums (no per-subset sort, no sklearn call).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aigenbench.errors import DataError, ProtocolError
from aigenbench.evaluation.binary import (
    EMPTY,
    METRIC_KEYS,
    SortedScores,
    SubsetMetrics,
    auroc,
    subset_metrics,
)
from aigenbench.evaluation.calibration import EMPTY_CALIBRATION, Calibration, calibration
from aigenbench.evaluation.predictions import Predictions, image_scores, load_predictions
from aigenbench.evaluation.thresholds import RULES, ThresholdTransfer, transfer_threshold
from aigenbench.evaluation.transfer import TransferMetrics, transfer_metrics

SUBSETS = ("next", "past", "growing", "whole", "all")
OFFICIAL_SUBSET_NAMES = {
    "next": "immediate_future",
    "past": "past",
    "growing": "growing",
    "whole": "growing_whole",
    "all": "all",
}
AVERAGED_KEYS = (*METRIC_KEYS, "n_real", "n_fake")
NOT_AVERAGED = ("best_f1_threshold", "n_real", "n_fake")
"""Keys whose mean over steps means nothing (a threshold, image counts): None in averages."""


@dataclass(frozen=True)
class EvaluationOptions:
    threshold: float = 0.5
    """Scores above it (strictly) count as fake for accuracy, precision, recall, F1, TNR."""
    use_pairing: bool = True
    """False: every real image joins every subset (the official ``--use_pairing False``)."""
    official_last_next: bool = False
    """Reproduce the official script at the last step: Next on the last window itself."""
    target_fpr: float = 0.05
    """The false-positive budget of the ``fpr`` threshold-transfer rule."""


def subset_windows(
    subset: str, step: int, n_windows: int, official_last_next: bool = False
) -> list[int]:
    """The windows a subset covers after training step ``step`` (see the module table)."""
    if subset == "next":
        if step + 1 < n_windows:
            return [step + 1]
        return [n_windows - 1] if official_last_next else []
    if subset == "past":
        return list(range(min(step, n_windows)))
    if subset == "growing":
        return list(range(min(step + 1, n_windows)))
    if subset == "whole":
        return list(range(min(step + 2, n_windows)))
    if subset == "all":
        return list(range(n_windows))
    raise ProtocolError(f"unknown subset {subset!r}; use one of {', '.join(SUBSETS)}")


def subset_generator_ids(
    subset: str, step: int, window_ids: Sequence[Sequence[int]], official_last_next: bool = False
) -> list[int]:
    """The generator ids a subset covers after step ``step`` (``window_ids``: ids per window)."""
    covered = subset_windows(subset, step, len(window_ids), official_last_next)
    return sorted({g for w in covered for g in window_ids[w]})


@dataclass(frozen=True)
class ScoredImages:
    """Per-image arrays of one predictions file, fused from the crops as the official code."""

    scores: np.ndarray
    generator_ids: np.ndarray
    pairing: np.ndarray
    generator_names: list[str]
    windows: list[list[str]]
    valid: np.ndarray | None = None
    source: str = "<memory>"
    ids: np.ndarray | None = None
    """Image IDs (the rows' IDs in their split): what ties one image across windows' files."""

    @classmethod
    def from_predictions(cls, predictions: Predictions, source: str = "<memory>") -> ScoredImages:
        scores, generator_ids, ids = image_scores(predictions)
        valid = predictions.fused_valid
        return cls(
            scores=np.asarray(scores),
            generator_ids=np.asarray(generator_ids, dtype=np.int64),
            pairing=np.asarray(predictions.pairing, dtype=np.int64),
            generator_names=predictions.generator_names,
            windows=predictions.windows_timeline,
            valid=None if valid is None else np.asarray(valid, dtype=bool),
            source=source,
            ids=np.asarray(ids, dtype=np.int64),
        )

    @property
    def n_windows(self) -> int:
        return len(self.windows)

    def window_generator_ids(self) -> list[list[int]]:
        """Generator ids per window (the official ``generator_id_to_name.index``)."""
        position = {name: i for i, name in enumerate(self.generator_names)}
        ids = []
        for window in self.windows:
            unknown = [name for name in window if name not in position]
            if unknown:
                raise ProtocolError(
                    f"{self.source}: the windows name generator(s) {', '.join(unknown)} that "
                    "are not in its generator_id_to_name"
                )
            ids.append([position[name] for name in window])
        return ids


class SubsetSelector:
    """Sorts one file's images once; hands out the sorted scores of any subset of generators."""

    def __init__(self, images: ScoredImages, use_pairing: bool = True):
        scores = images.scores
        if not np.issubdtype(scores.dtype, np.floating):
            scores = scores.astype(np.float64)
        if np.isnan(scores).any():
            raise DataError(
                f"{images.source}: {int(np.isnan(scores).sum())} image score(s) are NaN; the "
                "model produced invalid outputs, re-run the evaluation of that window"
            )
        order = np.argsort(-scores, kind="stable")
        self.order = order
        """``order[p]``: the image (row of the file) at sorted position p."""
        self.scores = scores[order]
        generator_ids = images.generator_ids[order]
        self.fake = generator_ids != 0
        # The generator an image "belongs to": its own for a fake, its pair's for a real.
        # Shifted by 2 so that -1 (unpaired real) is 1 and "every real" is 0.
        group = np.where(self.fake, generator_ids, images.pairing[order])
        if group.min(initial=0) < -1:
            raise DataError(
                f"{images.source}: the pairing column holds {int(group.min())}; it must be a "
                "generator id or -1"
            )
        if not use_pairing:
            group = np.where(self.fake, group, -2)
        self.group = group + 2
        self.n_groups = int(max(self.group.max(initial=0), len(images.generator_names) + 1)) + 1
        self.n_unpaired_reals = int(np.count_nonzero((~self.fake) & (group == -1)))

    def mask(self, generator_ids: Sequence[int]) -> np.ndarray:
        """Which sorted positions belong to the subset of these generators."""
        member = np.zeros(self.n_groups, dtype=bool)
        member[np.asarray(generator_ids, dtype=np.int64) + 2] = True
        member[0] = bool(len(generator_ids))  # reals included in every non-empty subset
        return member[self.group]

    def select(self, generator_ids: Sequence[int]) -> SortedScores:
        chosen = self.mask(generator_ids)
        return SortedScores(self.scores[chosen], self.fake[chosen])


@dataclass
class WindowEvaluation:
    """Everything measured after one training step."""

    window: int
    subsets: dict[str, SubsetMetrics]
    per_generator: dict[str, SubsetMetrics]
    matrix_row: list[float | None]
    n_images: int
    n_invalid: int = 0
    n_unpaired_reals: int = 0
    source: str = "<memory>"
    next_is_last_window: bool = False
    """True when ``next`` was computed on the last window itself (official last-step rule)."""
    calibration: dict[str, Calibration] = field(default_factory=dict)
    """Operating points and calibration of each subset."""
    threshold_transfer: list[ThresholdTransfer] = field(default_factory=list)
    """Each rule's threshold chosen on this step's window, applied to the next (none at the
    last step)."""

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"window": self.window}
        for name in SUBSETS:
            entry[name] = _clean(self.subsets[name].to_dict())
        entry["per_generator"] = {
            name: _clean(metrics.to_dict()) for name, metrics in self.per_generator.items()
        }
        entry["matrix_row"] = [_clean(value) for value in self.matrix_row]
        entry["n_images"] = self.n_images
        entry["n_invalid"] = self.n_invalid
        entry["n_unpaired_reals"] = self.n_unpaired_reals
        entry["comparable"] = self.n_invalid == 0
        entry["next_is_last_window"] = self.next_is_last_window
        entry["calibration"] = {
            name: _clean(values.to_dict()) for name, values in self.calibration.items()
        }
        entry["threshold_transfer"] = [_clean(t.to_dict()) for t in self.threshold_transfer]
        entry["file"] = self.source
        return entry

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> WindowEvaluation:
        """The evaluation a :meth:`to_json` document describes (a window's metrics.json read
        back): equal to the one that wrote it."""
        return cls(
            window=int(entry["window"]),
            subsets={name: SubsetMetrics.from_dict(entry[name]) for name in SUBSETS},
            per_generator={
                name: SubsetMetrics.from_dict(values)
                for name, values in entry["per_generator"].items()
            },
            matrix_row=list(entry["matrix_row"]),
            n_images=int(entry["n_images"]),
            n_invalid=int(entry["n_invalid"]),
            n_unpaired_reals=int(entry["n_unpaired_reals"]),
            source=str(entry["file"]),
            next_is_last_window=bool(entry["next_is_last_window"]),
            calibration={
                name: Calibration.from_dict(values) for name, values in entry["calibration"].items()
            },
            threshold_transfer=[
                ThresholdTransfer.from_dict(values) for values in entry["threshold_transfer"]
            ],
        )


def evaluate_window(
    images: ScoredImages | Predictions,
    window: int,
    options: EvaluationOptions | None = None,
) -> WindowEvaluation:
    """Every subset, per-generator and matrix-row metric after training step ``window``."""
    options = options or EvaluationOptions()
    if isinstance(images, Predictions):
        images = ScoredImages.from_predictions(images)
    n_windows = images.n_windows
    if not 0 <= window < n_windows:
        raise ProtocolError(
            f"{images.source}: window {window} does not exist, its timeline has {n_windows} "
            f"windows (0..{n_windows - 1})"
        )
    window_ids = images.window_generator_ids()
    selector = SubsetSelector(images, use_pairing=options.use_pairing)

    subsets, calibrations = {}, {}
    for name in SUBSETS:
        generator_ids = subset_generator_ids(name, window, window_ids, options.official_last_next)
        selected = selector.select(generator_ids)
        subsets[name] = subset_metrics(selected, options.threshold) if generator_ids else EMPTY
        calibrations[name] = calibration(selected) if generator_ids else EMPTY_CALIBRATION

    per_generator = {}
    for window_names, ids in zip(images.windows, window_ids, strict=True):
        for name, generator_id in zip(window_names, ids, strict=True):
            per_generator[name] = subset_metrics(selector.select([generator_id]), options.threshold)

    matrix_row = [auroc(selector.select(ids)) for ids in window_ids]
    transfers = []
    if window + 1 < n_windows:
        known, upcoming = (
            selector.select(window_ids[window]),
            selector.select(window_ids[window + 1]),
        )
        for rule in RULES:
            result = transfer_threshold(
                window, known, upcoming, rule, options.target_fpr, options.threshold
            )
            if result is not None:
                transfers.append(result)
    n_invalid = 0 if images.valid is None else int(np.count_nonzero(~images.valid))
    return WindowEvaluation(
        window=window,
        subsets=subsets,
        per_generator=per_generator,
        matrix_row=matrix_row,
        n_images=len(images.scores),
        n_invalid=n_invalid,
        n_unpaired_reals=selector.n_unpaired_reals,
        source=images.source,
        next_is_last_window=options.official_last_next and window == n_windows - 1,
        calibration=calibrations,
        threshold_transfer=transfers,
    )


# ----------------------------------------------------------------------------- a run


def average_metrics(results: Sequence[SubsetMetrics], steps: Sequence[int]) -> dict[str, Any]:
    """Mean of each metric over the steps where the subset is defined."""
    used = [(step, r) for step, r in zip(steps, results, strict=True) if r.defined]
    average: dict[str, Any] = {}
    for key in AVERAGED_KEYS:
        values = [getattr(r, key) for _, r in used if getattr(r, key) is not None]
        average[key] = sum(values) / len(values) if values and key not in NOT_AVERAGED else None
    average["n_windows"] = len(used)
    average["windows"] = [step for step, _ in used]
    return average


@dataclass
class RunEvaluation:
    """A whole experiment: one :class:`WindowEvaluation` per evaluated step, and summaries."""

    windows: list[WindowEvaluation]
    timeline: list[list[str]]
    options: EvaluationOptions
    averages: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfer: TransferMetrics | None = None
    notes: list[str] = field(default_factory=list)
    threshold_transfer: list[ThresholdTransfer] = field(default_factory=list)
    intervals: Any = None
    """:class:`~aigenbench.evaluation.intervals.RunIntervals` when asked for."""

    @property
    def steps(self) -> list[int]:
        return [w.window for w in self.windows]

    @property
    def matrix(self) -> list[list[float | None]]:
        return [w.matrix_row for w in self.windows]

    @property
    def n_windows(self) -> int:
        return len(self.timeline)

    @property
    def complete(self) -> bool:
        return self.steps == list(range(self.n_windows))

    def to_json(self) -> dict[str, Any]:
        """The ``aigenbench evaluate --json`` document (plain types, None for undefined)."""
        return {
            "per_window": [w.to_json() for w in self.windows],
            "average": {name: _clean(values) for name, values in self.averages.items()},
            "matrix": [[_clean(v) for v in row] for row in self.matrix],
            "matrix_steps": self.steps,
            "transfer": _clean(self.transfer.to_dict()) if self.transfer else None,
            "windows": self.timeline,
            "complete": self.complete,
            "options": {
                "threshold": self.options.threshold,
                "use_pairing": self.options.use_pairing,
                "official_last_next": self.options.official_last_next,
            },
            "notes": self.notes,
            "threshold_transfer": [_clean(t.to_dict()) for t in self.threshold_transfer],
            **({"intervals": _clean(self.intervals.to_json())} if self.intervals else {}),
        }


def _clean(value: Any) -> Any:
    """JSON-ready: NumPy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarise(
    windows: list[WindowEvaluation], timeline: list[list[str]], options: EvaluationOptions
) -> RunEvaluation:
    """Averages, transfer numbers and notes of already evaluated windows."""
    windows = sorted(windows, key=lambda w: w.window)
    steps = [w.window for w in windows]
    averages = {
        name: average_metrics([w.subsets[name] for w in windows], steps) for name in SUBSETS
    }
    notes = []
    last = len(timeline) - 1
    if options.official_last_next:
        notes.append(
            f"official rule: 'next' at the last step ({last}) is computed on window {last} "
            "itself, and the Next average includes it"
        )
    elif last == 0:
        notes.append("one training step, no future window: 'next' is not defined")
    else:
        notes.append(
            f"'next' at the last step ({last}) has no future window: not defined; the Next "
            f"average runs over steps 0..{last - 1}"
        )
    if any(w.n_invalid for w in windows):
        notes.append(
            "some evaluation images could not be decoded (n_invalid > 0): those results are "
            "not comparable with the published ones"
        )
    for name in ("next", "past", "growing", "whole"):
        # A subset that covers windows but has no AUROC (a window without fakes or reals):
        # its average runs over fewer steps than the protocol's, which must be said.
        covered = [
            w
            for w in windows
            if subset_windows(name, w.window, len(timeline), options.official_last_next)
        ]
        undefined = [w.window for w in covered if w.subsets[name].auroc is None]
        if undefined:
            notes.append(
                f"NOT COMPARABLE: '{name}' has no AUROC at step(s) {undefined} (a window without "
                f"fakes or paired reals): its AUROC average runs over "
                f"{len(covered) - len(undefined)} step(s) only"
            )
    if any(w.n_unpaired_reals for w in windows):
        notes.append("some real images have no paired fake and are left out of every subset")
    if steps != list(range(len(timeline))):
        missing = sorted(set(range(len(timeline))) - set(steps))
        notes.append(f"incomplete run: no predictions for step(s) {missing}")
    return RunEvaluation(
        windows=windows,
        timeline=timeline,
        options=options,
        averages=averages,
        transfer=transfer_metrics([w.matrix_row for w in windows], steps),
        notes=notes,
        threshold_transfer=[t for w in windows for t in w.threshold_transfer],
    )


def load_scored(
    files: Mapping[int, str | os.PathLike[str] | Predictions], use_pairing: bool = True
) -> dict[int, ScoredImages]:
    """The per-image scores of one predictions file (or loaded :class:`Predictions`) per step.

    Refused: files of other timelines or other evaluation sets than the first one, and an
    evaluation set in which a window has no fakes or no reals (``use_pairing``: reals count
    for the generator they are paired with).
    """
    if not files:
        raise DataError("no predictions to evaluate")
    loaded: dict[int, ScoredImages] = {}
    timeline, timeline_source = None, None
    for step in sorted(files):
        item = files[step]
        if isinstance(item, Predictions):
            images = ScoredImages.from_predictions(item, source=f"step {step}")
        else:
            images = ScoredImages.from_predictions(load_predictions(item), source=str(item))
        if timeline is None:
            timeline, timeline_source = images.windows, images.source
            check_every_window_scorable(images, use_pairing)
        elif images.windows != timeline:
            raise ProtocolError(
                f"{images.source} and {timeline_source} have different windows timelines: "
                "they come from different experiments or timelines and cannot be summarised "
                "together"
            )
        else:
            difference = evaluation_set_difference(loaded[min(loaded)], images)
            if difference is not None:
                raise ProtocolError(
                    f"{images.source} was scored on another evaluation set than "
                    f"{timeline_source} ({difference}): every step's predictions must score the "
                    "same images, or the averages over steps mix different sets. Score that "
                    "window again on the experiment's evaluation set"
                )
        loaded[step] = images
    return loaded


def evaluation_set_key(images: ScoredImages) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IDs, generator ids, pairing) in ID order: what makes two files the same evaluation set."""
    ids = np.arange(len(images.scores)) if images.ids is None else np.asarray(images.ids)
    order = np.argsort(ids, kind="stable")
    return ids[order], images.generator_ids[order], images.pairing[order]


def evaluation_set_difference(first: ScoredImages, other: ScoredImages) -> str | None:
    """How ``other`` scored another evaluation set than ``first`` (None: the same one)."""
    if first.generator_names != other.generator_names:
        return "the generators are numbered differently"
    ids_a, generators_a, pairing_a = evaluation_set_key(first)
    ids_b, generators_b, pairing_b = evaluation_set_key(other)
    if not np.array_equal(ids_a, ids_b):
        only = len(np.setdiff1d(ids_a, ids_b)) + len(np.setdiff1d(ids_b, ids_a))
        return (
            f"{len(ids_b)} images against {len(ids_a)}, {only} image IDs in one file only"
            if only
            else f"{len(ids_b)} images against {len(ids_a)}"
        )
    if not np.array_equal(generators_a, generators_b):
        changed = int(np.count_nonzero(generators_a != generators_b))
        return f"{changed} image(s) have another generator"
    if not np.array_equal(pairing_a, pairing_b):
        changed = int(np.count_nonzero(pairing_a != pairing_b))
        return f"{changed} real image(s) are paired with another generator"
    return None


def check_every_window_scorable(images: ScoredImages, use_pairing: bool = True) -> None:
    """Refuse an evaluation set in which a window has no fakes or no (paired) reals.

    Such a window has no AUROC: every step whose Next, Past, Growing or Whole covers only it
    would be left out of the averages, which would then silently run over fewer steps than
    the protocol's and could not be compared with any other run's.
    """
    fake = images.generator_ids != 0
    for index, (names, ids) in enumerate(
        zip(images.windows, images.window_generator_ids(), strict=True)
    ):
        fakes = int(np.count_nonzero(np.isin(images.generator_ids, ids)))
        reals = int(np.count_nonzero(~fake & np.isin(images.pairing, ids)))
        if not use_pairing:
            reals = int(np.count_nonzero(~fake))
        if fakes and reals:
            continue
        missing = "fake" if not fakes else "real (paired)"
        raise ProtocolError(
            f"{images.source}: window {index} ({', '.join(names)}) has no {missing} images in "
            "the evaluation set, so its AUROC is not defined and every average over steps "
            "would silently run over fewer steps. Evaluate on an evaluation set that holds "
            "fakes and paired reals of every window (a larger protocol subset, or the whole "
            "dataset)"
        )


def evaluate_scored(
    images_per_step: Mapping[int, ScoredImages], options: EvaluationOptions | None = None
) -> RunEvaluation:
    """Evaluate already loaded per-image scores, one :class:`ScoredImages` per step."""
    options = options or EvaluationOptions()
    evaluations = [
        evaluate_window(images, step, options) for step, images in sorted(images_per_step.items())
    ]
    timeline = images_per_step[min(images_per_step)].windows
    return summarise(evaluations, timeline, options)


def evaluate_files(
    files: Mapping[int, str | os.PathLike[str] | Predictions],
    options: EvaluationOptions | None = None,
) -> RunEvaluation:
    """Evaluate one predictions file (or loaded :class:`Predictions`) per training step."""
    options = options or EvaluationOptions()
    return evaluate_scored(load_scored(files, options.use_pairing), options)
