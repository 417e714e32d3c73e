"""The report's robustness sections: metrics by mandatory degradation, the controlled-degradation
sweeps (``aigenbench robustness``) and the shortcut audit (``aigenbench audit``).

Each section reads what its command left in the run directory and says how to produce it when
it is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aigenbench.errors import AigenbenchError
from aigenbench.evaluation.experiment import discover_predictions
from aigenbench.evaluation.html_parts import _e, _image, _percent, _table
from aigenbench.evaluation.metrics import RunEvaluation
from aigenbench.evaluation.predictions import load_predictions
from aigenbench.evaluation.robustness import curves_figure, load_results
from aigenbench.evaluation.shortcut import AUDIT_DIR, AUDIT_FILE
from aigenbench.evaluation.slices import experiment_slices, slice_counts, slice_titles


def robustness_figures(run_dir: Path) -> dict[str, bytes]:
    """The curves of every robustness sweep of the run (``robustness_window_<k>``)."""
    return {
        f"robustness_window_{document['window']}": curves_figure(document)
        for document in load_results(run_dir)
        if document.get("points")
    }


def robustness_sections(
    run_dir: Path, evaluation: RunEvaluation, figures: dict[str, bytes], stage: str
) -> list[str]:
    """HTML of the three sections, in order."""
    return [
        *degradation_section(run_dir, evaluation, stage),
        *sweep_section(run_dir, figures),
        *shortcut_section(run_dir),
    ]


def degradation_section(run_dir: Path, evaluation: RunEvaluation, stage: str) -> list[str]:
    parts = ['<h2 id="degradations">AUROC by mandatory degradation</h2>']
    try:
        files = discover_predictions(run_dir, stage)
        slices = experiment_slices(files, evaluation.options)
        codes = load_predictions(files[max(files)]).degradations
    except AigenbenchError as error:
        parts.append(f'<p class="muted">Not available: {_e(error)}</p>')
        return parts
    assert codes is not None
    parts.append(
        "<p>Every evaluation image gets the protocol's random degradations (grayscale, JPEG, "
        "noise, JPEG, resized crop, JPEG), drawn from its ID alone and recorded in the "
        "predictions files. AUROC on all windows' images (the fakes and their paired reals) "
        "that got each one; a slice far below the others is a weakness.</p>"
    )
    counts = slice_counts(codes)
    rows = []
    for name, title in slice_titles().items():
        values = [w.metrics["all"][name] for w in slices]
        rows.append([title, str(counts[name]), *[_percent(v.auroc if v else None) for v in values]])
    parts.append(_table(["slice", "images", *[f"k={w.window}" for w in slices]], rows))
    return parts


def sweep_section(run_dir: Path, figures: dict[str, bytes]) -> list[str]:
    parts = ['<h2 id="robustness">Robustness to controlled degradations</h2>']
    documents = load_results(run_dir)
    if not documents:
        parts.append(
            '<p class="muted">No sweep yet: <code>aigenbench robustness '
            f"{_e(run_dir)}</code> scores the final detector under JPEG, resize, blur and "
            "noise of increasing strength.</p>"
        )
        return parts
    parts.append(
        "<p>A window's detector on the whole evaluation set under one degradation at a time, "
        "with the protocol's own degradations off; the clean point has none.</p>"
    )
    for document in documents:
        key = f"robustness_window_{document['window']}"
        parts.append(f"<h3>Window {int(document['window'])}'s detector</h3>")
        if key in figures:
            parts.append(_image(figures[key], f"robustness curves of window {document['window']}"))
        rows = []
        for point in [document.get("clean"), *document.get("points", [])]:
            if point is None:
                continue
            strength = "" if point["strength"] is None else f"{point['strength']:g}"
            rows.append(
                [
                    point["kind"],
                    strength,
                    _percent(point["all"]["auroc"]),
                    _percent(point["all"]["ap"]),
                    _percent(point["next"]["auroc"]),
                ]
            )
        parts.append(_table(["degradation", "strength", "AUROC all", "AP all", "AUROC next"], rows))
    return parts


def _read_audit(run_dir: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((run_dir / AUDIT_DIR / AUDIT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def shortcut_section(run_dir: Path) -> list[str]:
    parts = ['<h2 id="shortcut">Shortcut audit</h2>']
    document = _read_audit(run_dir)
    if document is None:
        parts.append(
            f'<p class="muted">No audit yet: <code>aigenbench audit {_e(run_dir)}</code> tests '
            "whether file formats, JPEG qualities and sizes alone separate fakes from reals, "
            "and checks the encoder's pretraining cut-off against the generators.</p>"
        )
        return parts
    css = "note" if document.get("shortcut") else "headline"
    parts.append(f'<p class="{css}"><b>{_e(document.get("verdict", ""))}</b></p>')
    parts.append(
        "<p>A classifier on file-level traits only (no pixel), trained per window on the "
        "window's training rows and scored on the evaluation set like any detector.</p>"
    )
    rows = [
        [str(row["window"]), *[_percent(row.get(k)) for k in ("next", "past", "whole", "all")]]
        for row in document.get("per_window", [])
    ]
    headline = document.get("headline", {})
    parts.append(
        _table(
            ["step", "Next", "Past", "Whole", "All"],
            rows,
            [
                "average",
                *[_percent(headline.get(f"{k}_auroc")) for k in ("next", "past", "whole")],
                "",
            ],
        )
    )
    traits = [[name, _percent(value)] for name, value in document.get("trait_auroc", {}).items()]
    parts.append(
        "<p>Each trait alone (AUROC 50: no information; far from 50 either way: the trait "
        "separates the classes):</p>" + _table(["trait", "AUROC (%)"], traits)
    )
    parts += _encoder_part(document.get("encoder") or {})
    return parts


def _encoder_part(encoder: dict[str, Any]) -> list[str]:
    if not encoder:
        return []
    parts = [
        "<h3>Pretraining data against the timeline</h3>",
        f"<p>This run's encoder: <code>{_e(encoder.get('resolved'))}</code>"
        + (
            f", pretrained on {_e(encoder['data'])} (images up to {_e(encoder['cutoff'])} at "
            "most). A generator released before that date may have images in the encoder's "
            "pretraining data, so its Next-period numbers are not a clean test of the "
            "future.</p>"
            if encoder.get("data")
            else ": no known pretraining data (not pretrained, or not in the table).</p>"
        ),
    ]
    rows = [
        [
            row["data"] + (" (this run)" if row["this_run"] else ""),
            row["cutoff"],
            f"{row['generators_before_cutoff']} of {row['generators']}",
        ]
        for row in encoder.get("table", [])
    ]
    parts.append(_table(["pretraining data", "cut-off (upper bound)", "released before"], rows))
    flagged = [row for row in encoder.get("generators", []) if row["may_have_seen"]]
    if flagged:
        parts.append(
            _table(
                ["generator", "release", "window", "may have been seen"],
                [[r["generator"], r["release_date"], str(r["window"]), "yes"] for r in flagged],
            )
        )
    return parts
