"""The report's robustness sections: metrics by mandatory degradation, the controlled-degradation
sweeps (``aigenbench robustness``) and the shortcut audit (``aigenbench audit``).

Each section reads what its command left in the run directory and says how to produce it when
it is missing; its template (``templates/report/``) writes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aigenbench.errors import AigenbenchError
from aigenbench.evaluation.experiment import discover_predictions
from aigenbench.evaluation.metrics import RunEvaluation
from aigenbench.evaluation.predictions import load_predictions
from aigenbench.evaluation.robustness import curves_figure, load_results
from aigenbench.evaluation.shortcut import AUDIT_DIR, AUDIT_FILE
from aigenbench.evaluation.slices import experiment_slices, slice_counts, slice_titles
from aigenbench.templating import Markup, percent, render


def robustness_figures(run_dir: Path) -> dict[str, bytes]:
    """The curves of every robustness sweep of the run (``robustness_window_<k>``)."""
    return {
        f"robustness_window_{document['window']}": curves_figure(document)
        for document in load_results(run_dir)
        if document.get("points")
    }


def robustness_sections(
    run_dir: Path, evaluation: RunEvaluation, figures: dict[str, bytes], stage: str
) -> list[Markup]:
    """HTML of the three sections, in order."""
    return [
        degradation_section(run_dir, evaluation, stage),
        sweep_section(run_dir, figures),
        shortcut_section(run_dir),
    ]


def degradation_section(run_dir: Path, evaluation: RunEvaluation, stage: str) -> Markup:
    try:
        files = discover_predictions(run_dir, stage)
        slices = experiment_slices(files, evaluation.options)
        codes = load_predictions(files[max(files)]).degradations
    except AigenbenchError as error:
        return render("report/degradations.html.j2", error=str(error))
    assert codes is not None
    counts = slice_counts(codes)
    rows = []
    for name, title in slice_titles().items():
        values = [w.metrics["all"][name] for w in slices]
        rows.append([title, str(counts[name]), *[percent(v.auroc if v else None) for v in values]])
    return render(
        "report/degradations.html.j2",
        error=None,
        header=["slice", "images", *[f"k={w.window}" for w in slices]],
        rows=rows,
    )


def sweep_section(run_dir: Path, figures: dict[str, bytes]) -> Markup:
    sweeps = []
    for document in load_results(run_dir):
        rows = []
        for point in [document.get("clean"), *document.get("points", [])]:
            if point is None:
                continue
            strength = "" if point["strength"] is None else f"{point['strength']:g}"
            rows.append(
                [
                    point["kind"],
                    strength,
                    percent(point["all"]["auroc"]),
                    percent(point["all"]["ap"]),
                    percent(point["next"]["auroc"]),
                ]
            )
        window = int(document["window"])
        sweeps.append(
            {
                "window": window,
                "figure": figures.get(f"robustness_window_{document['window']}"),
                "rows": rows,
            }
        )
    return render("report/robustness.html.j2", sweeps=sweeps, run_dir=run_dir)


def _read_audit(run_dir: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((run_dir / AUDIT_DIR / AUDIT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def shortcut_section(run_dir: Path) -> Markup:
    document = _read_audit(run_dir)
    if document is None:
        return render("report/shortcut.html.j2", audit=None, run_dir=run_dir)
    headline = document.get("headline", {})
    audit = {
        "shortcut": bool(document.get("shortcut")),
        "verdict": document.get("verdict", ""),
        "rows": [
            [str(row["window"]), *[percent(row.get(k)) for k in ("next", "past", "whole", "all")]]
            for row in document.get("per_window", [])
        ],
        "average": [
            "average",
            *[percent(headline.get(f"{k}_auroc")) for k in ("next", "past", "whole")],
            "",
        ],
        "traits": [
            [name, percent(value)] for name, value in document.get("trait_auroc", {}).items()
        ],
    }
    return render(
        "report/shortcut.html.j2", audit=audit, encoder=_encoder(document.get("encoder") or {})
    )


def _encoder(encoder: dict[str, Any]) -> dict[str, Any] | None:
    """The encoder part of the audit, its pretraining data sets in order of cut-off date."""
    if not encoder:
        return None
    table = sorted(encoder.get("table", []), key=lambda row: (row["cutoff"], row["data"]))
    return {
        "resolved": encoder.get("resolved"),
        "data": encoder.get("data"),
        "cutoff": encoder.get("cutoff"),
        "rows": [
            [
                row["data"] + (" (this run)" if row["this_run"] else ""),
                row["cutoff"],
                f"{row['generators_before_cutoff']} of {row['generators']}",
            ]
            for row in table
        ],
        "flagged": [
            [r["generator"], r["release_date"], str(r["window"]), "yes"]
            for r in encoder.get("generators", [])
            if r["may_have_seen"]
        ],
    }
