"""Experiment directories: find each window's predictions file, write metrics.json/summary.json.

Ours: ``runs/<id>/window_<k>/predictions_<stage>.npz``. The official framework's experiment
folders have the same ``window_<k>/`` layout with its own file names
(``predictions_<stage>_all.npz`` or ``predictions_<stage>_epoch=E-step=N.npz``), so both are
read the same way (see :func:`~aigenbench.evaluation.predictions.find_predictions`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from aigenbench.errors import DataError
from aigenbench.evaluation.intervals import IntervalOptions, run_intervals
from aigenbench.evaluation.metrics import (
    EvaluationOptions,
    RunEvaluation,
    ScoredImages,
    WindowEvaluation,
    evaluate_scored,
    evaluate_window,
    load_scored,
)
from aigenbench.evaluation.predictions import (
    Predictions,
    find_predictions,
    load_predictions,
    normalise_stage,
    predictions_file_name,
)
from aigenbench.files import write_json_atomic

WINDOW_DIR = re.compile(r"^window_(\d+)$")
METRICS_FILE = "metrics.json"
SUMMARY_FILE = "summary.json"
SUMMARY_KEY = "metrics"
"""summary.json may hold other sections (the data summary); ours is under this key."""


def window_dirs(run_dir: Path) -> dict[int, Path]:
    """``window_<k>`` sub-directories by k."""
    found = {}
    for child in run_dir.iterdir():
        match = WINDOW_DIR.match(child.name)
        if match and child.is_dir():
            found[int(match[1])] = child
    return dict(sorted(found.items()))


def _looked_for(stage: str) -> str:
    return (
        f"{predictions_file_name(stage)}, predictions_{stage}_all.npz or "
        f"predictions_{stage}_epoch=E-step=N.npz"
    )


def discover_predictions(
    run_dir: str | os.PathLike[str], stage: str = "validate"
) -> dict[int, Path]:
    """The predictions file of each training step of an experiment (or of one window dir)."""
    stage = normalise_stage(stage)
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise DataError(
            f"run directory {run_dir} does not exist; give an experiment directory "
            "(runs/<experiment-id>, or an official experiment folder holding window_<k>/)"
        )
    if not run_dir.is_dir():
        raise DataError(
            f"{run_dir} is a file; give the experiment directory that holds window_<k>/"
        )
    windows = window_dirs(run_dir)
    if not windows:
        match = WINDOW_DIR.match(run_dir.name)
        single = find_predictions(run_dir, stage)
        if match and single is not None:
            return {int(match[1]): single}
        raise DataError(
            f"{run_dir} has no window_<k>/ folders; give the experiment directory "
            "(runs/<experiment-id>) of a run that has finished at least one window"
        )
    found = {}
    for step, directory in windows.items():
        path = find_predictions(directory, stage)
        if path is not None:
            found[step] = path
    if not found:
        raise DataError(
            f"no predictions files in {run_dir}/window_*/ for stage {stage!r} (looked for "
            f"{_looked_for(stage)}); train or validate the experiment first"
        )
    return found


def evaluate_experiment(
    run_dir: str | os.PathLike[str],
    stage: str = "validate",
    options: EvaluationOptions | None = None,
    intervals: IntervalOptions | None = None,
) -> RunEvaluation:
    """Evaluate every window of an experiment directory (ours or the official framework's),
    with confidence intervals when ``intervals`` is given."""
    options = options or EvaluationOptions()
    images = load_scored(discover_predictions(run_dir, stage), options.use_pairing)
    evaluation = evaluate_scored(images, options)
    if intervals is not None:
        evaluation.intervals = run_intervals(
            images,
            intervals,
            threshold=options.threshold,
            use_pairing=options.use_pairing,
            official_last_next=options.official_last_next,
        )
    return evaluation


def metrics_file_name(stage: str = "validate") -> str:
    """``metrics.json`` for the validation stage, ``metrics_<stage>.json`` for the others."""
    stage = normalise_stage(stage)
    return METRICS_FILE if stage == "validate" else f"metrics_{stage}.json"


def evaluate_window_predictions(
    predictions: Predictions,
    window: int,
    source: str | os.PathLike[str],
    options: EvaluationOptions | None = None,
) -> WindowEvaluation:
    """The metrics of one window from its predictions in memory (``source``: the file they
    were written to, named in the results)."""
    images = ScoredImages.from_predictions(predictions, source=str(source))
    return evaluate_window(images, window, options)


def _evaluate_window_file(
    window_dir: Path, window: int | None, stage: str, options: EvaluationOptions
) -> WindowEvaluation:
    if window is None:
        match = WINDOW_DIR.match(window_dir.name)
        if match is None:
            raise DataError(f"{window_dir} is not named window_<k>; pass the window number")
        window = int(match[1])
    path = find_predictions(window_dir, stage)
    if path is None:
        raise DataError(f"no predictions file in {window_dir} (looked for {_looked_for(stage)})")
    return evaluate_window_predictions(load_predictions(path), window, path, options)


def write_window_metrics(
    window_dir: str | os.PathLike[str],
    window: int | None = None,
    stage: str = "validate",
    options: EvaluationOptions | None = None,
    evaluation: WindowEvaluation | None = None,
) -> Path:
    """Write ``window_dir/metrics.json``: ``evaluation`` (what the runner computed from the
    predictions it just wrote), or else the evaluation of the window's predictions file.

    ``window`` (the training step) defaults to the k of the ``window_<k>`` directory name.
    """
    stage = normalise_stage(stage)
    window_dir = Path(window_dir)
    options = options or EvaluationOptions()
    if evaluation is None:
        evaluation = _evaluate_window_file(window_dir, window, stage, options)
    document = {
        "stage": stage,
        "threshold": options.threshold,
        "n_windows": len(evaluation.matrix_row),
        **evaluation.to_json(),
    }
    return write_json_atomic(window_dir / metrics_file_name(stage), document)


def read_window_metrics(
    window_dir: str | os.PathLike[str], stage: str = "validate"
) -> WindowEvaluation:
    """A window's metrics.json read back (the earlier windows of a resumed run): equal to the
    evaluation that wrote it. A document of an older version (no threshold transfers) is not
    trusted: the window's predictions file is evaluated again (in memory; the file stays)."""
    stage = normalise_stage(stage)
    window_dir = Path(window_dir)
    try:
        document = json.loads((window_dir / metrics_file_name(stage)).read_text(encoding="utf-8"))
        return WindowEvaluation.from_json(document)
    except (OSError, ValueError, KeyError, TypeError):
        return _evaluate_window_file(window_dir, None, stage, EvaluationOptions())


def write_summary(
    run_dir: str | os.PathLike[str],
    stage: str = "validate",
    options: EvaluationOptions | None = None,
    evaluation: RunEvaluation | None = None,
    sections: dict[str, Any] | None = None,
) -> Path:
    """Evaluate the whole experiment and store it in ``run_dir/summary.json`` (key ``metrics``).

    ``sections`` (e.g. the runner's data summary) are written beside it in the same write;
    other sections already in summary.json are kept.
    """
    run_dir = Path(run_dir)
    stage = normalise_stage(stage)
    evaluation = evaluation or evaluate_experiment(run_dir, stage, options)
    path = run_dir / SUMMARY_FILE
    summary: dict[str, Any] = {}
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(existing, dict):
                summary = existing
        except (OSError, ValueError):
            summary = {}
    summary[SUMMARY_KEY] = {
        "stage": stage,
        "headline": headline(evaluation),
        **evaluation.to_json(),
    }
    summary.update(sections or {})
    return write_json_atomic(path, summary)


HEADLINE_SUBSETS = ("next", "past", "growing", "whole")


def headline(evaluation: RunEvaluation) -> dict[str, float | None]:
    """The averaged AUROCs a paper cites (Next, Past, Growing, Whole)."""
    return {f"{name}_auroc": evaluation.averages[name]["auroc"] for name in HEADLINE_SUBSETS}


def window_headline(evaluation: WindowEvaluation) -> dict[str, float | None]:
    """The same AUROCs for one step."""
    return {f"{name}_auroc": evaluation.subsets[name].auroc for name in HEADLINE_SUBSETS}


def headline_text(values: dict[str, float | None]) -> str:
    """``Next 70.25, Past 89.05, ...`` (``-`` where not defined)."""

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}"

    return ", ".join(
        f"{key.removesuffix('_auroc').capitalize()} {percent(value)}"
        for key, value in values.items()
    )
