"""Sources: the official DatasetDict on disk, image folders and manifests behind one interface."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import datasets
import numpy as np
import pytest

from aigenbench.data.decode import decode_image
from aigenbench.data.sources import (
    FolderSource,
    HFDiskSource,
    ManifestSource,
    open_source,
)
from aigenbench.errors import DataError
from tests.data.data_helpers import encode, random_image

# (split, generator, seed): 2 reals + 2 fakes of 'GenA' + 1 of 'GenB' per split
ROWS = [
    (split, generator, seed)
    for split in ("train", "validation")
    for generator, seed in [("", 1), ("", 2), ("GenA", 3), ("GenA", 4), ("GenB", 5)]
]


def _pixels(seed: int) -> np.ndarray:
    return random_image(6, 8, seed=seed)


def _write_folder(root: Path) -> None:
    for split, generator, seed in ROWS:
        folder = root / split / (generator or "real")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img_{seed}.png").write_bytes(encode(_pixels(seed)))


def _write_manifest(root: Path, suffix: str) -> Path:
    images = root / "images"
    images.mkdir(parents=True)
    records = []
    for index, (split, generator, seed) in enumerate(ROWS):
        name = f"{index:02d}.png"
        (images / name).write_bytes(encode(_pixels(seed)))
        records.append(
            {
                "path": f"images/{name}",
                "label": 0 if not generator else 1,
                "generator": generator,
                "split": split,
            }
        )
    manifest = root / f"manifest{suffix}"
    if suffix == ".csv":
        lines = ["path,label,generator,split"]
        lines += [f"{r['path']},{r['label']},{r['generator']},{r['split']}" for r in records]
        manifest.write_text("\n".join(lines) + "\n")
    else:
        manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    return manifest


def _write_hf(root: Path, splits=("train", "validation"), generator_type="string") -> Path:
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.Value("int64"),
            "generator": datasets.Value(generator_type),
        }
    )
    dataset_dict = {}
    for split in splits:
        rows = [row for row in ROWS if row[0] == split]
        columns = {
            "image": [{"bytes": encode(_pixels(seed)), "path": None} for _, _, seed in rows],
            "label": [0 if not generator else 1 for _, generator, _ in rows],
            "generator": [
                generator if generator_type == "string" else len(generator)
                for _, generator, _ in rows
            ],
        }
        dataset_dict[split] = datasets.Dataset.from_dict(columns, features=features)
    path = root / "hf"
    datasets.DatasetDict(dataset_dict).save_to_disk(str(path))
    return path


def _check_rows(source) -> None:
    for split in ("train", "validation"):
        expected = [row for row in ROWS if row[0] == split]
        generators = source.generators(split)
        assert sorted(generators) == sorted(generator for _, generator, _ in expected)
        assert source.labels(split) == [0 if not g else 1 for g in generators]
        seen = set()
        for row_id in range(len(generators)):
            pixels = decode_image(source.read(split, row_id))
            seed = next(s for _, g, s in expected if np.array_equal(_pixels(s), pixels))
            assert (generators[row_id], seed) in {(g, s) for _, g, s in expected}
            seen.add(seed)
            assert source.describe(split, row_id)
        assert len(seen) == len(expected)


def test_hf_dataset_on_disk(tmp_path):
    source = open_source(_write_hf(tmp_path))
    assert isinstance(source, HFDiskSource) and source.kind == "hf"
    # Row IDs are the dataset's row order: the generator column is returned as stored.
    assert source.generators("train") == ["", "", "GenA", "GenA", "GenB"]
    _check_rows(source)
    assert source.describe("train", 3) == "train[3]"
    assert source.timeline is None


def test_hf_source_pickles_small_and_reopens(tmp_path):
    source = open_source(_write_hf(tmp_path))
    source.generators("train")
    payload = pickle.dumps(source)
    assert len(payload) < 1000  # the path, not the data
    clone = pickle.loads(payload)
    assert clone.read("validation", 2) == source.read("validation", 2)


def test_hf_generators_do_not_decode_images(tmp_path, monkeypatch):
    source = open_source(_write_hf(tmp_path))

    def refuse(*args, **kwargs):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(datasets.Image, "decode_example", refuse)
    assert len(source.generators("train")) == 5 and len(source.labels("validation")) == 5
    assert source.read("train", 0)[:4] == b"\x89PNG"


def test_hf_errors(tmp_path):
    with pytest.raises(DataError, match="no 'validation' split"):
        open_source(_write_hf(tmp_path / "a", splits=("train",)))
    with pytest.raises(DataError, match="expected strings"):
        open_source(_write_hf(tmp_path / "b", generator_type="int64"))


def test_image_folder(tmp_path):
    _write_folder(tmp_path / "ds")
    (tmp_path / "ds" / "timeline.csv").write_text("generator,release_date\nGenA,2020-01-01\n")
    (tmp_path / "ds" / "train" / "real" / "notes.txt").write_text("not an image")
    source = open_source(tmp_path / "ds")
    assert isinstance(source, FolderSource)
    _check_rows(source)
    assert source.describe("train", 0).endswith(".png")
    assert source.timeline is not None and list(source.timeline) == ["GenA"]


def test_image_folder_errors(tmp_path):
    (tmp_path / "ds" / "train" / "real").mkdir(parents=True)
    with pytest.raises(DataError, match="cannot recognise"):
        open_source(tmp_path / "ds")
    (tmp_path / "ds" / "validation" / "real").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        open_source(tmp_path / "ds")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_manifest(tmp_path, suffix):
    manifest = _write_manifest(tmp_path, suffix)
    source = open_source(manifest)
    assert isinstance(source, ManifestSource)
    _check_rows(source)
    # The folder holding manifest.csv / manifest.jsonl is recognised too.
    assert open_source(tmp_path, kind="manifest").generators("train") == source.generators("train")


def test_manifest_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label,split\na.png,0,train\n")
    with pytest.raises(DataError, match="missing column"):
        open_source(bad)
    bad.write_text("path,label,generator,split\na.png,0,GenA,train\nb.png,1,GenA,validation\n")
    with pytest.raises(DataError, match=r"bad\.csv:2"):
        open_source(bad)
    bad.write_text("path,label,generator,split\na.png,0,,test\n")
    with pytest.raises(DataError, match="split 'test'"):
        open_source(bad)


def test_missing_file_reads_as_unreadable_not_a_crash(tmp_path):
    from aigenbench.data.decode import UnreadableImage

    manifest = _write_manifest(tmp_path, ".csv")
    (tmp_path / "images" / "00.png").unlink()
    with pytest.raises(UnreadableImage) as error:
        open_source(manifest).read("train", 0)
    assert "00.png: the file does not exist" in str(error.value)
    assert "0 bytes" not in str(error.value)


def test_a_manifest_that_is_not_utf8_is_named_with_the_fix(tmp_path):
    manifest = _write_manifest(tmp_path, ".csv")
    manifest.write_bytes(manifest.read_bytes().replace(b"GenA", b"G\xe9nA"))
    with pytest.raises(DataError) as error:
        open_source(manifest)
    assert f"manifest {manifest} is not UTF-8 text (byte 0xe9" in str(error.value)
    assert "iconv" in str(error.value)


def test_detection_errors_name_the_path_and_layouts(tmp_path):
    with pytest.raises(DataError, match="does not exist") as error:
        open_source(tmp_path / "nowhere")
    assert "nowhere" in str(error.value) and "DatasetDict" in str(error.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="image folder"):
        open_source(tmp_path / "empty")
    note = tmp_path / "note.txt"
    note.write_text("hello")
    with pytest.raises(DataError, match="manifest"):
        open_source(note)
    with pytest.raises(DataError, match="no dataset path"):
        open_source(None)


def test_open_source_accepts_a_data_config(tiny_synth):
    from aigenbench.data.config import DataConfig

    source = open_source(DataConfig(source=str(tiny_synth)))
    assert source.kind == "hf" and source.timeline is not None


def test_large_hf_dataset_is_read_lazily(tmp_path):
    """360,000 rows (the size of v1.0): the generator column comes without touching images."""
    n = 360_000
    names = np.array(["", "GenA", "GenB", "GenC"])[np.arange(n) % 4].tolist()
    tiny = encode(random_image(1, 1))
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.Value("int64"),
            "generator": datasets.Value("string"),
        }
    )
    columns = {
        "image": [{"bytes": tiny, "path": None}] * n,
        "label": [0 if not g else 1 for g in names],
        "generator": names,
    }
    split = datasets.Dataset.from_dict(columns, features=features)
    path = tmp_path / "big"
    datasets.DatasetDict({"train": split, "validation": split.select(range(1000))}).save_to_disk(
        str(path)
    )
    source = open_source(path)
    assert source.generators("train")[-3:] == ["GenA", "GenB", "GenC"]
    assert source.num_rows("train") == n
    assert decode_image(source.read("train", n - 1)).shape == (1, 1, 3)
