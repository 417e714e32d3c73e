"""Warnings about a run's settings, kept with its results: said on the console, written as a
comment at the top of ``config.yaml``, listed in ``summary.json`` and shown in the report."""

from __future__ import annotations

import textwrap
from typing import Any

PRETRAINED_METHODS = frozenset({"univfd", "rine", "effort", "cnndetection"})
"""Methods defined on a pretrained encoder (their papers' point is what it already knows)."""


def random_weights_warning(model: Any) -> str | None:
    """A sentence when the backbone starts from random weights where the method or freezing
    mode expects pretrained ones (``--config demo --config methods/univfd`` inherits the demo's
    ``pretrained: false``: a frozen random ViT-L/14 probed)."""
    if getattr(model, "pretrained", True) is not False:
        return None
    method = str(getattr(model, "method", "default"))
    freezing = str(getattr(model, "freezing", "tune"))
    if method in PRETRAINED_METHODS:
        why = f"method {method} is built on a pretrained encoder"
    elif freezing in ("probe", "staged", "lora"):
        why = f"freezing {freezing} keeps the backbone (or most of it) as it starts"
    else:
        return None
    return (
        f"model.pretrained is false: {model.backbone} starts from random weights, but {why}; "
        "set --model.pretrained true (or drop the config that turns it off) for the real thing"
    )


def run_warnings(model: Any) -> list[str]:
    """Every warning about these settings (empty: none)."""
    return [warning for warning in (random_weights_warning(model),) if warning]


def as_yaml_comment(warnings: list[str]) -> str:
    """The warnings as ``# warning: ...`` lines for the top of a YAML file (a comment: the
    parsed settings, and so the settings hash, are the same with or without it)."""
    lines = []
    for warning in warnings:
        lines += textwrap.wrap(
            f"warning: {warning}", width=93, initial_indent="# ", subsequent_indent="#   "
        )
    return "".join(f"{line}\n" for line in lines)
