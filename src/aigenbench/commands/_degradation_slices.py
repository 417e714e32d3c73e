"""``aigenbench evaluate --by_degradation``: AUROC per mandatory-degradation slice, per step."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.table import Table

from aigenbench.evaluation.slices import WindowSlices, slice_titles

NOT_DEFINED = "—"


def _percent(value: float | None) -> str:
    return NOT_DEFINED if value is None else f"{100 * value:.2f}"


def _average(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def slices_table(slices: list[WindowSlices], subset: str) -> Table:
    """Rows: slices; columns: images in the slice (last step), AUROC after each step, average."""
    title = f"AUROC (%) on '{subset}' by the mandatory degradations each image got"
    table = Table(title=title, title_justify="left", min_width=len(title) + 2)
    table.add_column("slice")
    table.add_column("real+fake", justify="right")
    for window in slices:
        table.add_column(f"k={window.window}", justify="right")
    table.add_column("average", justify="right")
    for name, text in slice_titles().items():
        cells = [window.metrics[subset][name] for window in slices]
        aurocs = [None if cell is None else cell.auroc for cell in cells]
        last = next((cell for cell in reversed(cells) if cell is not None), None)
        count = "" if last is None else f"{last.n_real}+{last.n_fake}"
        table.add_row(
            text, count, *[_percent(value) for value in aurocs], _percent(_average(aurocs))
        )
    return table


def slices_json(slices: list[WindowSlices]) -> dict[str, Any]:
    return {"slices": slice_titles(), "per_window": [window.to_json() for window in slices]}


def slices_csv(slices: list[WindowSlices], subset: str | None) -> str:
    """One row per (window, subset, slice); empty cells = not defined."""
    keys = ("auroc", "ap", "accuracy", "n_real", "n_fake")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["window", "subset", "slice", *keys])
    for window in slices:
        for name, per_slice in window.metrics.items():
            if subset is not None and name != subset:
                continue
            for slice_name, metrics in per_slice.items():
                values = {} if metrics is None else metrics.to_dict()
                writer.writerow(
                    [
                        window.window,
                        name,
                        slice_name,
                        *["" if values.get(k) is None else repr(values[k]) for k in keys],
                    ]
                )
    return buffer.getvalue()
