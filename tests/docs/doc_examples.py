"""The documented examples of README.md and docs/*.md, read from their marks.

A fenced block preceded by a mark is an example that the test suite runs as written:

- ``<!-- doc-example -->``: ``aigenbench ...`` command lines (``\\`` continues a line, ``&&``
  chains, ``# ...`` comments are dropped), run in order from one fresh folder per document;
- ``<!-- doc-example file -->``: a file the commands use, named in its first line
  (``# mynets.py``, ``\"\"\"my_method.py: ...``), written into that folder first;
- ``<!-- doc-example: ARGS -->``: commands, with ARGS appended to each ``fit`` after the tiny
  config (e.g. the example's own backbone, which the tiny config would replace).
"""

from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_MARK = re.compile(r"<!--\s*doc-example(?P<file>\s+file)?\s*(?::(?P<args>.*?))?\s*-->")
_FENCE = re.compile(r"```[\w-]*\n(?P<body>.*?)```", re.S)
_FILE_NAME = re.compile(r'^(?:#\s*|"""\s*)(?P<name>[\w./-]+\.(?:py|ya?ml|csv))\b')
_PROMPT = re.compile(r"^(?:\.venv/bin/)?aigenbench\s+")


@dataclass
class Example:
    """One marked block: where it is, and the files or commands it holds."""

    document: Path
    line: int
    files: dict[str, str] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)
    """Each command's arguments after ``aigenbench``."""
    fit_args: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def command_lines(body: str) -> list[str]:
    """The ``aigenbench`` commands of a block: continuations joined, chains split, comments off."""
    joined = re.sub(r"\\\n\s*", " ", body)
    commands: list[str] = []
    for line in joined.splitlines():
        for part in line.removeprefix("$ ").split("&&"):
            words = shlex.split(part, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def examples(document: Path) -> list[Example]:
    """The marked examples of ``document``, in order."""
    text = document.read_text(encoding="utf-8")
    found: list[Example] = []
    for mark in _MARK.finditer(text):
        fence = _FENCE.search(text, mark.end())
        between = text[mark.end() : fence.start()] if fence else ""
        line = text.count("\n", 0, mark.start()) + 1
        if fence is None or between.strip():
            raise ValueError(f"{document.name}:{line}: a doc-example mark must precede a ``` block")
        body = textwrap.dedent(fence.group("body"))
        example = Example(document, line)
        if mark.group("file"):
            name = _FILE_NAME.match(body)
            if name is None:
                raise ValueError(f"{example.where}: a file example names itself in its first line")
            example.files[name.group("name")] = body
        else:
            example.fit_args = shlex.split(mark.group("args") or "")
            for command in command_lines(body):
                prompt = _PROMPT.match(command)
                if prompt is None:
                    raise ValueError(f"{example.where}: not an aigenbench command: {command}")
                example.commands.append(shlex.split(command[prompt.end() :]))
        found.append(example)
    return found
