"""HTML from Jinja2 templates (``aigenbench/templates``), autoescaped: the report, the comparison
page and the scoring service's page. Text is escaped unless a template marks it safe, so a
generator name, a path or a config comment never becomes markup."""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup


def percent(value: float | None) -> str:
    """A fraction as a percentage with two decimals; ``—`` when there is none."""
    return "—" if value is None else f"{100 * value:.2f}"


def signed(value: float | None) -> str:
    """A difference of fractions in signed points; ``—`` when there is none."""
    return "—" if value is None else f"{100 * value:+.2f}"


def png_data_uri(png: bytes) -> str:
    """An inline ``data:`` URI, so a page needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aigenbench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(percent=percent, signed=signed, png_data_uri=png_data_uri)
    return env


def render(template: str, /, **context: Any) -> Markup:
    """The ``template`` rendered with ``context`` (escaped HTML, safe to nest)."""
    return Markup(environment().get_template(template).render(**context))


__all__ = ["Markup", "environment", "percent", "png_data_uri", "render", "signed"]
