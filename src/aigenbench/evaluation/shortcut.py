"""Shortcut audit: can file-level traits alone tell the fakes from the reals?

Per window, a small scikit-learn classifier learns from the window's training rows using only
what the files' headers say (format, JPEG quality estimate, width, height, aspect, file size:
``aigenbench.data.file_traits``), never a pixel. It is scored on the evaluation set like any
detector: one official-format predictions file per window (``runs/<id>/audit/window_<k>/``), cut
by the same metrics engine into Next / Past / Growing / Whole. A Next AUROC above chance means
the data carries a shortcut a pixel detector can learn too: its numbers then say little about
detecting generated content.

The verdict: the Next AUROC averaged over time is above 0.5 by more than both a practical
margin (0.05) and 1.96 standard errors (Hanley & McNeil's, combined over the windows).

Beside it: the pretrained encoder's data cut-off against each generator's release date
(``aigenbench.models.pretraining_cutoffs``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from aigenbench.data.file_traits import TRAIT_NAMES, file_traits
from aigenbench.data.sources import ImageSource
from aigenbench.errors import DataError
from aigenbench.evaluation.binary import SortedScores, auroc
from aigenbench.evaluation.experiment import evaluate_experiment
from aigenbench.evaluation.metrics import RunEvaluation
from aigenbench.evaluation.predictions import (
    build_predictions,
    predictions_file_name,
    save_predictions,
)
from aigenbench.files import write_json_atomic
from aigenbench.models.pretraining_cutoffs import PRETRAINING_DATA, backbone_pretraining, exposure
from aigenbench.protocol import REAL_GENERATOR, BenchmarkPlan

Classifier = Literal["boosting", "logistic"]
CLASSIFIERS: tuple[str, ...] = ("boosting", "logistic")
AUDIT_DIR = "audit"
AUDIT_FILE = "audit.json"
PRACTICAL_MARGIN = 0.05
"""A Next AUROC within 0.5 +- this is chance for practical purposes, however many images."""


def make_classifier(kind: Classifier, seed: int = 0) -> Any:
    """Gradient-boosted trees (NaN-aware, scale-free) or a standardised logistic regression."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "boosting":
        return HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    if kind == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=1000),
        )
    raise ValueError(f"unknown classifier {kind!r}; use one of {', '.join(CLASSIFIERS)}")


def read_traits(
    source: ImageSource,
    split: str,
    ids: Iterable[int],
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> dict[int, np.ndarray]:
    """Traits of the rows ``ids`` of ``split``, by ID (headers only)."""
    unique = sorted(set(int(i) for i in ids))
    rows = progress(unique) if progress is not None else unique
    return {row_id: file_traits(_encoded(source, split, row_id)) for row_id in rows}


def _encoded(source: ImageSource, split: str, row_id: int) -> bytes:
    """The row's bytes; a missing or unreadable file has the traits of an empty one."""
    try:
        return source.read(split, row_id)
    except DataError:
        return b""


def hanley_mcneil_se(value: float, n_fake: int, n_real: int) -> float:
    """Standard error of an AUROC (Hanley & McNeil, 1982)."""
    q1 = value / (2 - value)
    q2 = 2 * value * value / (1 + value)
    variance = (
        value * (1 - value)
        + (n_fake - 1) * (q1 - value * value)
        + (n_real - 1) * (q2 - value * value)
    ) / (n_fake * n_real)
    return math.sqrt(max(variance, 0.0))


@dataclass
class ShortcutAudit:
    evaluation: RunEvaluation
    classifier: str
    trait_auroc: dict[str, float | None]
    """AUROC of each trait alone on the evaluation set (0.5: no information; far from 0.5 in
    either direction: the trait separates the classes)."""
    next_auroc: float | None
    next_se: float | None
    shortcut: bool
    encoder: dict[str, Any] = field(default_factory=dict)

    def verdict(self) -> str:
        if self.next_auroc is None:
            return "not enough windows for a Next-period verdict"
        value = f"{100 * self.next_auroc:.2f}"
        if self.shortcut:
            return (
                f"SHORTCUT: file-level traits alone reach a Next AUROC of {value} (chance is "
                "50): the data lets a detector separate fakes from reals without looking at "
                "the content"
            )
        return f"no shortcut found: file-level traits alone reach a Next AUROC of {value}"

    def to_json(self) -> dict[str, Any]:
        headline = {
            f"{name}_auroc": self.evaluation.averages[name]["auroc"]
            for name in ("next", "past", "growing", "whole")
        }
        return {
            "classifier": self.classifier,
            "traits": list(TRAIT_NAMES),
            "headline": headline,
            "next_auroc": self.next_auroc,
            "next_standard_error": self.next_se,
            "practical_margin": PRACTICAL_MARGIN,
            "shortcut": self.shortcut,
            "verdict": self.verdict(),
            "trait_auroc": self.trait_auroc,
            "per_window": [
                {
                    "window": w.window,
                    **{name: w.subsets[name].auroc for name in ("next", "past", "whole", "all")},
                }
                for w in self.evaluation.windows
            ],
            "encoder": self.encoder,
        }


def shortcut_verdict(
    next_results: list[tuple[float, int, int]],
) -> tuple[float | None, float | None, bool]:
    """(mean Next AUROC, its standard error, shortcut?) from each step's (AUROC, n_fake, n_real).

    The steps' errors are combined as if independent; a shortcut needs the mean above 0.5 by
    more than both :data:`PRACTICAL_MARGIN` and 1.96 standard errors.
    """
    if not next_results:
        return None, None, False
    values = [value for value, _, _ in next_results]
    errors = [hanley_mcneil_se(*result) for result in next_results]
    mean = sum(values) / len(values)
    se = math.sqrt(sum(e * e for e in errors)) / len(errors)
    return mean, se, mean - 0.5 > max(PRACTICAL_MARGIN, 1.96 * se)


def _verdict(evaluation: RunEvaluation) -> tuple[float | None, float | None, bool]:
    results = [
        (m.auroc, m.n_fake, m.n_real)
        for m in (window.subsets["next"] for window in evaluation.windows)
        if m.auroc is not None
    ]
    return shortcut_verdict(results)


def encoder_exposure(
    backbone: str, pretrained: bool, plan: BenchmarkPlan, resolved: str | None = None
) -> dict[str, Any]:
    """The run's encoder and every known pretraining data set against the generators' dates."""
    spec = resolved or backbone
    own = backbone_pretraining(spec) if pretrained else None
    dates = {name: plan.timeline[name] for window in plan.windows for name in window}
    table = []
    for data in sorted(PRETRAINING_DATA, key=lambda data: data.cutoff):  # oldest first
        rows = exposure(data, plan.windows, dates)
        table.append(
            {
                "data": data.name,
                "cutoff": data.cutoff.isoformat(),
                "basis": data.basis,
                "generators_before_cutoff": sum(row.may_have_seen for row in rows),
                "generators": len(rows),
                "this_run": own is not None and data.name == own.name,
            }
        )
    document: dict[str, Any] = {
        "backbone": backbone,
        "resolved": spec,
        "pretrained": bool(pretrained),
        "data": None if own is None else own.name,
        "cutoff": None if own is None else own.cutoff.isoformat(),
        "table": table,
        "generators": [],
    }
    if own is not None:
        document["generators"] = [
            {
                "generator": row.generator,
                "release_date": row.release.isoformat(),
                "window": row.window,
                "may_have_seen": row.may_have_seen,
            }
            for row in exposure(own, plan.windows, dates)
        ]
    return document


def run_audit(
    source: ImageSource,
    plan: BenchmarkPlan,
    out_dir: str | os.PathLike[str],
    *,
    classifier: Classifier = "boosting",
    encoder: dict[str, Any] | None = None,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> ShortcutAudit:
    """Fit the traits-only classifier per window, write its predictions files and audit.json."""
    out_dir = Path(out_dir)
    name_to_id = {name: i for i, name in enumerate(plan.generator_names)}
    evaluation = plan.evaluation("validate")
    train_generator = dict(zip(plan.train.ids, plan.train.generators, strict=True))
    train_ids = sorted({i for k in range(plan.n_windows) for i in plan.training_ids(k)})
    train_traits = read_traits(source, "train", train_ids, progress)
    eval_traits = read_traits(source, "validation", evaluation.ids, progress)
    eval_x = np.stack([eval_traits[int(i)] for i in evaluation.ids])
    eval_generator_ids = np.array([name_to_id[g] for g in evaluation.generators], dtype=np.int64)
    eval_labels = (eval_generator_ids != 0).astype(np.int64)

    for window in range(plan.n_windows):
        ids = plan.training_ids(window)
        x = np.stack([train_traits[i] for i in ids])
        y = np.array([train_generator[i] != REAL_GENERATOR for i in ids], dtype=np.int64)
        model = make_classifier(classifier).fit(x, y)
        scores = model.predict_proba(eval_x)[:, 1].astype(np.float32)
        predictions = build_predictions(
            scores,
            eval_labels,
            eval_generator_ids,
            np.asarray(evaluation.ids, dtype=np.int64),
            generator_names=plan.generator_names,
            windows=plan.windows,
            pairing=evaluation.pairing,
        )
        save_predictions(out_dir / f"window_{window}" / predictions_file_name(), predictions)

    result = evaluate_experiment(out_dir)
    trait_auroc = {
        name: auroc(SortedScores.from_unsorted(np.nan_to_num(eval_x[:, j], nan=-1.0), eval_labels))
        for j, name in enumerate(TRAIT_NAMES)
    }
    mean, se, shortcut = _verdict(result)
    audit = ShortcutAudit(result, classifier, trait_auroc, mean, se, shortcut, encoder or {})
    write_json_atomic(out_dir / AUDIT_FILE, audit.to_json())
    return audit
