"""``report.html``: one self-contained page (PNG figures inlined as base64, inline CSS, no
JavaScript, nothing fetched) with the experiment's metrics, plus the PNGs in ``plots/``."""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aigenbench import __version__
from aigenbench.evaluation.binary import METRIC_KEYS
from aigenbench.evaluation.experiment import (
    SUMMARY_FILE,
    SUMMARY_KEY,
    discover_predictions,
    headline,
)
from aigenbench.evaluation.metrics import (
    SUBSETS,
    EvaluationOptions,
    RunEvaluation,
    ScoredImages,
    SubsetSelector,
    evaluate_files,
    subset_windows,
)
from aigenbench.evaluation.plots import (
    Curve,
    auroc_over_time,
    det_figure,
    generator_heatmap,
    matrix_heatmap,
    pr_figure,
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


def _e(value: Any) -> str:
    return html.escape(str(value))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.2f}"


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _table(header: list[str], rows: list[list[str]], average: list[str] | None = None) -> str:
    head = "".join(
        f'<th class="name">{_e(h)}</th>' if i == 0 else f"<th>{_e(h)}</th>"
        for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="name">{_e(c)}</td>' if i == 0 else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    if average is not None:
        cells = "".join(
            f'<td class="name">{_e(c)}</td>' if i == 0 else f"<td>{_e(c)}</td>"
            for i, c in enumerate(average)
        )
        body.append(f'<tr class="average">{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


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
        rows = [
            [key, json.dumps(value) if not isinstance(value, str) else value]
            for key, value in problems
        ]
        parts.append(_table(["reported problem", "value"], rows))
    for name, content in summaries.items():
        parts.append(
            f'<p class="muted">{_e(run_dir / name)}</p>'
            f"<pre>{_e(json.dumps(content, indent=2, default=str))}</pre>"
        )
    if not summaries:
        parts.append(
            f'<p class="muted">No data summary ({SUMMARY_FILE} or {DATA_SUMMARY_FILE}) '
            f"in {_e(run_dir)}.</p>"
        )
    return "".join(parts)


def render_html(
    run_dir: Path,
    evaluation: RunEvaluation,
    figures: dict[str, bytes],
    stage: str,
) -> str:
    averages = evaluation.averages
    top = headline(evaluation)
    transfer = evaluation.transfer
    title = f"aigenbench report: {run_dir.resolve().name}"
    sections = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{_e(run_dir.resolve())} · stage {_e(stage)} · threshold '
        f"{evaluation.options.threshold} · {len(evaluation.windows)} of {evaluation.n_windows} "
        f"windows evaluated · aigenbench {__version__} · "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>",
        '<h2 id="summary">Summary</h2>',
        '<p class="headline">AUROC averaged over time: '
        + ", ".join(
            f"<b>{_e(name.split('_')[0].capitalize())} {_percent(value)}</b>"
            for name, value in top.items()
        )
        + "</p>",
    ]
    if transfer is not None and transfer.final_step is not None:
        sections.append(
            _table(
                ["after the last step", "value (AUROC points)"],
                [
                    ["final average AUROC (%)", _percent(transfer.final_average)],
                    ["backward transfer", _signed(transfer.backward_transfer)],
                    ["forgetting", _signed(transfer.forgetting)],
                    ["forward transfer (vs. chance 50)", _signed(transfer.forward_transfer)],
                ],
            )
        )
    sections += [f'<p class="note">Note: {_e(note)}</p>' for note in evaluation.notes]

    sections.append('<h2 id="over-time">AUROC over time</h2>')
    sections.append(_image(figures["auroc_over_time"], "AUROC over time per subset"))
    rows = [
        [str(w.window), *[_percent(w.subsets[s].auroc) for s in SUBSETS], str(w.n_images)]
        for w in evaluation.windows
    ]
    sections.append(
        _table(
            ["step", *[s.capitalize() for s in SUBSETS], "images"],
            rows,
            ["average", *[_percent(averages[s]["auroc"]) for s in SUBSETS], ""],
        )
    )

    sections.append('<h2 id="matrix">Window × window AUROC</h2>')
    sections.append(
        "<p>Row k: the detector after training step k; column j: the fakes of window j's "
        "generators and the reals paired with them. Below the diagonal: the past; above: "
        "the future.</p>"
    )
    sections.append(_image(figures["matrix"], "window x window AUROC heatmap"))

    sections.append('<h2 id="generators">Per-generator AUROC</h2>')
    sections.append(_image(figures["generators"], "per-generator AUROC heatmap"))
    generator_rows = [
        [name, str(index), *[_percent(w.per_generator[name].auroc) for w in evaluation.windows]]
        for index, names in enumerate(evaluation.timeline)
        for name in names
    ]
    sections.append(
        _table(
            ["generator", "window", *[f"k={w.window}" for w in evaluation.windows]], generator_rows
        )
    )

    if "roc" in figures:
        last = evaluation.windows[-1].window
        sections.append(f'<h2 id="curves">ROC, precision–recall and DET curves (step {last})</h2>')
        sections.append(
            '<div class="figures">'
            + _image(figures["roc"], "ROC curve")
            + _image(figures["pr"], "precision-recall curve")
            + _image(figures["det"], "DET curve")
            + "</div>"
        )

    sections.append('<h2 id="metrics">All metrics per subset</h2>')
    keys = (*METRIC_KEYS, "n_real", "n_fake")
    for name in SUBSETS:
        rows = []
        for w in evaluation.windows:
            values = w.subsets[name].to_dict()
            rows.append([str(w.window), *[_format(key, values[key]) for key in keys]])
        sections.append(f"<h3>{_e(name.capitalize())}</h3>")
        sections.append(
            _table(
                ["step", *keys],
                rows,
                ["average", *[_format(key, averages[name][key]) for key in keys]],
            )
        )

    sections.append('<h2 id="config">Configuration</h2>')
    sections.append(_config_section(run_dir))
    sections.append('<h2 id="data">Data summary</h2>')
    sections.append(_data_section(run_dir, evaluation))

    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
        "</body>\n</html>\n"
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
) -> Report:
    """Evaluate ``run_dir`` and write ``report.html`` (default in ``run_dir``) and its PNGs
    into ``plots/`` beside it."""
    run_dir = Path(run_dir)
    options = options or EvaluationOptions()
    files = discover_predictions(run_dir, stage)
    evaluation = evaluate_files(files, options)
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

    plots_dir.mkdir(parents=True, exist_ok=True)
    plot_paths = []
    for name, png in figures.items():
        path = plots_dir / f"{name}.png"
        write_bytes_atomic(path, png)
        plot_paths.append(path)
    document = render_html(run_dir, evaluation, figures, stage)
    write_text_atomic(html_path, document)
    return Report(html_path=html_path, plot_paths=plot_paths, evaluation=evaluation)


__all__ = ["Report", "render_html", "write_report"]


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
