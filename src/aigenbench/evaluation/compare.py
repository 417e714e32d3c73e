"""Several runs on the same evaluation set: a leaderboard with intervals and paired tests.

Runs (our experiments or the official framework's folders) are compared on what the
leaderboard reports: AUROC averaged over steps for Next, Past and Whole, plus the Next
average of AP, balanced accuracy and TPR at 5% FPR. Every run must have scored the same
images (same IDs, generators, pairing and windows) at the same steps; otherwise the
comparison is refused with the first difference found.

Paired tests, per pair of runs, on the same images:

- **AUROC** (Next average): DeLong's test for correlated AUROCs. The difference of the two
  averages has a per-image influence (run A's minus run B's, image by image), so the
  correlation between two detectors scoring the same images is accounted for;
  ``z = difference / sqrt(Var)``, two-sided p.
- **the others**: a paired bootstrap: the same resamples (same seed, same units) for both
  runs, the difference per resample; p is twice the smaller tail of the differences around
  0 (at least ``1 / resamples``).

p-values are Holm-adjusted over the pairs of each metric; ``*`` marks an adjusted p below
``alpha`` (0.05). Several runs of one config that differ only by ``experiment.seed`` are
also summarised as mean ± standard deviation (seed variance, beside the intervals).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm  # type: ignore[import-untyped]

from aigenbench.errors import ProtocolError
from aigenbench.evaluation.calibration import fpr_key
from aigenbench.evaluation.experiment import discover_predictions
from aigenbench.evaluation.intervals import (
    Influence,
    IntervalOptions,
    auroc_bounds,
    average_auroc_influence,
    bootstrap_run_intervals,
    canonical_ids,
    percentile_bounds,
)
from aigenbench.evaluation.metrics import (
    EvaluationOptions,
    RunEvaluation,
    ScoredImages,
    evaluate_scored,
    evaluation_set_key,
    load_scored,
)

AUROC_SUBSETS = ("next", "past", "whole")
BOOTSTRAP_METRICS = ("ap", "balanced_accuracy", fpr_key(0.05))
METRIC_TITLES = {
    "next_auroc": "Next AUROC",
    "past_auroc": "Past AUROC",
    "whole_auroc": "Whole AUROC",
    "next_ap": "Next AP",
    "next_balanced_accuracy": "Next BalAcc",
    f"next_{fpr_key(0.05)}": "Next TPR@FPR5%",
}
TESTED = ("next_auroc", "next_ap", "next_balanced_accuracy", f"next_{fpr_key(0.05)}")


@dataclass
class RunEntry:
    name: str
    path: str
    evaluation: RunEvaluation
    values: dict[str, float | None]
    bounds: dict[str, tuple[float, float] | None]
    config_key: str | None
    """The run's result-affecting settings without the seed (None: no config.yaml)."""
    seed: int | None


@dataclass
class PairTest:
    first: str
    second: str
    metric: str
    difference: float | None
    bounds: tuple[float, float] | None
    p: float | None
    test: str
    p_holm: float | None = None
    significant: bool = False


@dataclass
class SeedGroup:
    runs: list[str]
    mean: dict[str, float | None]
    std: dict[str, float | None]


@dataclass
class Comparison:
    runs: list[RunEntry]
    pairs: list[PairTest]
    seed_groups: list[SeedGroup]
    options: IntervalOptions
    alpha: float
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What makes the comparison meaningless (a run given twice, two runs with equal scores)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": [
                {
                    "name": r.name,
                    "path": r.path,
                    "seed": r.seed,
                    **{
                        key: {
                            "value": r.values[key],
                            "interval": _listed(r.bounds[key]),
                        }
                        for key in METRIC_TITLES
                    },
                }
                for r in self.runs
            ],
            "pairs": [pair.__dict__ for pair in self.pairs],
            "seed_groups": [group.__dict__ for group in self.seed_groups],
            "alpha": self.alpha,
            "confidence": self.options.confidence,
            "resamples": self.options.resamples,
            "seed": self.options.seed,
            "notes": self.notes,
            "warnings": self.warnings,
        }


def _listed(bounds: tuple[float, float] | None) -> list[float] | None:
    return None if bounds is None else [bounds[0], bounds[1]]


def evaluation_set_difference(
    first: tuple[str, dict[int, ScoredImages]], other: tuple[str, dict[int, ScoredImages]]
) -> str | None:
    """Why two runs were not scored on the same evaluation set (None when they were)."""
    (name_a, a), (name_b, b) = first, other
    image_a, image_b = a[min(a)], b[min(b)]
    if image_a.windows != image_b.windows:
        return f"{name_a} and {name_b} have different windows (timelines)"
    if image_a.generator_names != image_b.generator_names:
        return f"{name_a} and {name_b} number their generators differently"
    if sorted(a) != sorted(b):
        return (
            f"{name_a} has predictions for steps {sorted(a)} but {name_b} for {sorted(b)}; "
            "compare finished runs (or the same steps)"
        )
    ids_a, generators_a, pairing_a = evaluation_set_key(image_a)
    ids_b, generators_b, pairing_b = evaluation_set_key(image_b)
    if not np.array_equal(ids_a, ids_b):
        only = len(np.setdiff1d(ids_a, ids_b)) + len(np.setdiff1d(ids_b, ids_a))
        return (
            f"{name_a} ({len(ids_a)} images) and {name_b} ({len(ids_b)} images) scored "
            f"different images ({only} image IDs in one run only)"
        )
    if not np.array_equal(generators_a, generators_b):
        return f"{name_a} and {name_b} give some images different generators"
    if not np.array_equal(pairing_a, pairing_b):
        return f"{name_a} and {name_b} pair reals with fakes differently"
    return None


def _config_key(run_dir: Path) -> tuple[str | None, int | None]:
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        return None, None
    import yaml

    from aigenbench.config import result_affecting

    try:
        raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None, None
    if not isinstance(raw, dict):
        return None, None
    settings = result_affecting(raw)
    seed = settings.pop("experiment.seed", None)
    return json.dumps(settings, sort_keys=True, default=str), seed


def _names(paths: list[Path]) -> list[str]:
    names = [path.resolve().name for path in paths]
    if len(set(names)) == len(names):
        return names
    return [str(path) for path in paths]


def _two_sided(z: float) -> float:
    return float(2 * norm.sf(abs(z)))


def _bootstrap_p(differences: np.ndarray, resamples: int) -> float | None:
    finite = differences[np.isfinite(differences)]
    if len(finite) == 0:
        return None
    tail = min(np.mean(finite <= 0), np.mean(finite >= 0))
    return float(min(1.0, max(2 * tail, 1.0 / resamples)))


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (None stays None)."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[index] = running
    return adjusted


def compare_runs(
    run_dirs: list[str | os.PathLike[str]],
    stage: str = "validate",
    options: EvaluationOptions | None = None,
    intervals: IntervalOptions | None = None,
    alpha: float = 0.05,
) -> Comparison:
    """Evaluate each run, check they share the evaluation set, rank them and test each pair."""
    options = options or EvaluationOptions()
    intervals = intervals or IntervalOptions("bootstrap")
    if len(run_dirs) < 1:
        raise ProtocolError("give at least one run to compare")
    paths = [Path(p) for p in run_dirs]
    names = _names(paths)
    loaded = [load_scored(discover_predictions(path, stage), options.use_pairing) for path in paths]
    for name, images in zip(names[1:], loaded[1:], strict=True):
        reason = evaluation_set_difference((names[0], loaded[0]), (name, images))
        if reason is not None:
            raise ProtocolError(
                f"cannot compare: {reason}. Runs are comparable only when scored on the same "
                "evaluation set (same dataset, protocol settings and subset sizes)"
            )

    sorted_ids = canonical_ids(loaded[0][min(loaded[0])])
    entries, influences, resampled = [], [], []
    for name, path, images in zip(names, paths, loaded, strict=True):
        evaluation = evaluate_scored(images, options)
        values: dict[str, float | None] = {}
        bounds: dict[str, tuple[float, float] | None] = {}
        for subset in AUROC_SUBSETS:
            mean, influence = average_auroc_influence(
                images, subset, sorted_ids, options.use_pairing, options.official_last_next
            )
            values[f"{subset}_auroc"] = mean
            bounds[f"{subset}_auroc"] = (
                None if mean is None else auroc_bounds(mean, influence.variance, intervals.z)
            )
            if subset == "next":
                influences.append(influence)
        boot = bootstrap_run_intervals(
            images,
            intervals,
            threshold=options.threshold,
            use_pairing=options.use_pairing,
            official_last_next=options.official_last_next,
            subsets_only=("next",),
            per_generator=False,
            matrix=False,
            keep_resampled=True,
        )
        per_resample = _averaged_per_resample(boot.resampled["next"])
        resampled.append(per_resample)
        for metric in BOOTSTRAP_METRICS:
            values[f"next_{metric}"] = evaluation.averages["next"].get(metric)
            if values[f"next_{metric}"] is None:
                values[f"next_{metric}"] = _next_average(evaluation, metric)
            bounds[f"next_{metric}"] = boot.averages["next"].get(metric)
        config_key, seed = _config_key(path)
        entries.append(RunEntry(name, str(path), evaluation, values, bounds, config_key, seed))

    order = sorted(
        range(len(entries)),
        key=lambda i: -(entries[i].values["next_auroc"] or float("-inf")),
    )
    entries = [entries[i] for i in order]
    influences = [influences[i] for i in order]
    resampled = [resampled[i] for i in order]

    pairs: list[PairTest] = []
    for i, j in combinations(range(len(entries)), 2):
        pairs.append(_delong_pair(entries[i], entries[j], influences[i], influences[j], intervals))
        for metric in BOOTSTRAP_METRICS:
            key = f"next_{metric}"
            a, b = entries[i].values[key], entries[j].values[key]
            differences = resampled[i][metric] - resampled[j][metric]
            pairs.append(
                PairTest(
                    entries[i].name,
                    entries[j].name,
                    key,
                    None if a is None or b is None else a - b,
                    percentile_bounds(differences, intervals),
                    _bootstrap_p(differences, intervals.resamples),
                    "paired bootstrap",
                )
            )
    for metric in TESTED:
        chosen = [pair for pair in pairs if pair.metric == metric]
        for pair, adjusted in zip(chosen, holm([p.p for p in chosen]), strict=True):
            pair.p_holm = adjusted
            pair.significant = adjusted is not None and adjusted < alpha

    n_pairs = len(entries) * (len(entries) - 1) // 2
    notes = [
        f"AUROC intervals: DeLong, {100 * intervals.confidence:g}%; the other intervals: "
        f"stratified paired bootstrap, {intervals.resamples} resamples, seed {intervals.seed}",
        f"p-values Holm-adjusted over the {n_pairs} pair(s) of each metric; "
        f"* = adjusted p < {alpha:g}"
        if n_pairs
        else "a single run: no pair to test (give two or more runs for paired tests)",
    ]
    same = _same_runs(paths, names, loaded)
    return Comparison(entries, pairs, _seed_groups(entries), intervals, alpha, notes, same)


def _same_runs(
    paths: list[Path], names: list[str], loaded: list[dict[int, ScoredImages]]
) -> list[str]:
    """A run compared with itself (the same folder twice, or a copy: equal scores at every
    step) has differences of zero by construction: say so rather than test it."""
    found = []
    for i, j in combinations(range(len(paths)), 2):
        if paths[i].resolve() == paths[j].resolve():
            found.append(
                f"{names[i]} and {names[j]} are the same run folder given twice: their "
                "differences are zero by construction; compare different runs"
            )
        elif loaded[i].keys() == loaded[j].keys() and all(
            np.array_equal(loaded[i][step].scores, loaded[j][step].scores) for step in loaded[i]
        ):
            found.append(
                f"{names[i]} and {names[j]} have identical scores at every step (a copy of one "
                "run?): their differences are zero by construction"
            )
    return found


def _next_average(evaluation: RunEvaluation, metric: str) -> float | None:
    values = [
        w.calibration["next"].tpr_at_fpr.get(metric)
        for w in evaluation.windows
        if "next" in w.calibration
    ]
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _averaged_per_resample(per_step: dict[int, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    averaged = {}
    for metric in BOOTSTRAP_METRICS:
        stacked = np.stack([values[metric] for values in per_step.values()])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any value
            averaged[metric] = np.nanmean(stacked, axis=0)
    return averaged


def _delong_pair(
    a: RunEntry,
    b: RunEntry,
    influence_a: Influence,
    influence_b: Influence,
    options: IntervalOptions,
) -> PairTest:
    value_a, value_b = a.values["next_auroc"], b.values["next_auroc"]
    if value_a is None or value_b is None:
        return PairTest(a.name, b.name, "next_auroc", None, None, None, "DeLong")
    difference = Influence(influence_a.n_images)
    difference.fake = influence_a.fake - influence_b.fake
    difference.real = influence_a.real - influence_b.real
    difference.fake_used = influence_a.fake_used | influence_b.fake_used
    difference.real_used = influence_a.real_used | influence_b.real_used
    delta = value_a - value_b
    variance = difference.variance
    half = options.z * float(np.sqrt(variance))
    # Identical scores give no variance: no difference to test (p = 1).
    p = (1.0 if delta == 0 else 0.0) if variance <= 0 else _two_sided(delta / np.sqrt(variance))
    return PairTest(a.name, b.name, "next_auroc", delta, (delta - half, delta + half), p, "DeLong")


def _seed_groups(entries: list[RunEntry]) -> list[SeedGroup]:
    groups: dict[str, list[RunEntry]] = {}
    for entry in entries:
        if entry.config_key is not None:
            groups.setdefault(entry.config_key, []).append(entry)
    result = []
    for members in groups.values():
        if len(members) < 2 or len({m.seed for m in members}) < 2:
            continue
        mean: dict[str, float | None] = {}
        std: dict[str, float | None] = {}
        for key in METRIC_TITLES:
            values = [v for m in members if (v := m.values[key]) is not None]
            mean[key] = float(np.mean(values)) if values else None
            std[key] = float(np.std(values, ddof=1)) if len(values) > 1 else None
        result.append(SeedGroup([m.name for m in members], mean, std))
    return result
