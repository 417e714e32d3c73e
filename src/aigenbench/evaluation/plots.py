"""The report's figures, as PNG bytes (matplotlib's object API: no pyplot, no GUI backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
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
    """AUROC of each subset after each training step (PNG of :func:`auroc_over_time_figure`)."""
    return _png(auroc_over_time_figure(evaluation))


def auroc_over_time_figure(evaluation: RunEvaluation) -> Figure:
    """AUROC of each subset after each training step; shaded: Next's interval, when computed.

    The legend sits outside the axes, so it never covers a point."""
    figure = Figure(figsize=(9, 4.5))
    axes = figure.subplots()
    steps = evaluation.steps
    intervals = evaluation.intervals
    lowest = 100.0
    for name, (label, line, marker) in SUBSET_STYLES.items():
        values = _as_float([w.subsets[name].auroc for w in evaluation.windows]) * 100
        (drawn,) = axes.plot(steps, values, linestyle=line, marker=marker, label=label)
        if np.isfinite(values).any():
            lowest = min(lowest, float(np.nanmin(values)))
        if intervals is not None and name == "next":
            bounds = [intervals.windows[k].subsets[name].get("auroc") for k in steps]
            low = _as_float([None if b is None else b[0] for b in bounds]) * 100
            high = _as_float([None if b is None else b[1] for b in bounds]) * 100
            axes.fill_between(steps, low, high, color=drawn.get_color(), alpha=0.12, linewidth=0)
            if np.isfinite(low).any():
                lowest = min(lowest, float(np.nanmin(low)))
    axes.set_xlabel("after training step k")
    axes.set_ylabel("AUROC (%)")
    axes.set_xticks(steps)
    axes.set_ylim(max(0.0, 5 * np.floor(lowest / 5) - 2), 101)
    axes.axhline(50, color="grey", linestyle=":", linewidth=1)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    title = "AUROC over time"
    if intervals is not None:
        title += f" (shaded: the {100 * intervals.options.confidence:g}% interval of Next)"
    axes.set_title(title)
    return figure


def colour_floor(values: np.ndarray) -> float:
    """The colour scale's lower end: 50 (chance), or lower when some value is below it."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0 or finite.min() >= 0.5:
        return 50.0
    return float(5 * np.floor(100 * finite.min() / 5))


def _heatmap(
    values: np.ndarray,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str,
    xlabel: str,
    ylabel: str,
    size: tuple[float, float],
    annotate: bool = True,
    fontsize: float = 9,
) -> tuple[Figure, object]:
    figure = Figure(figsize=size)
    axes = figure.subplots()
    masked = np.ma.masked_invalid(values * 100)
    floor = colour_floor(values)
    image = axes.imshow(masked, cmap="viridis", vmin=floor, vmax=100, aspect="auto")
    axes.set_xticks(range(len(column_labels)), labels=column_labels)
    axes.set_yticks(range(len(row_labels)), labels=row_labels)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label=f"AUROC (%), scale {floor:g}–100")
    if annotate:
        middle = floor + 0.6 * (100 - floor)
        for (row, column), value in np.ndenumerate(values):
            if np.isfinite(value):
                colour = "black" if value * 100 > middle else "white"
                axes.text(
                    column,
                    row,
                    f"{value * 100:.1f}",
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color=colour,
                )
    return figure, axes


def matrix_heatmap(evaluation: RunEvaluation) -> bytes:
    """AUROC after step k (rows) on window j (columns); the diagonal outlined."""
    values = np.array([_as_float(row) for row in evaluation.matrix])
    n = evaluation.n_windows
    figure, axes = _heatmap(
        values,
        [str(step) for step in evaluation.steps],
        [str(j) for j in range(n)],
        "AUROC after step k on window j",
        "window j (its fakes + paired reals)",
        "after training step k",
        (2.0 + 0.8 * n, 1.2 + 0.6 * len(evaluation.steps)),
    )
    for row, step in enumerate(evaluation.steps):
        if step < n:
            axes.add_patch(  # type: ignore[attr-defined]
                Rectangle((step - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=2)
            )
    return _png(figure)


def generator_heatmap(evaluation: RunEvaluation) -> bytes:
    """PNG of :func:`generator_heatmap_figure`."""
    return _png(generator_heatmap_figure(evaluation))


def generator_heatmap_figure(evaluation: RunEvaluation) -> Figure:
    """AUROC of each generator (rows, in release order, grouped by window) after each step.

    Lines separate the windows; the staircase separates generators already trained on
    (above) from those still in the future."""
    names = [name for window in evaluation.timeline for name in window]
    window_of = [index for index, window in enumerate(evaluation.timeline) for _ in window]
    values = np.array(
        [_as_float([w.per_generator[name].auroc for w in evaluation.windows]) for name in names]
    )
    steps = evaluation.steps
    labels = [f"w{window}  {name}" for window, name in zip(window_of, names, strict=True)]
    figure, axes = _heatmap(
        values,
        labels,
        [str(step) for step in steps],
        "AUROC per generator (its fakes + paired reals)",
        "after training step k",
        "generator, by window (release order)",
        (4.0 + 0.75 * len(steps), 1.5 + 0.34 * len(names)),
        annotate=len(names) * len(steps) <= 600,
        fontsize=8,
    )
    start = 0
    for window in evaluation.timeline[:-1]:
        start += len(window)
        axes.axhline(start - 0.5, color="white", linewidth=2.5)  # type: ignore[attr-defined]
    # Staircase: in column k, the generators of windows 0..k have been trained on.
    seen_rows = [sum(len(w) for w in evaluation.timeline[: step + 1]) for step in steps]
    xs, ys = [], []
    for column, rows in enumerate(seen_rows):
        xs += [column - 0.5, column + 0.5]
        ys += [rows - 0.5, rows - 0.5]
    axes.plot(xs, ys, color="red", linewidth=1.5)  # type: ignore[attr-defined]
    return figure


def reliability_figure(bins_by_label: Sequence[tuple[str, Sequence]]) -> bytes:
    """Reliability diagram: per score bin, the fraction of fakes against the mean score."""
    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    axes.plot(
        [0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfectly calibrated"
    )
    for label, bins in bins_by_label:
        used = [b for b in bins if b.count]
        if not used:
            continue
        axes.plot(
            [b.mean_score for b in used],
            [b.fake_fraction for b in used],
            marker="o",
            label=label,
        )
    axes.set_xlabel("mean score in the bin (predicted probability of fake)")
    axes.set_ylabel("fraction of fakes in the bin")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.set_title("Reliability diagram (15 bins)")
    axes.legend(loc="upper left", fontsize="small")
    return _png(figure)


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
