"""Every marked example of README.md and docs/*.md runs as written (tests/docs/doc_examples.py
says how blocks are marked), from a fresh folder per document, on a tiny synthetic benchmark:
``/data/ai_gen_bench...`` is that benchmark, ``photos/`` holds two images, and each ``fit``
gets ``--config tests/docs/tiny.yaml`` appended (a tiny random backbone, one CPU process)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigenbench.cli import main

from .doc_examples import DOCUMENTS, Example, examples

TINY = Path(__file__).parent / "tiny.yaml"
DATASET = re.compile(r"/data/ai_gen_bench[\w.]*")
MARKED = [document for document in DOCUMENTS if examples(document)]


def test_the_readme_and_the_methods_guide_have_marked_examples():
    names = {document.name for document in MARKED}
    assert {"README.md", "METHODS.md"} <= names


def tiny_args(example: Example, args: list[str], dataset: Path) -> list[str]:
    args = [DATASET.sub(str(dataset), arg) for arg in args]
    if args[:1] == ["fit"]:
        args += ["--config", str(TINY), *example.fit_args]
    return args


def make_photos(folder: Path) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), np.uint8)).save(folder / name)


EXAMPLES = [example for document in MARKED for example in examples(document)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """One fresh folder per document, shared by its examples (run in order): a later example
    uses what an earlier one made (``evaluate runs/dino1`` after its ``fit``)."""
    made: dict[Path, Path] = {}
    for document in MARKED:
        made[document] = tmp_path_factory.mktemp(document.stem)
        make_photos(made[document] / "photos")
    return made


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.where)
def test_every_marked_example_runs_as_written(
    example: Example, folders, tiny_benchmark, monkeypatch, capsys
):
    folder = folders[example.document]
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the console script adds the folder
    for name, text in example.files.items():
        (folder / name).write_text(text)
    for command in example.commands:
        args = tiny_args(example, command, tiny_benchmark)
        monkeypatch.setattr(sys, "argv", ["aigenbench", *args])
        code = main()  # as the console script runs it: no argv given
        err = capsys.readouterr().err
        assert code == 0, (
            f"{example.where}: `aigenbench {' '.join(command)}` exited {code}:\n{err[-3000:]}"
        )


def test_a_broken_example_is_named_with_its_place(tmp_path):
    document = tmp_path / "GUIDE.md"
    document.write_text(
        "Intro.\n\n<!-- doc-example -->\n```bash\naigenbench windows \\\n  --per_window 4\n"
        "make demo\n```\n"
    )
    with pytest.raises(ValueError, match=r"GUIDE.md:3: not an aigenbench command: make demo"):
        examples_of(document)


def examples_of(document: Path) -> list[Example]:
    import tests.docs.doc_examples as module

    original = module.ROOT
    module.ROOT = document.parent
    try:
        return examples(document)
    finally:
        module.ROOT = original


def test_marks_read_commands_files_and_fit_arguments(tmp_path):
    document = tmp_path / "GUIDE.md"
    document.write_text(
        "<!-- doc-example file -->\n  ```python\n  # mynets.py\n  x = 1\n  ```\n"
        "<!-- doc-example: --model.backbone mynet:wide -->\n```bash\n"
        "$ aigenbench fit --config a \\\n    --dataset /data/ai_gen_bench  # the data\n"
        "aigenbench bundle runs/x -o x.zip && aigenbench verify x.zip\n```\n"
    )
    file_example, command_example = examples_of(document)
    assert file_example.files == {"mynets.py": "# mynets.py\nx = 1\n"}
    assert command_example.commands == [
        ["fit", "--config", "a", "--dataset", "/data/ai_gen_bench"],
        ["bundle", "runs/x", "-o", "x.zip"],
        ["verify", "x.zip"],
    ]
    assert tiny_args(command_example, command_example.commands[0], Path("/tiny")) == [
        "fit", "--config", "a", "--dataset", "/tiny", "--config", str(TINY),
        "--model.backbone", "mynet:wide",
    ]  # fmt: skip
