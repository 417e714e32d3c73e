"""``report.html``: one self-contained page (PNG figures inlined as base64, inline CSS, no
JavaScript, nothing fetched) with the experiment's metrics, plus the PNGs in ``plots/``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aigenbench import __version__
from aigenbench.evaluation.binary import METRIC_KEYS
from aigenbench.evaluation.calibration import FPR_TARGETS, fpr_key
from aigenbench.evaluation.experiment import (
    SUMMARY_FILE,
    SUMMARY_KEY,
    discover_predictions,
    evaluate_experiment,
    headline,
)
from aigenbench.evaluation.html_parts import _e, _image, _percent, _signed, _table
from aigenbench.evaluation.intervals import IntervalOptions
from aigenbench.evaluation.metrics import (
    NOT_AVERAGED,
    SUBSETS,
    EvaluationOptions,
    RunEvaluation,
    ScoredImages,
    SubsetSelector,
    subset_windows,
)
from aigenbench.evaluation.plots import (
    Curve,
    auroc_over_time,
    det_figure,
    generator_heatmap,
    matrix_heatmap,
    pr_figure,
    reliability_figure,
    roc_figure,
)
from aigenbench.evaluation.predictions import load_predictions
from aigenbench.files import write_bytes_atomic, write_text_atomic

DATA_SUMMARY_FILE = "data_summary.json"
CONFIG_FILE = "config.yaml"
PROBLEM_WORDS = ("unreadable", "invalid", "corrupt", "missing", "error", "failed")

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 2em auto; max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #446; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccd; padding: .25em .6em; text-align: right; }
th { background: #eef; } td.name, th.name { text-align: left; }
td.name:last-child { max-width: 40em; }
nav { margin: .5em 0 1em; } nav a { color: #446; text-decoration: none; }
details { margin: .6em 0; } summary { cursor: pointer; color: #446; }
tr.average td { font-weight: bold; background: #f6f6fb; }
img { max-width: 100%; height: auto; display: block; margin: .8em 0; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; } .figures img { max-width: 32%; }
pre { background: #f6f6fb; padding: .8em; overflow-x: auto; font-size: .85em; }
.note { color: #7a4b00; } .muted { color: #777; } .headline { font-size: 1.15em; }
"""


@dataclass
class Report:
    html_path: Path
    plot_paths: list[Path]
    evaluation: RunEvaluation


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _data_summary(run_dir: Path) -> dict[str, Any]:
    """Sections of summary.json other than ours, and data_summary.json, when present."""
    found: dict[str, Any] = {}
    for name in (SUMMARY_FILE, DATA_SUMMARY_FILE):
        text = _read_text(run_dir / name)
        if text is None:
            continue
        try:
            content = json.loads(text)
        except ValueError:
            found[name] = f"(not valid JSON: {name})"
            continue
        if isinstance(content, dict):
            content = {key: value for key, value in content.items() if key != SUMMARY_KEY}
            if not content:
                continue
        found[name] = content
    return found


def _problems(content: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Entries whose key names a problem (unreadable images, errors, ...)."""
    found = []
    if isinstance(content, dict):
        for key, value in content.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if any(word in str(key).lower() for word in PROBLEM_WORDS):
                if value:  # an empty list of unreadable images is no problem
                    found.append((path, value))
            else:
                found.extend(_problems(value, path))
    return found


def _curves(path: str, step: int, options: EvaluationOptions) -> tuple[list[Curve], str]:
    images = ScoredImages.from_predictions(load_predictions(path), source=path)
    selector = SubsetSelector(images, options.use_pairing)
    window_ids = images.window_generator_ids()
    curves: list[Curve] = []
    for name in ("all", "past", "next"):
        covered = subset_windows(name, step, images.n_windows, options.official_last_next)
        ids = sorted({g for w in covered for g in window_ids[w]})
        selected = selector.select(ids) if ids else None
        if selected is not None and selected.fake.any() and (~selected.fake).any():
            curves.append((name, selected.scores.astype(float), selected.fake))
    return curves, f"after step {step}"


def _config_section(run_dir: Path) -> str:
    for candidate in (run_dir / CONFIG_FILE, run_dir / "window_0" / CONFIG_FILE):
        text = _read_text(candidate)
        if text is not None:
            return f'<p class="muted">{_e(candidate)}</p><pre>{_e(text)}</pre>'
    return f'<p class="muted">No {CONFIG_FILE} in {_e(run_dir)}.</p>'


def _value_text(value: Any, limit: int = 12) -> str:
    """A readable cell for one value of a data summary (no raw JSON)."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        if not value:
            return "none"
        if all(isinstance(item, list) for item in value):
            return "; ".join(
                f"w{i}: {', '.join(map(str, item))}" for i, item in enumerate(value[:limit])
            ) + ("; …" if len(value) > limit else "")
        if all(isinstance(item, dict) for item in value):
            shown = [", ".join(f"{k} {v}" for k, v in item.items()) for item in value[:3]]
            more = f" … ({len(value)} in all)" if len(value) > 3 else ""
            return f"{len(value)} — " + "; ".join(shown) + more
        return ", ".join(map(str, value[:limit])) + (" …" if len(value) > limit else "")
    if isinstance(value, dict):
        if not value:
            return "none"
        return ", ".join(f"{k} {_value_text(v)}" for k, v in value.items())
    return str(value)


def _summary_rows(content: Any, prefix: str = "") -> list[list[str]]:
    if not isinstance(content, dict):
        return [[prefix or "value", _value_text(content)]]
    rows = []
    for key, value in content.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        # A section (top level) or a dict holding dicts gets a row per entry.
        nested = isinstance(value, dict) and (
            not prefix or any(isinstance(v, dict) for v in value.values())
        )
        rows += (
            _summary_rows(value, name) if nested else [[name.replace("_", " "), _value_text(value)]]
        )
    return rows


def _data_section(run_dir: Path, evaluation: RunEvaluation) -> str:
    parts = []
    invalid = [(w.window, w.n_invalid) for w in evaluation.windows if w.n_invalid]
    if invalid:
        rows = [[str(k), str(n)] for k, n in invalid]
        parts.append(
            '<p class="note">Some evaluation images could not be decoded: the results are not '
            "comparable with the published ones.</p>"
            + _table(["step", "unreadable evaluation images"], rows)
        )
    else:
        parts.append(
            "<p>Every evaluated image was readable (no image flagged invalid in the "
            "predictions files).</p>"
        )
    summaries = _data_summary(run_dir)
    problems = [
        (f"{name}: {key}", value) for name, c in summaries.items() for key, value in _problems(c)
    ]
    if problems:
        rows = [[key, _value_text(value)] for key, value in problems]
        parts.append(_table(["reported problem", "value"], rows, left=True))
    for name, content in summaries.items():
        parts.append(f'<p class="muted">{_e(run_dir / name)}</p>')
        parts.append(_table(["item", "value"], _summary_rows(content), left=True))
    if not summaries:
        parts.append(
            f'<p class="muted">No data summary ({SUMMARY_FILE} or {DATA_SUMMARY_FILE}) '
            f"in {_e(run_dir)}.</p>"
        )
    return "".join(parts)


# ----------------------------------------------------------------------------- sections


@dataclass
class ReportContext:
    """What every section may draw on."""

    run_dir: Path
    evaluation: RunEvaluation
    figures: dict[str, bytes]
    stage: str
    comparison: Any = None


TRANSFER_DEFINITIONS = (
    (
        "final average AUROC (%)",
        "final_average",
        "mean over every window j of the last step's AUROC on j",
    ),
    (
        "backward transfer (BWT)",
        "backward_transfer",
        "mean over earlier windows j of (AUROC on j after the last step − AUROC on j right after "
        "training on j); negative = the detector got worse on what it had learned",
    ),
    (
        "forgetting",
        "forgetting",
        "mean over earlier windows j of (best AUROC ever reached on j − final AUROC on j); "
        "0 = nothing forgotten",
    ),
    (
        "forward transfer (FWT)",
        "forward_transfer",
        "mean over windows j ≥ 1 of (AUROC on j before training on it − 50): how far above "
        "chance the detector is on generators it has not seen (= Next average − 50)",
    ),
)


def _cell_bounds(ctx: ReportContext, step: int | None, subset: str, key: str = "auroc"):
    intervals = ctx.evaluation.intervals
    if intervals is None:
        return None
    values = intervals.averages if step is None else intervals.windows[step].subsets
    return values.get(subset, {}).get(key)


def summary_section(ctx: ReportContext) -> str:
    evaluation = ctx.evaluation
    top = headline(evaluation)
    parts = [
        '<h2 id="summary">Summary</h2>',
        '<p class="headline">AUROC averaged over time: '
        + ", ".join(
            f"<b>{_e(name.split('_')[0].capitalize())} "
            f"{_with_interval(value, _cell_bounds(ctx, None, name.split('_')[0]))}</b>"
            for name, value in top.items()
        )
        + "</p>",
    ]
    if evaluation.intervals is not None:
        parts.append(f'<p class="muted">(low–high): {_e(_interval_text(evaluation.intervals))}</p>')
    transfer = evaluation.transfer
    if transfer is not None and transfer.final_step is not None:
        rows = []
        for title, key, definition in TRANSFER_DEFINITIONS:
            value = getattr(transfer, key)
            text = _percent(value) if key == "final_average" else _signed(value)
            rows.append([title, text, definition])
        parts.append(
            "<p>From the window × window matrix M[k][j] (AUROC after step k on window j), in "
            "points of AUROC:</p>"
            + _table(["after the last step", "value", "definition"], rows, wide_last=True)
        )
    parts += [f'<p class="note">Note: {_e(note)}</p>' for note in evaluation.notes]
    return "".join(parts)


def _interval_text(intervals: Any) -> str:
    options = intervals.options
    level = f"{100 * options.confidence:g}%"
    if options.method == "delong":
        return f"{level} DeLong intervals of AUROC (analytic)"
    return (
        f"{level} percentile intervals, stratified paired bootstrap per generator, "
        f"{options.resamples} resamples, seed {options.seed}"
    )


def over_time_section(ctx: ReportContext) -> str:
    evaluation = ctx.evaluation
    averages = evaluation.averages
    rows = [
        [
            str(w.window),
            *[_with_interval(w.subsets[s].auroc, _cell_bounds(ctx, w.window, s)) for s in SUBSETS],
            str(w.n_images),
        ]
        for w in evaluation.windows
    ]
    average = [
        "average",
        *[_with_interval(averages[s]["auroc"], _cell_bounds(ctx, None, s)) for s in SUBSETS],
        "",
    ]
    return (
        '<h2 id="over-time">AUROC over time</h2>'
        "<p>After training step k: <b>Next</b> = window k+1 (the generators that come next), "
        "<b>Past</b> = windows 0..k−1, <b>Growing</b> = 0..k, <b>Whole</b> = 0..k+1, "
        "<b>All</b> = every window; each with the fakes of those windows and the reals paired "
        "with them.</p>"
        + _image(ctx.figures["auroc_over_time"], "AUROC over time per subset")
        + _table(["step", *[s.capitalize() for s in SUBSETS], "images"], rows, average)
    )


def matrix_section(ctx: ReportContext) -> str:
    return (
        '<h2 id="matrix">Window × window AUROC</h2>'
        "<p>Row k: the detector after training step k; column j: the fakes of window j's "
        "generators and the reals paired with them. Below the diagonal: the past; above: "
        "the future; outlined: the window just trained on. The colour scale starts at 50 "
        "(chance) unless a value is lower.</p>"
        + _image(ctx.figures["matrix"], "window x window AUROC heatmap")
    )


def generators_section(ctx: ReportContext) -> str:
    evaluation = ctx.evaluation
    generator_rows = [
        [name, str(index), *[_percent(w.per_generator[name].auroc) for w in evaluation.windows]]
        for index, names in enumerate(evaluation.timeline)
        for name in names
    ]
    return (
        '<h2 id="generators">Per-generator AUROC</h2>'
        "<p>Rows: generators in release order, grouped by window (white lines). In column k, "
        "above the red staircase: the generators the detector had been trained on after step "
        "k; below it: generators it had not seen yet.</p>"
        + _image(ctx.figures["generators"], "per-generator AUROC heatmap")
        + "<details><summary>The same numbers as a table</summary>"
        + _table(
            ["generator", "window", *[f"k={w.window}" for w in evaluation.windows]], generator_rows
        )
        + "</details>"
    )


def curves_section(ctx: ReportContext) -> str:
    if "roc" not in ctx.figures:
        return ""
    last = ctx.evaluation.windows[-1].window
    return (
        f'<h2 id="curves">ROC, precision–recall and DET curves (step {last})</h2>'
        '<div class="figures">'
        + _image(ctx.figures["roc"], "ROC curve")
        + _image(ctx.figures["pr"], "precision-recall curve")
        + _image(ctx.figures["det"], "DET curve")
        + "</div>"
    )


def calibration_section(ctx: ReportContext) -> str:
    evaluation = ctx.evaluation
    rows = []
    for w in evaluation.windows:
        for subset in ("next", "all"):
            values = w.calibration.get(subset)
            if values is None or all(v is None for v in values.tpr_at_fpr.values()):
                continue
            rows.append(
                [
                    str(w.window),
                    subset.capitalize(),
                    *[_percent(values.tpr_at_fpr[fpr_key(t)]) for t in FPR_TARGETS],
                    "—" if values.brier is None else f"{values.brier:.4f}",
                    _percent(values.ece),
                ]
            )
    parts = [
        '<h2 id="calibration">Operating points and calibration</h2>',
        "<p><b>TPR at FPR x</b>: the share of fakes caught by the best threshold that calls at "
        "most x of the reals fake. <b>Brier</b>: mean squared error of the score as a "
        "probability (0 best, 0.25 = always 0.5). <b>ECE</b>: mean gap between the score and "
        "the observed share of fakes, over 15 score bins (0 = calibrated). Subsets are balanced, "
        "so calibration is at a 50% prior.</p>",
    ]
    if "reliability" in ctx.figures:
        parts.append(_image(ctx.figures["reliability"], "reliability diagram"))
    parts.append(
        _table(
            ["step", "subset", *[f"TPR@FPR {100 * t:g}%" for t in FPR_TARGETS], "Brier", "ECE"],
            rows,
        )
    )
    return "".join(parts)


def threshold_section(ctx: ReportContext) -> str:
    items = ctx.evaluation.threshold_transfer
    if not items:
        return ""
    rows = []
    for item in items:
        rule = "best F1" if item.rule == "best_f1" else f"FPR ≤ {100 * (item.target_fpr or 0):g}%"
        rows.append(
            [
                str(item.step),
                rule,
                f"{item.transferred.threshold:.3f}",
                f"{_percent(item.transferred.tpr)} / {_percent(item.transferred.fpr)}",
                f"{item.oracle.threshold:.3f}",
                f"{_percent(item.oracle.tpr)} / {_percent(item.oracle.fpr)}",
                f"{_percent(item.fixed.tpr)} / {_percent(item.fixed.fpr)}",
            ]
        )
    return (
        '<h2 id="thresholds">Threshold transfer</h2>'
        "<p>What a deployed detector faces: after step k, a threshold is chosen on window k's "
        "generators (best F1, or the lowest keeping the false-positive rate within budget) and "
        "applied to window k+1's. Compared with the threshold chosen on window k+1 itself "
        "(oracle) and the fixed threshold "
        f"{ctx.evaluation.options.threshold:g}. Cells: TPR / FPR (%) on window k+1.</p>"
        + _table(
            ["step", "rule", "threshold", "transferred", "oracle threshold", "oracle", "fixed"],
            rows,
        )
    )


def metrics_section(ctx: ReportContext) -> str:
    evaluation = ctx.evaluation
    keys = (*METRIC_KEYS, "n_real", "n_fake")
    parts = [
        '<h2 id="metrics">All metrics per subset</h2>',
        "<p>Percentages at the threshold "
        f"{evaluation.options.threshold:g} (score above it = fake). The average row is the "
        "mean over the steps where the subset is defined; thresholds and image counts are "
        "not averaged.</p>",
    ]
    for name in SUBSETS:
        rows = []
        for w in evaluation.windows:
            values = w.subsets[name].to_dict()
            rows.append([str(w.window), *[_format(key, values[key]) for key in keys]])
        average = ["average"] + [
            "" if key in NOT_AVERAGED else _format(key, evaluation.averages[name][key])
            for key in keys
        ]
        table = _table(["step", *[COLUMN_TITLES.get(k, k) for k in keys]], rows, average)
        opened = " open" if name == "next" else ""
        parts.append(
            f"<details{opened}><summary><b>{_e(name.capitalize())}</b></summary>{table}</details>"
        )
    return "".join(parts)


COLUMN_TITLES = {
    "auroc": "AUROC",
    "ap": "AP",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced acc.",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "tnr": "TNR",
    "eer": "EER",
    "best_f1_threshold": "best-F1 threshold",
    "n_real": "reals",
    "n_fake": "fakes",
}


def comparison_report_section(ctx: ReportContext) -> str:
    return "" if ctx.comparison is None else comparison_section(ctx.comparison)


def robustness_report_section(ctx: ReportContext) -> str:
    """Degradation slices, robustness sweeps and the shortcut audit (``report_robustness``)."""
    from aigenbench.evaluation.report_robustness import robustness_sections

    return "".join(robustness_sections(ctx.run_dir, ctx.evaluation, ctx.figures, ctx.stage))


def config_section(ctx: ReportContext) -> str:
    return '<h2 id="config">Configuration</h2>' + _config_section(ctx.run_dir)


def data_section(ctx: ReportContext) -> str:
    return '<h2 id="data">Data summary</h2>' + _data_section(ctx.run_dir, ctx.evaluation)


SECTIONS = [
    summary_section,
    over_time_section,
    matrix_section,
    generators_section,
    curves_section,
    calibration_section,
    threshold_section,
    metrics_section,
    comparison_report_section,
    robustness_report_section,
    config_section,
    data_section,
]
"""The report's sections in order: each takes the :class:`ReportContext` and returns HTML
(empty to leave itself out). Add a section by adding a function here."""


def _contents(body: str) -> str:
    import re

    entries = re.findall(r'<h2 id="([^"]+)">(.*?)</h2>', body)
    links = " · ".join(f'<a href="#{anchor}">{title}</a>' for anchor, title in entries)
    return f'<nav class="muted">{links}</nav>'


def render_html(
    run_dir: Path,
    evaluation: RunEvaluation,
    figures: dict[str, bytes],
    stage: str,
    comparison: Any = None,
) -> str:
    ctx = ReportContext(run_dir, evaluation, figures, stage, comparison)
    title = f"aigenbench report: {run_dir.resolve().name}"
    header = (
        f"<h1>{_e(title)}</h1>"
        f'<p class="muted">{_e(run_dir.resolve())} · stage {_e(stage)} · threshold '
        f"{evaluation.options.threshold} · {len(evaluation.windows)} of {evaluation.n_windows} "
        f"windows evaluated · aigenbench {__version__} · "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>"
    )
    body = "\n".join(part for section in SECTIONS if (part := section(ctx)))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{header}\n"
        f"{_contents(body)}\n{body}\n</body>\n</html>\n"
    )


def _format(key: str, value: float | int | None) -> str:
    if value is None:
        return "—"
    if key in ("n_real", "n_fake"):
        return f"{value:.0f}"
    if key == "best_f1_threshold":
        return f"{value:.3f}"
    return _percent(float(value))


def write_report(
    run_dir: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    stage: str = "validate",
    options: EvaluationOptions | None = None,
    intervals: IntervalOptions | None = None,
    compare_with: list[str | os.PathLike[str]] | None = None,
) -> Report:
    """Evaluate ``run_dir`` and write ``report.html`` (default in ``run_dir``) and its PNGs
    into ``plots/`` beside it. ``intervals`` defaults to DeLong's; ``compare_with``: other runs
    on the same evaluation set, for a comparison section."""
    run_dir = Path(run_dir)
    options = options or EvaluationOptions()
    intervals = intervals or IntervalOptions("delong")
    files = discover_predictions(run_dir, stage)
    evaluation = evaluate_experiment(run_dir, stage, options, intervals)
    comparison = None
    if compare_with:
        from aigenbench.evaluation.compare import compare_runs

        comparison = compare_runs(
            [run_dir, *compare_with],
            stage,
            options,
            IntervalOptions("bootstrap", intervals.confidence, intervals.resamples, intervals.seed),
        )
    html_path = Path(output) if output is not None else run_dir / "report.html"
    plots_dir = html_path.parent / "plots"

    figures = {
        "auroc_over_time": auroc_over_time(evaluation),
        "matrix": matrix_heatmap(evaluation),
        "generators": generator_heatmap(evaluation),
    }
    last_step = max(files)
    curves, title = _curves(str(files[last_step]), last_step, options)
    if curves:
        figures["roc"] = roc_figure(curves, title)
        figures["pr"] = pr_figure(curves, title)
        figures["det"] = det_figure(curves, title)
    last = evaluation.windows[-1]
    reliability = [
        (f"{subset.capitalize()}, step {w.window}", w.calibration[subset].reliability)
        for w, subset in ((last, "all"), *[(w, "next") for w in evaluation.windows[-2:-1]])
        if w.calibration.get(subset) is not None and w.calibration[subset].reliability
    ]
    if reliability:
        figures["reliability"] = reliability_figure(reliability)

    from aigenbench.evaluation.report_robustness import robustness_figures

    figures.update(robustness_figures(run_dir))

    plots_dir.mkdir(parents=True, exist_ok=True)
    plot_paths = []
    for name, png in figures.items():
        path = plots_dir / f"{name}.png"
        write_bytes_atomic(path, png)
        plot_paths.append(path)
    document = render_html(run_dir, evaluation, figures, stage, comparison)
    write_text_atomic(html_path, document)
    return Report(html_path=html_path, plot_paths=plot_paths, evaluation=evaluation)


# ----------------------------------------------------------------------------- comparison


def _with_interval(value: float | None, bounds: tuple[float, float] | None) -> str:
    if value is None:
        return "—"
    if bounds is None:
        return _percent(value)
    return f"{_percent(value)} ({100 * bounds[0]:.1f}–{100 * bounds[1]:.1f})"


def _p_value(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def comparison_section(comparison: Any) -> str:
    """The leaderboard of :func:`~aigenbench.evaluation.compare.compare_runs`, its forest plot,
    the paired tests and the seed groups, as HTML."""
    from aigenbench.evaluation.compare import METRIC_TITLES
    from aigenbench.evaluation.plots import comparison_figure

    runs = comparison.runs
    keys = list(METRIC_TITLES)
    parts = ['<h2 id="comparison">Comparison</h2>']
    parts.append(
        "<p>Runs scored on the same evaluation images, ranked by Next-period AUROC averaged "
        "over steps. Each cell: the estimate and its interval (low–high).</p>"
    )
    parts.append(
        _image(
            comparison_figure(
                [r.name for r in runs],
                [r.values["next_auroc"] for r in runs],
                [r.bounds["next_auroc"] for r in runs],
            ),
            "Next AUROC of each run with its interval",
        )
    )
    rows = [
        [str(rank), run.name, *[_with_interval(run.values[k], run.bounds[k]) for k in keys]]
        for rank, run in enumerate(runs, 1)
    ]
    parts.append(_table(["rank", "run", *METRIC_TITLES.values()], rows))
    if comparison.pairs:
        rows = []
        for pair in comparison.pairs:
            delta = "—" if pair.difference is None else f"{100 * pair.difference:+.2f}"
            interval = (
                "—"
                if pair.bounds is None
                else f"{100 * pair.bounds[0]:+.2f} … {100 * pair.bounds[1]:+.2f}"
            )
            rows.append(
                [
                    f"{pair.first} − {pair.second}",
                    METRIC_TITLES[pair.metric],
                    delta,
                    interval,
                    pair.test,
                    _p_value(pair.p),
                    _p_value(pair.p_holm) + (" *" if pair.significant else ""),
                ]
            )
        parts.append("<h3>Paired tests (same images)</h3>")
        parts.append(
            _table(
                ["pair", "metric", "difference (points)", "interval", "test", "p", "p (Holm)"],
                rows,
            )
        )
    for group in comparison.seed_groups:
        parts.append(f"<h3>Seed variance: {_e(', '.join(group.runs))}</h3>")
        rows = [
            [
                METRIC_TITLES[key],
                _percent(group.mean[key]),
                "—" if group.std[key] is None else f"{100 * group.std[key]:.2f}",
            ]
            for key in METRIC_TITLES
        ]
        parts.append(_table(["metric", "mean over seeds", "std (points)"], rows))
    parts += [f'<p class="muted">{_e(note)}</p>' for note in comparison.notes]
    return "".join(parts)


def write_comparison_page(comparison: Any, path: str | os.PathLike[str]) -> Path:
    """A self-contained page with :func:`comparison_section`."""
    title = "aigenbench comparison: " + ", ".join(r.name for r in comparison.runs)
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n{comparison_section(comparison)}\n</body>\n</html>\n"
    )
    return write_text_atomic(Path(path), document)


__all__ = [
    "SECTIONS",
    "Report",
    "ReportContext",
    "comparison_section",
    "render_html",
    "write_comparison_page",
    "write_report",
]
