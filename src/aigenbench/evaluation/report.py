"""``report.html``: one self-contained page (PNG figures inlined as base64, inline CSS, no
JavaScript, nothing fetched) with the experiment's metrics, plus the PNGs in ``plots/``.

Each section gathers its numbers here and is written by its Jinja2 template
(``aigenbench/templates/report/``, autoescaped)."""

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
from aigenbench.templating import Markup, percent, render, signed

DATA_SUMMARY_FILE = "data_summary.json"
CONFIG_FILE = "config.yaml"
PROBLEM_WORDS = ("unreadable", "invalid", "corrupt", "missing", "error", "failed")


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


def _config_section(run_dir: Path) -> Markup:
    for candidate in (run_dir / CONFIG_FILE, run_dir / "window_0" / CONFIG_FILE):
        text = _read_text(candidate)
        if text is not None:
            return render("report/config.html.j2", path=candidate, text=text)
    return render("report/config.html.j2", text=None, name=CONFIG_FILE, run_dir=run_dir)


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


def _data_section(run_dir: Path, evaluation: RunEvaluation) -> Markup:
    invalid = [[str(w.window), str(w.n_invalid)] for w in evaluation.windows if w.n_invalid]
    summaries = _data_summary(run_dir)
    problems = [
        [f"{name}: {key}", _value_text(value)]
        for name, content in summaries.items()
        for key, value in _problems(content)
    ]
    return render(
        "report/data.html.j2",
        invalid=invalid,
        problems=problems,
        summaries=[(run_dir / name, _summary_rows(c)) for name, c in summaries.items()],
        summary_file=SUMMARY_FILE,
        data_summary_file=DATA_SUMMARY_FILE,
        run_dir=run_dir,
    )


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


def summary_section(ctx: ReportContext) -> Markup:
    evaluation = ctx.evaluation
    headline_cells = [
        (
            name.split("_")[0].capitalize(),
            _with_interval(value, _cell_bounds(ctx, None, name.split("_")[0])),
        )
        for name, value in headline(evaluation).items()
    ]
    transfer = evaluation.transfer
    transfer_rows = []
    if transfer is not None and transfer.final_step is not None:
        for title, key, definition in TRANSFER_DEFINITIONS:
            value = getattr(transfer, key)
            text = percent(value) if key == "final_average" else signed(value)
            transfer_rows.append([title, text, definition])
    return render(
        "report/summary.html.j2",
        headline=headline_cells,
        interval_text=(
            None if evaluation.intervals is None else _interval_text(evaluation.intervals)
        ),
        transfer_rows=transfer_rows,
        notes=evaluation.notes,
        warnings=_run_warnings(ctx.run_dir),
    )


def _run_warnings(run_dir: Path) -> list[str]:
    """The warnings ``fit`` recorded about the run's settings (summary.json's ``warnings``)."""
    content = _data_summary(run_dir).get(SUMMARY_FILE)
    warnings = content.get("warnings") if isinstance(content, dict) else None
    return [str(warning) for warning in warnings] if isinstance(warnings, list) else []


def _interval_text(intervals: Any) -> str:
    options = intervals.options
    level = f"{100 * options.confidence:g}%"
    if options.method == "delong":
        return f"{level} DeLong intervals of AUROC (analytic)"
    return (
        f"{level} percentile intervals, stratified paired bootstrap per generator, "
        f"{options.resamples} resamples, seed {options.seed}"
    )


def over_time_section(ctx: ReportContext) -> Markup:
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
    return render(
        "report/over_time.html.j2",
        figure=ctx.figures["auroc_over_time"],
        header=["step", *[s.capitalize() for s in SUBSETS], "images"],
        rows=rows,
        average=average,
    )


def matrix_section(ctx: ReportContext) -> Markup:
    return render("report/matrix.html.j2", figure=ctx.figures["matrix"])


def generators_section(ctx: ReportContext) -> Markup:
    evaluation = ctx.evaluation
    rows = [
        [name, str(index), *[percent(w.per_generator[name].auroc) for w in evaluation.windows]]
        for index, names in enumerate(evaluation.timeline)
        for name in names
    ]
    return render(
        "report/generators.html.j2",
        figure=ctx.figures["generators"],
        header=["generator", "window", *[f"k={w.window}" for w in evaluation.windows]],
        rows=rows,
    )


def curves_section(ctx: ReportContext) -> Markup:
    if "roc" not in ctx.figures:
        return Markup()
    last = ctx.evaluation.windows[-1].window
    return render(
        "report/curves.html.j2",
        step=last,
        # The last window of the protocol has no next one: say why the Next curve is missing.
        last_step=last == ctx.evaluation.n_windows - 1,
        figures=ctx.figures,
    )


def calibration_section(ctx: ReportContext) -> Markup:
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
                    *[percent(values.tpr_at_fpr[fpr_key(t)]) for t in FPR_TARGETS],
                    "—" if values.brier is None else f"{values.brier:.4f}",
                    percent(values.ece),
                ]
            )
    header = [
        "step",
        "subset",
        *[f"TPR@FPR {100 * t:g}%" for t in FPR_TARGETS],
        "Brier (0–1)",
        "ECE (%)",
    ]
    return render(
        "report/calibration.html.j2",
        reliability=ctx.figures.get("reliability"),
        header=header,
        rows=rows,
    )


def threshold_section(ctx: ReportContext) -> Markup:
    items = ctx.evaluation.threshold_transfer
    if not items:
        return Markup()
    rows = []
    for item in items:
        rule = "best F1" if item.rule == "best_f1" else f"FPR ≤ {100 * (item.target_fpr or 0):g}%"
        rows.append(
            [
                str(item.step),
                rule,
                f"{item.transferred.threshold:.3f}",
                f"{percent(item.transferred.tpr)} / {percent(item.transferred.fpr)}",
                f"{item.oracle.threshold:.3f}",
                f"{percent(item.oracle.tpr)} / {percent(item.oracle.fpr)}",
                f"{percent(item.fixed.tpr)} / {percent(item.fixed.fpr)}",
            ]
        )
    return render(
        "report/thresholds.html.j2", threshold=f"{ctx.evaluation.options.threshold:g}", rows=rows
    )


def metrics_section(ctx: ReportContext) -> Markup:
    evaluation = ctx.evaluation
    keys = (*METRIC_KEYS, "n_real", "n_fake")
    subsets = []
    for name in SUBSETS:
        rows = []
        for w in evaluation.windows:
            values = w.subsets[name].to_dict()
            rows.append([str(w.window), *[_format(key, values[key]) for key in keys]])
        average = ["average"] + [
            "" if key in NOT_AVERAGED else _format(key, evaluation.averages[name][key])
            for key in keys
        ]
        subsets.append(
            {"title": name.capitalize(), "rows": rows, "average": average, "open": name == "next"}
        )
    return render(
        "report/metrics.html.j2",
        threshold=f"{evaluation.options.threshold:g}",
        header=["step", *[COLUMN_TITLES.get(k, k) for k in keys]],
        subsets=subsets,
    )


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


def comparison_report_section(ctx: ReportContext) -> Markup:
    return Markup() if ctx.comparison is None else comparison_section(ctx.comparison)


def robustness_report_section(ctx: ReportContext) -> Markup:
    """Degradation slices, robustness sweeps and the shortcut audit (``report_robustness``)."""
    from aigenbench.evaluation.report_robustness import robustness_sections

    sections = robustness_sections(ctx.run_dir, ctx.evaluation, ctx.figures, ctx.stage)
    return Markup("\n").join(sections)


def config_section(ctx: ReportContext) -> Markup:
    return _config_section(ctx.run_dir)


def data_section(ctx: ReportContext) -> Markup:
    return _data_section(ctx.run_dir, ctx.evaluation)


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
(``Markup``, from its template; empty to leave itself out). Add a section by adding a function
here and its template under ``templates/report/``."""


def _contents(sections: list[Markup]) -> list[tuple[str, str]]:
    """(anchor, heading) of every ``<h2>`` of the sections, for the page's table of contents."""
    import re

    return re.findall(r'<h2 id="([^"]+)">(.*?)</h2>', "\n".join(sections))


def render_html(
    run_dir: Path,
    evaluation: RunEvaluation,
    figures: dict[str, bytes],
    stage: str,
    comparison: Any = None,
) -> str:
    ctx = ReportContext(run_dir, evaluation, figures, stage, comparison)
    sections = [part for section in SECTIONS if (part := section(ctx))]
    subtitle = (
        f"{run_dir.resolve()} · stage {stage} · threshold {evaluation.options.threshold} · "
        f"{len(evaluation.windows)} of {evaluation.n_windows} windows evaluated · "
        f"aigenbench {__version__} · {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )
    return render(
        "report/page.html.j2",
        title=f"aigenbench report: {run_dir.resolve().name}",
        subtitle=subtitle,
        # Headings come from our templates, already escaped: shown as they are.
        contents=[(anchor, Markup(heading)) for anchor, heading in _contents(sections)],
        sections=sections,
    )


def _format(key: str, value: float | int | None) -> str:
    if value is None:
        return "—"
    if key in ("n_real", "n_fake"):
        return f"{value:.0f}"
    if key == "best_f1_threshold":
        return f"{value:.3f}"
    return percent(float(value))


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
        return percent(value)
    return f"{percent(value)} ({100 * bounds[0]:.1f}–{100 * bounds[1]:.1f})"


def _p_value(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def comparison_section(comparison: Any) -> Markup:
    """The leaderboard of :func:`~aigenbench.evaluation.compare.compare_runs`, its forest plot,
    the paired tests and the seed groups, as HTML."""
    from aigenbench.evaluation.compare import METRIC_TITLES
    from aigenbench.evaluation.plots import comparison_figure

    runs = comparison.runs
    keys = list(METRIC_TITLES)
    figure = comparison_figure(
        [r.name for r in runs],
        [r.values["next_auroc"] for r in runs],
        [r.bounds["next_auroc"] for r in runs],
    )
    rows = [
        [str(rank), run.name, *[_with_interval(run.values[k], run.bounds[k]) for k in keys]]
        for rank, run in enumerate(runs, 1)
    ]
    pair_rows = []
    for pair in comparison.pairs:
        delta = "—" if pair.difference is None else f"{100 * pair.difference:+.2f}"
        interval = (
            "—"
            if pair.bounds is None
            else f"{100 * pair.bounds[0]:+.2f} … {100 * pair.bounds[1]:+.2f}"
        )
        pair_rows.append(
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
    seed_groups = [
        {
            "runs": group.runs,
            "rows": [
                [
                    METRIC_TITLES[key],
                    percent(group.mean[key]),
                    "—" if group.std[key] is None else f"{100 * group.std[key]:.2f}",
                ]
                for key in METRIC_TITLES
            ],
        }
        for group in comparison.seed_groups
    ]
    return render(
        "report/comparison.html.j2",
        figure=figure,
        header=["rank", "run", *METRIC_TITLES.values()],
        rows=rows,
        pair_rows=pair_rows,
        seed_groups=seed_groups,
        warnings=getattr(comparison, "warnings", []),
        notes=comparison.notes,
    )


def write_comparison_page(comparison: Any, path: str | os.PathLike[str]) -> Path:
    """A self-contained page with :func:`comparison_section`."""
    document = render(
        "report/page.html.j2",
        title="aigenbench comparison: " + ", ".join(r.name for r in comparison.runs),
        subtitle=None,
        contents=[],
        sections=[comparison_section(comparison)],
    )
    return write_text_atomic(Path(path), document)
