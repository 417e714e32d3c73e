"""Robustness results: where the sweep writes them, tables, and the AUROC-against-strength curves.

The sweep itself runs models (``aigenbench.training.robustness``); this module only reads its
``robustness.json`` (``runs/<id>/robustness/window_<k>/``) and draws from it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROBUSTNESS_DIR = "robustness"
ROBUSTNESS_FILE = "robustness.json"
CURVES_FILE = "curves.png"
KIND_TITLES = {
    "jpeg": "JPEG quality",
    "resize": "resize factor",
    "blur": "Gaussian blur sigma (px)",
    "noise": "Gaussian noise std (x 255)",
}


def point_file_name(kind: str | None, strength: float | None) -> str:
    """``clean.npz`` or ``<kind>_<strength>.npz`` (e.g. ``jpeg_75.npz``, ``blur_0.5.npz``)."""
    if kind is None or strength is None:
        return "clean.npz"
    return f"{kind}_{strength:g}.npz"


def load_results(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every ``robustness.json`` of an experiment, by window."""
    root = Path(run_dir) / ROBUSTNESS_DIR
    found = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            match = re.fullmatch(r"window_(\d+)", child.name)
            path = child / ROBUSTNESS_FILE
            if match and path.is_file():
                try:
                    found.append(json.loads(path.read_text(encoding="utf-8")))
                except ValueError:
                    continue
    return sorted(found, key=lambda document: int(document.get("window", 0)))


def rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows: kind, strength, then AUROC and AP of each reported subset."""
    flat = []
    for point in [document["clean"], *document["points"]]:
        if point is None:
            continue
        row: dict[str, Any] = {"kind": point["kind"], "strength": point["strength"]}
        for subset in document["subsets"]:
            row[f"{subset}_auroc"] = point[subset]["auroc"]
            row[f"{subset}_ap"] = point[subset]["ap"]
        flat.append(row)
    return flat


def csv_text(document: dict[str, Any]) -> str:
    table = rows(document)
    buffer = io.StringIO()
    if table:
        writer = csv.DictWriter(buffer, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        for row in table:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def curves_figure(document: dict[str, Any]) -> bytes:
    """:func:`curves_plot` as a PNG."""
    from aigenbench.evaluation.plots import _png

    return _png(curves_plot(document))


def curves_plot(document: dict[str, Any]) -> Figure:
    """One panel per kind: AUROC and AP on every evaluation image and the Next AUROC (the
    table's columns) against the strength, the clean AUROC as a dashed line. The axis starts
    at 50 (chance) unless a value is lower."""
    from matplotlib.figure import Figure

    from aigenbench.evaluation.plots import colour_floor

    kinds = list(dict.fromkeys(point["kind"] for point in document["points"]))
    figure = Figure(figsize=(4.2 * max(1, len(kinds)), 3.6), layout="constrained")
    axes_list = figure.subplots(1, max(1, len(kinds)), squeeze=False)[0]
    clean = document.get("clean")
    shown: list[float] = []
    for axes, kind in zip(axes_list, kinds, strict=False):
        points = sorted(
            (p for p in document["points"] if p["kind"] == kind), key=lambda p: p["strength"]
        )
        strengths = [p["strength"] for p in points]
        for subset, key, marker, label in (
            ("all", "auroc", "o", "AUROC all"),
            ("all", "ap", "s", "AP all"),
            ("next", "auroc", "^", "AUROC next"),
        ):
            values = [_percent_or_nan(p.get(subset, {}).get(key)) for p in points]
            if all(v != v for v in values):  # no Next window (the last window's detector)
                continue
            shown += values
            axes.plot(strengths, values, marker=marker, label=label)
        if clean is not None and clean["all"]["auroc"] is not None:
            axes.axhline(
                100 * clean["all"]["auroc"], linestyle="--", color="grey", label="clean AUROC"
            )
        if kind in ("jpeg", "resize"):
            axes.invert_xaxis()  # left to right: milder to harsher
        axes.set_xlabel(KIND_TITLES.get(kind, kind))
        axes.set_ylabel("% (every evaluation image)")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower left", fontsize="small")
        axes.set_title(f"{kind}: window {document['window']}'s detector")
    floor = colour_floor(np.array(shown, dtype=float) / 100) if shown else 50
    for axes in axes_list:
        axes.set_ylim(floor - 1, 101)  # a point at the floor stays visible
    return figure


def _percent_or_nan(value: float | None) -> float:
    return float("nan") if value is None else 100 * value


def write_curves(run_dir: str | os.PathLike[str], document: dict[str, Any]) -> Path:
    """``robustness/window_<k>/curves.png`` of a sweep's document."""
    from aigenbench.files import write_bytes_atomic

    path = Path(run_dir) / ROBUSTNESS_DIR / f"window_{document['window']}" / CURVES_FILE
    return write_bytes_atomic(path, curves_figure(document))
