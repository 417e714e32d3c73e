"""The README's robustness figures for the demo, printed from the run, and checked against it.

    aigenbench demo && aigenbench robustness runs/demo --window 2
    python benchmarks/readme_figures.py [--runs_dir runs] [--check README.md]

prints the sentence the README quotes (window 2's detector of the deterministic demo under the
controlled degradations); ``--check`` exits 1, naming the figures, when README.md says
otherwise. ``make docs-check`` runs all three.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

WINDOW = 2
# (kind, strength, how the README words it); clean has no strength
FIGURES: list[tuple[str, float | None, str]] = [
    ("clean", None, "{} clean"),
    ("jpeg", 30, "{} at JPEG quality 30"),
    ("resize", 0.5, "{} resized by 0.5"),
    ("blur", 1, "{} under a blur of sigma 1"),
    ("noise", 0.1, "{} under noise of std 0.1 × 255"),
]
QUOTED = re.compile(r"AUROC (\d+\.\d\d clean, .*?× 255)")


def auroc(document: dict[str, Any], kind: str, strength: float | None) -> float:
    points = [document["clean"], *document["points"]]
    for point in points:
        if point["kind"] == kind and (strength is None or point["strength"] == strength):
            return 100 * float(point["all"]["auroc"])
    raise SystemExit(f"robustness.json has no {kind} point at {strength}: run the default sweep")


def sentence(document: dict[str, Any]) -> str:
    """``AUROC 93.10 clean, 84.26 at JPEG quality 30, ...``: the README's words, these numbers."""
    parts = [text.format(f"{auroc(document, kind, s):.2f}") for kind, s, text in FIGURES]
    return "AUROC " + ", ".join(parts)


def stale(readme: str, expected: str) -> str | None:
    """None when the README quotes ``expected``; else what it quotes instead."""
    flat = " ".join(readme.split())
    if expected in flat:
        return None
    quoted = QUOTED.search(flat)
    return quoted.group(0) if quoted else "(no such sentence)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs_dir", default="runs")
    parser.add_argument("--check", metavar="README", default=None)
    args = parser.parse_args(argv)
    path = Path(args.runs_dir) / "demo" / "robustness" / f"window_{WINDOW}" / "robustness.json"
    if not path.is_file():
        print(
            f"{path} is missing: aigenbench robustness runs/demo --window {WINDOW}", file=sys.stderr
        )
        return 2
    expected = sentence(json.loads(path.read_text(encoding="utf-8")))
    print(expected)
    if args.check:
        found = stale(Path(args.check).read_text(encoding="utf-8"), expected)
        if found is not None:
            print(f"{args.check} is stale: it says\n  {found}\nthe demo gives\n  {expected}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
