"""README figures against their script (benchmarks/readme_figures.py, run by
``make docs-check`` on the demo): a figure that no longer matches is flagged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[2]
spec = importlib.util.spec_from_file_location(
    "readme_figures", ROOT / "benchmarks" / "readme_figures.py"
)
assert spec and spec.loader
figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(figures)


def document(values: dict[str, float]) -> dict:
    """A robustness.json with the README's points at ``values`` (AUROC in %)."""
    point = lambda kind, strength: {  # noqa: E731
        "kind": kind,
        "strength": strength,
        "all": {"auroc": values[kind] / 100},
    }
    return {
        "clean": point("clean", None),
        "points": [point(kind, strength) for kind, strength, _ in figures.FIGURES[1:]],
    }


def readme_values() -> dict[str, float]:
    quoted = figures.QUOTED.search(" ".join((ROOT / "README.md").read_text().split()))
    assert quoted, "the README quotes the demo's robustness figures"
    numbers = [float(n) for n in __import__("re").findall(r"\d+\.\d\d", quoted.group(0))]
    return dict(zip([kind for kind, _, _ in figures.FIGURES], numbers, strict=True))


def test_the_readme_sentence_is_the_scripts_words():
    readme = (ROOT / "README.md").read_text()
    values = readme_values()
    assert figures.stale(readme, figures.sentence(document(values))) is None


def test_a_figure_that_changed_is_flagged(tmp_path):
    readme = (ROOT / "README.md").read_text()
    values = readme_values()
    values["blur"] += 1.0
    expected = figures.sentence(document(values))
    assert figures.stale(readme, expected) is not None
    runs = tmp_path / "runs" / "demo" / "robustness" / "window_2"
    runs.mkdir(parents=True)
    import json

    (runs / "robustness.json").write_text(json.dumps(document(values)))
    (tmp_path / "README.md").write_text(readme)
    code = figures.main(
        ["--runs_dir", str(tmp_path / "runs"), "--check", str(tmp_path / "README.md")]
    )
    assert code == 1
