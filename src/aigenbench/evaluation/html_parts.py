"""The pieces report pages are written with: escaped text, numbers, inline images, tables."""

from __future__ import annotations

import base64
import html
from typing import Any


def _e(value: Any) -> str:
    return html.escape(str(value))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.2f}"


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _table(
    header: list[str],
    rows: list[list[str]],
    average: list[str] | None = None,
    left: bool = False,
    wide_last: bool = False,
) -> str:
    """A table; the first column (``left``: every column) left-aligned; ``wide_last``: the last
    column is prose (left-aligned, wrapping)."""

    def cell(tag: str, index: int, text: str, count: int) -> str:
        prose = left or index == 0 or (wide_last and index == count - 1)
        style = ' class="name"' if prose else ""
        return f"<{tag}{style}>{_e(text)}</{tag}>"

    head = "".join(cell("th", i, h, len(header)) for i, h in enumerate(header))
    body = []
    for row in rows:
        body.append(
            "<tr>" + "".join(cell("td", i, c, len(row)) for i, c in enumerate(row)) + "</tr>"
        )
    if average is not None:
        cells = "".join(cell("td", i, c, len(average)) for i, c in enumerate(average))
        body.append(f'<tr class="average">{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
