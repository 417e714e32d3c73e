"""The model card (``README.md`` of an exported folder): YAML metadata and the protocol's results.

Rendered from ``templates/model_card.md.j2`` with Jinja2. Autoescaping for Markdown: every value
a template prints goes through :func:`escape_markdown` (a generator named ``*v2*`` or ``a|b``
cannot break a table or start emphasis); only the YAML header, dumped by PyYAML, is inserted
as is (:class:`Verbatim`).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


class Verbatim(str):
    """Text the template inserts unescaped (made by code, not by a user's names)."""


def escape_markdown(value: Any) -> str:
    """``finalize`` of the card's environment: Markdown's special characters backslashed,
    line breaks made spaces (a value stays in its table cell)."""
    if value is None:
        return "–"
    if isinstance(value, Verbatim):
        return str(value)
    text = str(value).replace("\r", " ").replace("\n", " ")
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def percent(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def interval(bounds: Any) -> str:
    return "–" if bounds is None else f"{100 * bounds[0]:.2f}–{100 * bounds[1]:.2f}"


def _environment() -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("aigenbench.export", "templates"),
        autoescape=False,  # HTML escaping is wrong for Markdown: finalize escapes instead
        finalize=escape_markdown,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = percent
    environment.filters["interval"] = interval
    return environment


def metadata(config: dict[str, Any], window: Any | None) -> dict[str, Any]:
    """The card's YAML header (Hugging Face model-card metadata, ``model-index`` results)."""
    header: dict[str, Any] = {
        "library_name": "aigenbench",
        "pipeline_tag": "image-classification",
        "tags": [
            "aigenbench",
            "ai-generated-image-detection",
            "synthetic-image-detection",
            "image-forensics",
            str(config["method"]),
        ],
        "datasets": ["AI-GenBench"],
        "metrics": ["roc_auc", "average_precision", "accuracy"],
    }
    if window is not None:
        results = [
            {
                "type": "roc_auc",
                "name": f"AUROC {subset} (window {config['window']})",
                "value": round(float(window.subsets[subset].auroc), 6),
            }
            for subset in ("next", "past", "growing", "whole")
            if window.subsets[subset].auroc is not None
        ]
        header["model-index"] = [
            {
                "name": str(config["detector_id"]),
                "results": [
                    {
                        "task": {
                            "type": "image-classification",
                            "name": "AI-generated image detection",
                        },
                        "dataset": {
                            "name": "AI-GenBench",
                            "type": "AI-GenBench",
                            "split": "validation",
                        },
                        "metrics": results,
                    }
                ],
            }
        ]
    return header


def card_context(
    config: dict[str, Any], evaluation: Any | None, window: Any | None
) -> dict[str, Any]:
    """What the template prints: plain values, computed here so the template only lays out."""
    subsets = []
    per_generator = []
    calibration = None
    if window is not None:
        bounds: dict[str, Any] = {}
        if evaluation is not None and evaluation.intervals is not None:
            found = evaluation.intervals.windows.get(window.window)
            bounds = found.subsets if found is not None else {}
        for name in ("next", "past", "growing", "whole"):
            metrics = window.subsets[name]
            subsets.append(
                {
                    "name": name,
                    "auroc": metrics.auroc,
                    "interval": (bounds.get(name) or {}).get("auroc"),
                    "ap": metrics.ap,
                    "accuracy": metrics.accuracy,
                    "n_real": metrics.n_real,
                    "n_fake": metrics.n_fake,
                }
            )
        trained = set(config.get("training", {}).get("generators", []))
        dates = config.get("training", {}).get("release_dates", {})
        windows = config.get("training", {}).get("windows", [])
        window_of = {name: k for k, names in enumerate(windows) for name in names}
        for name, metrics in window.per_generator.items():
            per_generator.append(
                {
                    "name": name,
                    "window": window_of.get(name),
                    "released": dates.get(name),
                    "trained": "yes" if name in trained else "no",
                    "auroc": metrics.auroc,
                    "ap": metrics.ap,
                    "recall": metrics.recall,
                }
            )
        calibration = window.calibration.get("growing")
    return {
        "config": config,
        "header": Verbatim(yaml.safe_dump(metadata(config, window), sort_keys=False).strip()),
        "subsets": subsets,
        "per_generator": per_generator,
        "calibration": calibration,
        "training": config.get("training") or {},
        "transform": config["transform"],
        "thresholds": config["thresholds"],
        "threshold": config["threshold"],
    }


def render_card(config: dict[str, Any], evaluation: Any | None, window: Any | None) -> str:
    """The model card's Markdown."""
    template = _environment().get_template("model_card.md.j2")
    return template.render(**card_context(config, evaluation, window))
