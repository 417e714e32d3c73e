"""The report's figures, as PNG bytes (matplotlib's object API: no pyplot, no GUI backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import norm
from sklearn.metrics import det_curve, precision_recall_curve, roc_curve

from aigenbench.evaluation.metrics import RunEvaluation

SUBSET_STYLES = {
    "next": ("Next (k+1)", "-", "o"),
    "past": ("Past (0..k-1)", "-", "s"),
    "growing": ("Growing (0..k)", "-", "^"),
    "whole": ("Whole (0..k+1)", "-", "D"),
    "all": ("All windows", ":", "."),
}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _as_float(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def auroc_over_time(evaluation: RunEvaluation) -> bytes:
    """AUROC of each subset after each training step."""
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    steps = evaluation.steps
    for name, (label, line, marker) in SUBSET_STYLES.items():
        values = _as_float([w.subsets[name].auroc for w in evaluation.windows]) * 100
        axes.plot(steps, values, linestyle=line, marker=marker, label=label)
    axes.set_xlabel("after training step k")
    axes.set_ylabel("AUROC (%)")
    axes.set_xticks(steps)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    axes.set_title("AUROC over time")
    return _png(figure)


def _heatmap(
    values: np.ndarray,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str,
    xlabel: str,
    ylabel: str,
    size: tuple[float, float],
    annotate: bool = True,
) -> bytes:
    figure = Figure(figsize=size)
    axes = figure.subplots()
    masked = np.ma.masked_invalid(values * 100)
    image = axes.imshow(masked, cmap="viridis", vmin=50, vmax=100, aspect="auto")
    axes.set_xticks(range(len(column_labels)), labels=column_labels)
    axes.set_yticks(range(len(row_labels)), labels=row_labels)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="AUROC (%)")
    if annotate:
        for (row, column), value in np.ndenumerate(values):
            if np.isfinite(value):
                colour = "black" if value * 100 > 80 else "white"
                axes.text(
                    column,
                    row,
                    f"{value * 100:.1f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=colour,
                )
    return _png(figure)


def matrix_heatmap(evaluation: RunEvaluation) -> bytes:
    """AUROC after step k (rows) on window j (columns)."""
    values = np.array([_as_float(row) for row in evaluation.matrix])
    n = evaluation.n_windows
    return _heatmap(
        values,
        [str(step) for step in evaluation.steps],
        [str(j) for j in range(n)],
        "AUROC after step k on window j",
        "window j (its fakes + paired reals)",
        "after training step k",
        (1.2 + 0.7 * n, 0.8 + 0.55 * len(evaluation.steps)),
    )


def generator_heatmap(evaluation: RunEvaluation) -> bytes:
    """AUROC of each generator (rows, in release order) after each step (columns)."""
    names = [name for window in evaluation.timeline for name in window]
    values = np.array(
        [_as_float([w.per_generator[name].auroc for w in evaluation.windows]) for name in names]
    )
    return _heatmap(
        values,
        names,
        [str(step) for step in evaluation.steps],
        "AUROC per generator",
        "after training step k",
        "generator (release order)",
        (2.5 + 0.6 * len(evaluation.steps), 1.0 + 0.28 * len(names)),
        annotate=len(names) * len(evaluation.steps) <= 400,
    )


Curve = tuple[str, np.ndarray, np.ndarray]
"""(label, scores, is_fake) of one subset."""


def roc_figure(curves: Sequence[Curve], title: str) -> bytes:
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    for label, scores, fake in curves:
        fpr, tpr, _ = roc_curve(fake, scores)
        axes.plot(fpr, tpr, label=label)
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("false positive rate (reals called fake)")
    axes.set_ylabel("true positive rate (fakes caught)")
    axes.set_title(f"ROC — {title}")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure)


def pr_figure(curves: Sequence[Curve], title: str) -> bytes:
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    for label, scores, fake in curves:
        precision, recall, _ = precision_recall_curve(fake, scores)
        axes.plot(recall, precision, label=label)
    axes.set_xlabel("recall (fakes caught)")
    axes.set_ylabel("precision")
    axes.set_ylim(0, 1.02)
    axes.set_title(f"Precision–recall — {title}")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize="small")
    return _png(figure)


def det_figure(curves: Sequence[Curve], title: str) -> bytes:
    """DET curve on normal-deviate axes (as scikit-learn's DetCurveDisplay)."""
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999])
    for label, scores, fake in curves:
        fpr, fnr, _ = det_curve(fake, scores)
        clip = np.clip
        axes.plot(
            norm.ppf(clip(fpr, 1e-4, 1 - 1e-4)), norm.ppf(clip(fnr, 1e-4, 1 - 1e-4)), label=label
        )
    positions = norm.ppf(ticks)
    labels = [f"{100 * t:g}" for t in ticks]
    axes.set_xticks(positions, labels=labels)
    axes.set_yticks(positions, labels=labels)
    axes.set_xlim(positions[0], positions[-1])
    axes.set_ylim(positions[0], positions[-1])
    axes.set_xlabel("false positive rate (%)")
    axes.set_ylabel("false negative rate (%)")
    axes.set_title(f"DET — {title}")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    return _png(figure)


def comparison_figure(names: Sequence[str], values: Sequence[float | None], bounds) -> bytes:
    """Next AUROC (averaged over steps) of each run with its interval, best at the top."""
    figure = Figure(figsize=(7, 0.9 + 0.45 * len(names)))
    axes = figure.subplots()
    positions = np.arange(len(names))[::-1]
    for position, value, interval in zip(positions, values, bounds, strict=True):
        if value is None:
            continue
        if interval is not None:
            axes.plot([100 * interval[0], 100 * interval[1]], [position, position], color="#1f77b4")
        axes.plot([100 * value], [position], "o", color="#1f77b4")
    axes.set_yticks(positions, labels=list(names))
    axes.set_xlabel("Next-period AUROC averaged over steps (%), with its interval")
    axes.grid(alpha=0.3, axis="x")
    axes.set_ylim(-0.7, len(names) - 0.3)
    return _png(figure)
